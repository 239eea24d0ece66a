import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';
import { stickyAssign, type MemberState, type Ownership } from './sticky-assignment.js';

/**
 * KafkaJS has no sticky assignor of its own; this one plugs `stickyAssign` into its custom assigner
 * interface. Each member sends the partitions it owns in its join metadata (userData), and the group
 * leader assigns from those. `currentOwnership` is read at every join, so the member reports what it
 * holds now.
 */
export const STICKY_ASSIGNER_NAME = 'RedemptionSticky';

export function stickyAssigner(currentOwnership: () => Ownership): PartitionAssigner {
  return ({ cluster }) => ({
    name: STICKY_ASSIGNER_NAME,
    version: 1,
    async assign({ members, topics }) {
      const partitionsByTopic = new Map<string, number[]>();
      for (const topic of topics) {
        partitionsByTopic.set(topic, cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId));
      }
      const states: MemberState[] = members.map((m) => ({ memberId: m.memberId, owned: decodeOwnership(m.memberMetadata) }));
      const plan = stickyAssign(states, partitionsByTopic);
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
      const owned = Object.fromEntries(currentOwnership());
      return {
        name: STICKY_ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(JSON.stringify(owned)) }),
      };
    },
  });
}

function decodeOwnership(metadata: Buffer): Ownership {
  const decoded = AssignerProtocol.MemberMetadata.decode(metadata);
  if (!decoded || decoded.userData.length === 0) return new Map();
  try {
    const owned = JSON.parse(decoded.userData.toString()) as Record<string, number[]>;
    return new Map(Object.entries(owned));
  } catch {
    // A member of another version or a foreign client: treat it as owning nothing.
    return new Map();
  }
}
