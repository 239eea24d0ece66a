/**
 * The consumer groups a command makes for itself (a replay's, a rebuild's, `audit`'s) are removed when it
 * is done.
 */
import { withAdmin } from '../lib/kafka.js';
import type { Runtime } from '../lib/runtime.js';

/**
 * Deletes a consumer group a command made for itself (a replay's, a rebuild's, `audit`'s) once it is
 * done: the next run makes a new one, so it would only be left behind. A group that is already gone is
 * fine; any other failure is a warning (`redeem cleanup` removes what is left).
 */
export async function removeThrowawayGroup(rt: Runtime, groupId: string): Promise<void> {
  try {
    await withAdmin(rt.kafka('redeem-groups'), (admin) => admin.deleteGroups([groupId]));
  } catch (error) {
    const groups = (error as { groups?: { errorCode?: number }[] }).groups;
    // 69: GROUP_ID_NOT_FOUND (a reader that never joined or committed may leave no group behind).
    if (groups?.every((g) => g.errorCode === 69)) return;
    rt.logger.warn({ err: error, group: groupId }, 'could not remove a consumer group of its own; `redeem cleanup` removes it');
  }
}
