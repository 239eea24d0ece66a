import { AssignerProtocol } from 'kafkajs';
import { lastFlushKey } from '../../consumers/decision-cache.js';
import { stackStatus } from '../../scripts/stack/stack.js';
import { cachePrefix } from '../../lib/database-identity.js';
import type { Runtime } from '../runtime.js';

/**
 * What whoever is on call wants first: do the services answer, who is in the group with which
 * partitions, how far behind each partition is, and when the last flush committed.
 */
export async function status(rt: Runtime, print: (line: string) => void): Promise<boolean> {
  let healthy = true;
  print('services');
  for (const s of await stackStatus()) {
    print(`  ${s.component.padEnd(9)} ${s.address.padEnd(16)} ${s.up ? 'up' : 'DOWN'}`);
    healthy &&= s.up;
  }
  if (!healthy) return false;

  const { consumerGroup: group, redemptionTopic: topic } = rt.config;
  const admin = rt.kafka('redeem-status').admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([group]);
    const g = groups[0]!;
    print(`group ${group}: ${g.state}, ${g.members.length} member(s), protocol ${g.protocol || '-'}`);
    for (const m of g.members) {
      const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {};
      const partitions = assignment[topic] ?? [];
      print(`  ${m.clientId} ${m.clientHost} ${m.memberId.slice(-12)}  partitions ${partitions.length ? partitions.join(',') : '-'}`);
    }
    const ends = await admin.fetchTopicOffsets(topic).catch(() => []);
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] }).catch(() => [undefined]);
    let total = 0;
    print(`lag on ${topic}`);
    for (const e of ends.sort((a, b) => a.partition - b.partition)) {
      const at = Number(committed?.partitions.find((c) => c.partition === e.partition)?.offset ?? -1);
      const lag = Number(e.high) - Math.max(at, Number(e.low));
      total += lag;
      print(`  partition ${e.partition}: end ${e.high}, committed ${at < 0 ? '-' : at}, lag ${lag}`);
    }
    print(`  total lag ${total}`);
  } finally {
    await admin.disconnect();
  }

  // The cache (and its last-flush key) is named by the database's identity, which MySQL holds.
  const prefix = await cachePrefix(rt.knex(), rt.config.redisKeyPrefix).catch(() => null);
  const last = prefix === null ? null : await (await rt.connectedRedis()).get(lastFlushKey(prefix));
  if (last) {
    const { at, consumerId, decisions } = JSON.parse(last) as { at: number; consumerId: string; decisions: number };
    print(`last flush ${new Date(at).toISOString()} (${Math.round((Date.now() - at) / 1000)} s ago) by ${consumerId}: ${decisions} decision(s)`);
  } else {
    print(prefix === null ? 'last flush: unknown (the database identity could not be read from MySQL)' : 'last flush: none recorded');
  }
  return true;
}
