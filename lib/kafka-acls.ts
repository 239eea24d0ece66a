/**
 * The Kafka ACLs of the pipeline's identities, as data: which principal may do what on which topic or
 * consumer group, for a given topic and group naming. `redeem acls` prints them (as kafka-acls.sh
 * commands) or creates them; `stack up --secure` creates them on its broker. Nothing here talks to Kafka.
 *
 * The identities, each a separate principal (docs/security.md):
 * - checkout: writes requests; reads the audit stream under its own throwaway groups, for `redeem()`.
 * - consumer: reads requests in its group; writes audit records and dead letters.
 * - analyst: reads the audit stream under its own throwaway groups (`redeem audit tail|stats`) and the
 *   audit sink's group.
 * - operator: replay (a group of its own, the live group described), dead-letter redrive, verify.
 * Every one may describe the three topics (metadata and offsets; the commands check the topics exist).
 * None may create, delete or alter topics, touch another identity's groups, or do anything on the
 * cluster: that is the administrator's (a super user).
 */
import { deadLetterTopic } from './config.js';

export type AclOperation = 'Read' | 'Write' | 'Describe' | 'Delete' | 'DescribeConfigs';

export interface AclRule {
  /** `User:<name>` */
  principal: string;
  resource: 'topic' | 'group';
  pattern: 'literal' | 'prefixed';
  name: string;
  operations: readonly AclOperation[];
}

export interface AclNaming {
  redemptionTopic: string;
  auditTopic: string;
  consumerGroup: string;
}

export interface AclPrincipals {
  checkout: string;
  consumer: string;
  analyst: string;
  operator: string;
}

/** The user names `stack up --secure` makes. */
export const DEFAULT_PRINCIPALS: AclPrincipals = { checkout: 'checkout', consumer: 'consumer', analyst: 'analyst', operator: 'operator' };

/**
 * The client ids whose `redeem()` groups (`<client id>-decisions-<random>`) the checkout owns: the
 * defaults of `RedemptionClient.create` and `.connect`, and `serve`'s. A checkout with a client id of its
 * own needs an ACL for its prefix added beside these.
 */
export const CHECKOUT_CLIENT_IDS = ['redemption-producer', 'redemption-client', 'redeem-serve'] as const;

/** Group prefixes of the CLI's throwaway readers: `redeem audit` and the range reader of verify and dlq redrive. */
export const AUDIT_GROUP_PREFIX = 'redeem-audit-';
export const READER_GROUP_PREFIX = 'redeem-read-';
/** `redeem audit sink`'s group unless it is given another (analytics/sink/options.ts). */
export const auditSinkGroup = (consumerGroup: string): string => `${consumerGroup}-audit-sink`;
/** The replay's groups: `<CONSUMER_GROUP>-replay-<time>`. */
export const replayGroupPrefix = (consumerGroup: string): string => `${consumerGroup}-replay-`;

export function pipelineAcls(
  naming: AclNaming,
  principals: AclPrincipals = DEFAULT_PRINCIPALS,
  checkoutClientIds: readonly string[] = CHECKOUT_CLIENT_IDS,
): AclRule[] {
  const requests = naming.redemptionTopic;
  const audit = naming.auditTopic;
  const dlq = deadLetterTopic(naming.redemptionTopic);
  const user = (name: string) => `User:${name}`;
  const topic = (who: string, name: string, operations: AclOperation[]): AclRule => ({
    principal: user(who),
    resource: 'topic',
    pattern: 'literal',
    name,
    operations,
  });
  const group = (who: string, pattern: AclRule['pattern'], name: string, operations: AclOperation[]): AclRule => ({
    principal: user(who),
    resource: 'group',
    pattern,
    name,
    operations,
  });
  const describeAll = (who: string) => [requests, audit, dlq].map((t) => topic(who, t, ['Describe']));
  const { checkout, consumer, analyst, operator } = principals;
  return [
    ...describeAll(checkout),
    topic(checkout, requests, ['Write']),
    topic(checkout, audit, ['Read']),
    ...checkoutClientIds.map((id) => group(checkout, 'prefixed', `${id}-decisions-`, ['Read', 'Delete'])),

    ...describeAll(consumer),
    topic(consumer, requests, ['Read']),
    topic(consumer, audit, ['Write', 'DescribeConfigs']),
    topic(consumer, dlq, ['Write', 'DescribeConfigs']),
    group(consumer, 'literal', naming.consumerGroup, ['Read']),

    ...describeAll(analyst),
    topic(analyst, audit, ['Read']),
    group(analyst, 'prefixed', AUDIT_GROUP_PREFIX, ['Read', 'Delete']),
    group(analyst, 'literal', auditSinkGroup(naming.consumerGroup), ['Read']),

    ...describeAll(operator),
    topic(operator, requests, ['Read', 'Write']),
    topic(operator, audit, ['Read', 'Write', 'DescribeConfigs']),
    topic(operator, dlq, ['Read', 'Write', 'DescribeConfigs']),
    group(operator, 'literal', naming.consumerGroup, ['Describe']),
    group(operator, 'prefixed', replayGroupPrefix(naming.consumerGroup), ['Read', 'Delete']),
    group(operator, 'prefixed', READER_GROUP_PREFIX, ['Read']),
  ];
}

/** The rules as `kafka-acls.sh` commands (one per rule), for a cluster the project does not set up itself. */
export function aclCommands(rules: readonly AclRule[], bootstrap = '<broker:port>'): string[] {
  return rules.map((r) =>
    [
      `kafka-acls.sh --bootstrap-server ${bootstrap} --command-config admin.properties --add`,
      `--allow-principal ${r.principal}`,
      ...r.operations.map((o) => `--operation ${o}`),
      `--${r.resource} ${r.name}`,
      `--resource-pattern-type ${r.pattern}`,
    ].join(' '),
  );
}
