import kafkajs, { type AclEntry, type Admin } from 'kafkajs';
import type { Logger } from 'pino';

import type { Config } from '../../lib/config.js';
import { withAdmin } from '../../lib/kafka.js';
import { aclCommands, type AclOperation, type AclPrincipals, type AclRule, pipelineAcls } from '../../lib/kafka-acls.js';
import { redisSetUser } from '../../lib/redis-acl.js';
import type { Runtime } from '../../lib/runtime.js';
import { ensurePipelineTopics } from '../../lib/topics.js';

// KafkaJS's enums are on its default export only (it is CommonJS).
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

const OPERATION: Record<AclOperation, kafkajs.AclOperationTypes> = {
  Read: AclOperationTypes.READ,
  Write: AclOperationTypes.WRITE,
  Describe: AclOperationTypes.DESCRIBE,
  Delete: AclOperationTypes.DELETE,
  DescribeConfigs: AclOperationTypes.DESCRIBE_CONFIGS,
};

/** One KafkaJS ACL entry per operation of each rule, allowed from any host. */
export function aclEntries(rules: readonly AclRule[]): AclEntry[] {
  return rules.flatMap((r) =>
    r.operations.map((operation) => ({
      resourceType: r.resource === 'topic' ? AclResourceTypes.TOPIC : AclResourceTypes.GROUP,
      resourceName: r.name,
      resourcePatternType: r.pattern === 'literal' ? ResourcePatternTypes.LITERAL : ResourcePatternTypes.PREFIXED,
      principal: r.principal,
      host: '*',
      operation: OPERATION[operation],
      permissionType: AclPermissionTypes.ALLOW,
    })),
  );
}

/**
 * As the administrator: creates the pipeline's topics (no runtime identity may create topics) and the
 * ACLs of its identities. Both are idempotent. Returns how many ACL entries it holds.
 */
export async function provisionPipeline(admin: Admin, config: Config, principals: AclPrincipals, logger: Logger): Promise<number> {
  await ensurePipelineTopics(admin, config, logger);
  const acl = aclEntries(pipelineAcls(config, principals));
  await admin.createAcls({ acl });
  return acl.length;
}

/** `word` as one shell word: quoted where the shell would read it otherwise (`>`, `~`, `*`, `|`). */
const shellWord = (word: string): string => (/^[A-Za-z0-9_.:@+-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`);

export interface AclsOptions extends AclPrincipals {
  apply: boolean;
  /** The Redis runtime user's name in the printed `ACL SETUSER`. */
  redisUser: string;
}

/**
 * `redeem acls`: prints the Kafka ACLs for this configuration's topics and group, and the Redis runtime
 * user's ACL for its key prefix; `--apply` creates the Kafka ones (and the topics).
 */
export async function acls(rt: Runtime, o: AclsOptions, print: (line: string) => void): Promise<void> {
  const { apply, redisUser, ...principals } = o;
  const rules = pipelineAcls(rt.config, principals);
  if (!apply) {
    print(`# Kafka, as an administrator (admin.properties: its security settings)`);
    for (const line of aclCommands(rules, rt.config.kafkaBrokers[0])) print(line);
    print(`# Redis, as an administrator (on every node of a cluster); put the user's password after '>'`);
    print(['redis-cli', ...redisSetUser(redisUser, rt.config.redisKeyPrefix, '<password>').map(shellWord)].join(' '));
    return;
  }
  const count = await withAdmin(rt.kafka('redeem-acls'), (admin) => provisionPipeline(admin, rt.config, principals, rt.logger));
  print(
    `topics ${rt.config.redemptionTopic}, ${rt.config.auditTopic} and their dead letters present; ${count} ACL entries for ${Object.values(principals).join(', ')} in place`,
  );
}
