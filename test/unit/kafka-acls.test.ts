import { describe, expect, it } from 'vitest';

import { aclEntries } from '../../cli/commands/acls.js';
import { aclCommands, type AclRule, pipelineAcls } from '../../lib/kafka-acls.js';

const naming = { redemptionTopic: 'shop.requested', auditTopic: 'shop.decided', consumerGroup: 'shop-pipeline' };
const rules = pipelineAcls(naming);
/** `who`'s rights as "resource pattern name: operations", for comparing whole sets. */
const rights = (who: string) =>
  rules
    .filter((r) => r.principal === `User:${who}`)
    .map((r) => `${r.resource} ${r.pattern} ${r.name}: ${r.operations.join(',')}`)
    .sort();
const describeAll = ['topic literal shop.decided: Describe', 'topic literal shop.requested.dlq: Describe', 'topic literal shop.requested: Describe'];

/** The rights of each identity, exactly: a widened ACL must show up here first (docs/security.md lists them). */
describe('the Kafka ACLs of the pipeline identities', () => {
  it('checkout: writes requests, reads decisions under its redeem() groups', () => {
    expect(rights('checkout')).toEqual(
      [
        ...describeAll,
        'topic literal shop.requested: Write',
        'topic literal shop.decided: Read',
        'group prefixed redemption-producer-decisions-: Read,Delete',
        'group prefixed redemption-client-decisions-: Read,Delete',
        'group prefixed redeem-serve-decisions-: Read,Delete',
      ].sort(),
    );
  });

  it('consumer: reads requests in its own group, writes audit records and dead letters', () => {
    expect(rights('consumer')).toEqual(
      [
        ...describeAll,
        'topic literal shop.requested: Read',
        'topic literal shop.decided: Write,DescribeConfigs',
        'topic literal shop.requested.dlq: Write,DescribeConfigs',
        'group literal shop-pipeline: Read',
      ].sort(),
    );
  });

  it("analyst: reads the audit stream under its own groups and the audit sink's", () => {
    expect(rights('analyst')).toEqual(
      [...describeAll, 'topic literal shop.decided: Read', 'group prefixed redeem-audit-: Read,Delete', 'group literal shop-pipeline-audit-sink: Read'].sort(),
    );
  });

  it('operator: replay, redrive and verify; the live group described only', () => {
    expect(rights('operator')).toEqual(
      [
        ...describeAll,
        'topic literal shop.requested: Read,Write',
        'topic literal shop.decided: Read,Write,DescribeConfigs',
        'topic literal shop.requested.dlq: Read,Write,DescribeConfigs',
        'group literal shop-pipeline: Describe',
        'group prefixed shop-pipeline-replay-: Read,Delete',
        'group prefixed redeem-read-: Read',
      ].sort(),
    );
  });

  it('nobody but the administrator creates, deletes or alters topics, or touches the cluster', () => {
    const topicOps = new Set(rules.filter((r) => r.resource === 'topic').flatMap((r) => r.operations));
    expect([...topicOps].sort()).toEqual(['Describe', 'DescribeConfigs', 'Read', 'Write']);
    expect(rules.every((r: AclRule) => r.resource === 'topic' || r.resource === 'group')).toBe(true);
    // A prefixed topic ACL would reach topics of other pipelines.
    expect(rules.filter((r) => r.resource === 'topic' && r.pattern !== 'literal')).toEqual([]);
  });

  it('prints kafka-acls.sh commands and makes one KafkaJS entry per operation', () => {
    const commands = aclCommands(rules, 'kafka:9093');
    expect(commands).toHaveLength(rules.length);
    expect(commands).toContain(
      'kafka-acls.sh --bootstrap-server kafka:9093 --command-config admin.properties --add --allow-principal User:consumer --operation Write --operation DescribeConfigs --topic shop.decided --resource-pattern-type literal',
    );
    const entries = aclEntries(rules);
    expect(entries).toHaveLength(rules.reduce((n, r) => n + r.operations.length, 0));
    expect(entries).toContainEqual({
      resourceType: 3,
      resourceName: 'redeem-audit-',
      resourcePatternType: 4,
      principal: 'User:analyst',
      host: '*',
      operation: 6,
      permissionType: 3,
    });
  });
});
