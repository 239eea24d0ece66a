/**
 * The child processes a run started (consumers, `redeem serve`, a Kafka Connect worker) that have not
 * exited yet. A run stopped by a signal kills them before it removes its namespace: a consumer left
 * running would go on writing Redis keys and MySQL rows into what was just removed, and a child is not
 * told of its parent's exit (only Ctrl-C in a terminal reaches the whole process group).
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

/** How long a killed child may take to report its exit before it is given up on. */
const EXIT_WAIT_MS = 5000;

/** Counts `child` among the live ones until it exits; returns it. */
export function tracked<T extends ChildProcess>(child: T): T {
  if (child.exitCode === null && child.signalCode === null) {
    live.add(child);
    child.once('exit', () => live.delete(child));
  }
  return child;
}

/** SIGKILLs every live child and waits for their exits; returns how many there were. */
export async function killLiveChildren(): Promise<number> {
  const children = [...live];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, EXIT_WAIT_MS);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          if (!child.kill('SIGKILL')) {
            clearTimeout(timer);
            resolve();
          }
        }),
    ),
  );
  return children.length;
}
