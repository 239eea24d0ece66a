import type { Consumer } from 'kafkajs';

/** What a member does to a partition's fetching: KafkaJS's pause and resume of one partition. */
export interface FetchControl {
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
}

/** KafkaJS's refusal while it has no consumer group: after a crash, until its restart has built a new one. */
const NOT_RUNNING = 'Consumer group was not initialized';

/**
 * Pause and resume that a restart of KafkaJS's consumer does not turn into a crash of the process.
 *
 * After a crash (a broker that restarts, say), KafkaJS drops its consumer group and builds a new one a
 * moment later; in between, pause and resume throw. Skipping them then loses nothing: the new group starts
 * with every partition fetched, which is what a resume asks for, and a pause is asked again at the next
 * join (the coalescer pauses, in `reassigned`, every partition whose queue is still full). Seen: a flush
 * that ended in that window resumed its partition, the error escaped the flush, and the process exited 1
 * (outages-services.test.ts, "the Kafka broker restarted mid-run", in CI). Any other error is thrown.
 */
export function fetchControl(consumer: () => Pick<Consumer, 'pause' | 'resume'>, onSkipped: (what: 'pause' | 'resume', error: Error) => void): FetchControl {
  const guarded = (what: 'pause' | 'resume', topic: string, partition: number) => {
    try {
      consumer()[what]([{ topic, partitions: [partition] }]);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith(NOT_RUNNING)) throw error;
      onSkipped(what, error);
    }
  };
  return {
    pause: (topic, partition) => guarded('pause', topic, partition),
    resume: (topic, partition) => guarded('resume', topic, partition),
  };
}
