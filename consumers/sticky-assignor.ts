/**
 * KafkaJS has no sticky assignor of its own; this one plugs `stickyAssign` into its custom assigner
 * interface. Each member sends in its join metadata (userData) the partitions it owns, its process's
 * consumer id and the number of this join attempt; the group leader assigns from those, giving nothing
 * to a ghost of a failed earlier attempt (`liveMembers`). `currentOwnership` is read at every join, so
 * the member reports what it holds now (nothing after a crash: see RedemptionConsumer).
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

import { liveMembers, type MemberState, type Ownership, stickyAssign } from './sticky-plan.js';

export const STICKY_ASSIGNOR_NAME = 'RedemptionSticky';

/** What a member says about itself in its join metadata. */
interface JoinClaim {
  v: 2;
  owned: Record<string, number[]>;
  instance: string;
  attempt: number;
}

export function stickyAssignor(currentOwnership: () => Ownership, instance: string): PartitionAssigner {
  // KafkaJS calls protocol() once per JoinGroup request, so this counts the process's join attempts.
  let attempt = 0;
  return ({ cluster, logger }) => ({
    name: STICKY_ASSIGNOR_NAME,
    version: 1,
    async assign({ members, topics }) {
      const partitionsByTopic = new Map<string, number[]>();
      for (const topic of topics) {
        partitionsByTopic.set(
          topic,
          cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId),
        );
      }
      const states: MemberState[] = members.map((m) => ({ memberId: m.memberId, ...decodeClaim(m.memberMetadata) }));
      const { live, ghosts } = liveMembers(states);
      if (ghosts.length > 0) {
        logger.warn('Not assigning partitions to ghost members (an earlier join attempt of a live process)', {
          ghosts: ghosts.map((g) => ({ memberId: g.memberId, instance: g.instance, attempt: g.attempt })),
        });
      }
      const plan = stickyAssign(live, partitionsByTopic);
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: Object.fromEntries(plan.get(m.memberId) ?? new Map()),
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      attempt += 1;
      const claim: JoinClaim = { v: 2, owned: Object.fromEntries(currentOwnership()), instance, attempt };
      return {
        name: STICKY_ASSIGNOR_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(JSON.stringify(claim)) }),
      };
    },
  });
}

/** Decodes a member's join metadata; exported for the unit tests. */
export function decodeClaim(metadata: Buffer): Omit<MemberState, 'memberId'> {
  const decoded = AssignerProtocol.MemberMetadata.decode(metadata);
  if (!decoded || decoded.userData.length === 0) return { owned: new Map() };
  try {
    const parsed = JSON.parse(decoded.userData.toString()) as Partial<JoinClaim> | Record<string, number[]>;
    if ((parsed as Partial<JoinClaim>).v === 2) {
      const claim = parsed as JoinClaim;
      return { owned: new Map(Object.entries(claim.owned ?? {})), instance: String(claim.instance), attempt: Number(claim.attempt) || 0 };
    }
    // The first version sent only the ownership map.
    return { owned: new Map(Object.entries(parsed as Record<string, number[]>)) };
  } catch {
    // A member of another version or a foreign client: treat it as owning nothing.
    return { owned: new Map() };
  }
}
