import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readSchemaText } from '../../schemas/avro.js';
import { SchemaRegistryClient } from '../../schemas/registry.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { request, writeJsonLines } from './fixtures.js';
import { IsolatedPipeline } from './helpers.js';

/**
 * Another client registers the subject first, as a Python or Java producer with auto-registration
 * would: the same schema spelled differently (compact JSON, no trailing newline), and no compatibility
 * level of the subject's own, so Apicurio answers GET /config/<subject> with the global level.
 */
const JSON_TYPE = 'application/vnd.schemaregistry.v1+json';

async function registry<T>(p: IsolatedPipeline, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${p.config.schemaRegistryUrl}${path}`, {
    method,
    headers: { 'Content-Type': JSON_TYPE, Accept: JSON_TYPE },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

async function deleteSubject(p: IsolatedPipeline, subject: string): Promise<void> {
  await fetch(`${p.config.schemaRegistryUrl}/subjects/${subject}`, { method: 'DELETE' });
  await fetch(`${p.config.schemaRegistryUrl}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
}

const coexistRequest = (id: string): RedemptionRequested => request(id, 'COEXIST', 'u1', 1, { order_id: `o-${id}`, amount_cents: 100 });

describe('registry coexistence: whoever registers the subject first', () => {
  const p = new IsolatedPipeline();
  const subject = () => `${p.config.redemptionTopic}-value`;
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  it('`redeem produce` works after a foreign registration with no subject level, finds that version and adds none', async () => {
    const global = await registry<{ compatibilityLevel: string }>(p, 'GET', '/config');
    // The case of the issue: the global level is not BACKWARD, and the subject inherits it.
    expect(global.body.compatibilityLevel).not.toBe('BACKWARD');

    const foreignText = JSON.stringify(JSON.parse(readSchemaText('requested')));
    expect(foreignText).not.toBe(readSchemaText('requested'));
    const foreign = await registry<{ id: number }>(p, 'POST', `/subjects/${subject()}/versions`, { schema: foreignText });
    expect(foreign.status).toBe(200);
    expect(await p.rt.registry().subjectCompatibility(subject())).toBeNull();

    const file = writeJsonLines([coexistRequest('c1'), coexistRequest('c2')], 'coexist');
    const produced = await p.cli(['produce', '--file', file, '--no-progress']);
    expect(produced.code, produced.stderr).toBe(0);
    expect(produced.stdout).toContain('produced 2 requests');
    expect(produced.stderr).not.toContain('does not answer');

    const versions = await registry<number[]>(p, 'GET', `/subjects/${subject()}/versions`);
    expect(versions.body).toEqual([1]);
    const config = await registry<{ compatibilityLevel: string }>(p, 'GET', `/config/${subject()}`);
    expect(config.body.compatibilityLevel).toBe('BACKWARD');
    expect(await p.rt.registry().subjectCompatibility(subject())).toBe('BACKWARD');

    // The records carry the foreign registration's id, and the pipeline decides them.
    const messages = await p.readTopic(p.config.redemptionTopic, 2);
    expect(messages.map((m) => m.value!.readInt32BE(1))).toEqual([foreign.body.id, foreign.body.id]);
    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    const audit = await p.auditRecords(2);
    expect(audit.map((r) => `${r.request_id}:${r.decision}:${r.reason}`).sort()).toEqual(['c1:REJECTED:NOT_FOUND', 'c2:REJECTED:NOT_FOUND']);
  });

  it('after the project registered: a normalised lookup of the text without its trailing newline finds its version; an auto-registration of it adds one (docs/clients.md)', async () => {
    const subject = `test-${p.id}.project-first-value`;
    const id = await p.rt.registry().register(subject, readSchemaText('requested'));
    const stripped = readSchemaText('requested').trimEnd();
    const lookup = await registry<{ id: number; version: number }>(p, 'POST', `/subjects/${subject}?normalize=true`, { schema: stripped });
    expect(lookup.body).toMatchObject({ id, version: 1 });
    // What a client that registers without normalising does: Apicurio matches the exact text.
    const plain = await registry<{ id: number }>(p, 'POST', `/subjects/${subject}/versions`, { schema: stripped });
    expect(plain.body.id).not.toBe(id);
    expect((await registry<number[]>(p, 'GET', `/subjects/${subject}/versions`)).body).toEqual([1, 2]);
    await fetch(`${p.config.schemaRegistryUrl}/subjects/${subject}`, { method: 'DELETE' });
    await fetch(`${p.config.schemaRegistryUrl}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
  });

  it('keeps a level of its own that is not BACKWARD, with a warning (Apicurio stores no subject-level NONE: that is no level)', async () => {
    const subject = `test-${p.id}.explicit-value`;
    try {
      expect((await registry(p, 'PUT', `/config/${subject}`, { compatibility: 'FORWARD' })).status).toBe(200);
      const warnings: string[] = [];
      const client = new SchemaRegistryClient(p.config.schemaRegistryUrl, {}, (m) => warnings.push(m));
      expect(await client.subjectCompatibility(subject)).toBe('FORWARD');
      await client.register(subject, readSchemaText('requested'));
      expect((await registry<{ compatibilityLevel: string }>(p, 'GET', `/config/${subject}`)).body.compatibilityLevel).toBe('FORWARD');
      expect(warnings).toEqual([
        `subject ${subject} has its own compatibility level FORWARD, not BACKWARD; keeping it (readers of older records rely on BACKWARD)`,
      ]);
    } finally {
      await deleteSubject(p, subject);
    }
  });

  it('members starting together on fresh subjects all register them: a level another one set between read and write is no incompatible schema', async () => {
    // Each client reads "no level", then sets BACKWARD; Apicurio refuses every COMPATIBILITY rule after
    // the first with 409, which members of a group starting at once on a new topic met as
    // SCHEMA_INCOMPATIBLE. The race needs the requests to meet at the registry: 10 subjects, 8 clients each.
    const subjects = Array.from({ length: 10 }, (_, i) => `test-${p.id}.together-${i}-value`);
    try {
      const warnings: string[] = [];
      const client = () => new SchemaRegistryClient(p.config.schemaRegistryUrl, {}, (m) => warnings.push(m));
      for (const subject of subjects) {
        const ids = await Promise.all(Array.from({ length: 8 }, () => client().register(subject, readSchemaText('decided'))));
        expect(new Set(ids).size).toBe(1);
        expect(await client().subjectCompatibility(subject)).toBe('BACKWARD');
      }
      expect(warnings).toEqual([]);
    } finally {
      for (const subject of subjects) await deleteSubject(p, subject);
    }
  });

  it('keeps a level the subject has of its own', async () => {
    const own = `${p.config.auditTopic}-value`;
    const put = await registry(p, 'PUT', `/config/${own}`, { compatibility: 'FULL' });
    expect(put.status).toBe(200);
    await p.rt.registry().codecFor('decided', p.config.auditTopic);
    expect(await p.rt.registry().subjectCompatibility(own)).toBe('FULL');
  });
});

describe('registry coexistence: a foreign schema that is really incompatible', () => {
  const p = new IsolatedPipeline();
  const subject = () => `${p.config.redemptionTopic}-value`;
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  it('fails with SCHEMA_INCOMPATIBLE, named as such, not as a registry that does not answer', async () => {
    // Same record name, but amount_cents a string: our schema cannot read what this one wrote.
    const schema = JSON.parse(readSchemaText('requested')) as { fields: { name: string; type: unknown }[] };
    const amount = schema.fields.find((f) => f.name === 'amount_cents')!;
    amount.type = 'string';
    expect((await registry(p, 'POST', `/subjects/${subject()}/versions`, { schema: JSON.stringify(schema) })).status).toBe(200);

    const file = writeJsonLines([coexistRequest('x1')], 'incompatible');
    const produced = await p.cli(['produce', '--file', file, '--no-progress']);
    expect(produced.code).toBe(1);
    expect(produced.stderr).toMatch(/SCHEMA_INCOMPATIBLE: schema refused by the registry as incompatible with the subject's compatibility rule/);
    expect(produced.stderr).not.toContain('does not answer');
    expect((await registry<number[]>(p, 'GET', `/subjects/${subject()}/versions`)).body).toEqual([1]);
  });
});
