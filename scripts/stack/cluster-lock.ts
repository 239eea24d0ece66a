import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The cluster profile listens on fixed ports (Kafka 19092-19094, Redis 7000-7005), so a host has one,
 * and a run that strikes it (kill -9 of a broker, a Redis failover) or stops it must have it to itself:
 * a second checkout's test run beside the first would strike or stop the cluster the first one uses. A run
 * that uses the cluster holds this host-wide lock (flock(1), exclusive) from before it starts the cluster
 * until after it stops it; another run waits for it. The lock is let go when its holder exits, however it
 * exits (the flock process's stdin closes).
 *
 * `STACK_CLUSTER_LOCK` names the lock file (default: redeem-cluster-profile.lock in the temporary folder).
 */
export function clusterLockFile(): string {
  return process.env.STACK_CLUSTER_LOCK ?? join(tmpdir(), 'redeem-cluster-profile.lock');
}

/** Takes the lock, waiting for another holder to let it go; resolves with the function that lets it go. */
export function lockClusterProfile(onWait: (file: string) => void = () => {}): Promise<() => void> {
  const file = clusterLockFile();
  return new Promise((resolve, reject) => {
    // -n first, to say that we wait; then the blocking try.
    const take = (wait: boolean) => {
      const holder = spawn('flock', [...(wait ? [] : ['-n']), '-x', file, '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
      let locked = false;
      holder.stdout.on('data', (d: Buffer) => {
        if (locked || !d.toString().includes('locked')) return;
        locked = true;
        holder.stdout.removeAllListeners('data');
        holder.stdout.resume();
        resolve(() => holder.stdin.end());
      });
      holder.on('error', (e) => reject(new Error(`flock(1) is needed for the cluster profile lock ${file}`, { cause: e })));
      holder.on('close', (code) => {
        if (locked) return;
        if (!wait && code === 1) {
          onWait(file);
          take(true);
        } else reject(new Error(`could not take the cluster profile lock ${file} (flock exited ${code})`));
      });
    };
    take(false);
  });
}
