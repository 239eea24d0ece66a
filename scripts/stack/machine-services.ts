/**
 * The machine's own Redis and MariaDB: the stack only checks that they answer on their usual ports, and
 * starts the installed server when one does not.
 */
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { RedemptionError } from '../../lib/errors.js';
import { tcpAnswers } from '../../lib/net.js';
import { ADDRESSES, type Print, waitFor } from './service.js';

interface MachineService {
  name: 'redis' | 'mysql';
  binary: string;
  start: string[];
  install: string;
}

export const MACHINE_SERVICES: readonly MachineService[] = [
  {
    name: 'redis',
    binary: 'redis-server',
    start: ['redis-server', '--daemonize', 'yes', '--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no'],
    install: 'apt-get install redis-server',
  },
  {
    name: 'mysql',
    binary: 'mariadbd',
    start: ['start-stop-daemon', '--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd'],
    install: 'apt-get install mariadb-server',
  },
];

function installed(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary} || test -x /usr/sbin/${binary}`]).status === 0;
}

export async function ensureMachineService(service: MachineService, print: Print): Promise<void> {
  const { host, port } = ADDRESSES[service.name];
  if (await tcpAnswers(host, port)) {
    print(`${service.name}: up on ${host}:${port}`);
    return;
  }
  if (!installed(service.binary)) {
    throw new RedemptionError('STACK_FAILED', `${service.name} does not answer on ${host}:${port} and ${service.binary} is not installed: ${service.install}`);
  }
  print(`${service.name}: not answering; starting the installed ${service.binary}`);
  const [command, ...args] = service.start as [string, ...string[]];
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) throw new RedemptionError('STACK_FAILED', `starting ${service.name} failed (exit ${result.status})`);
  await waitFor(`${service.name} to answer on ${host}:${port}`, () => tcpAnswers(host, port), 60_000);
  print(`${service.name}: up on ${host}:${port}`);
}

/**
 * Stops the machine's Redis (SHUTDOWN NOSAVE) and, after `downMs`, starts it again as `stack up` would:
 * the chaos run and the outage tests use this to take Redis away and give it back.
 */
export async function bounceRedis(downMs: number, print: Print = () => {}): Promise<void> {
  const { host, port } = ADDRESSES.redis;
  spawnSync('redis-cli', ['-h', host, '-p', String(port), 'shutdown', 'nosave']);
  await waitFor('Redis to stop', async () => !(await tcpAnswers(host, port)), 10_000);
  print('redis: stopped');
  await sleep(downMs);
  await ensureMachineService(
    MACHINE_SERVICES.find((s) => s.name === 'redis')!,
    print,
  );
}
