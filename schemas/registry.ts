/**
 * A client of the Confluent schema registry REST API (served by Apicurio under /apis/ccompat/v7 and by
 * Confluent's own registry), and the Confluent wire format:
 *
 *   byte 0     magic byte 0
 *   bytes 1-4  schema id, big-endian int32, as the registry assigned it
 *   bytes 5-   the Avro binary encoding of the record, written with that schema
 *
 * Subjects follow the topic-name strategy (`<topic>-value`) with BACKWARD compatibility, so a new reader
 * schema can always read what older writers wrote.
 *
 * @kafkajs/confluent-schema-registry talks to the registry (registration, compatibility, the id → schema
 * cache); the framing is done here so that each failure is classified: bytes that can never decode go to
 * the dead-letter topic, a registry that does not answer is waited for.
 */
import { type Agent, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';

import { RedemptionError, UnprocessableMessageError } from '../lib/errors.js';
import { avroOptions, avroType, readSchemaText, type SchemaName } from './avro.js';

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

export interface Decoder<T> {
  decode(message: Buffer): Promise<T>;
  /**
   * `decode` without a promise, for a message whose schema id this decoder has already looked up;
   * undefined when it has not (then `decode`). A consumer decodes every message: two async frames each
   * were 6% of a drain's allocations.
   */
  decodeKnown?(message: Buffer): T | undefined;
}

export interface Codec<T> extends Decoder<T> {
  encode(value: T): Buffer;
}

/** Levels under which a new schema can read what the older versions wrote. */
const BACKWARD_READABLE = new Set(['BACKWARD', 'BACKWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE']);
const REQUEST_TIMEOUT_MS = 10_000;

export class SchemaRegistryClient {
  private readonly registry: SchemaRegistry;
  private readonly baseUrl: string;

  /**
   * `connection`: basic auth and an https agent with the registry's CA (lib/connections.ts), used by the
   * library and by the calls made here directly; `onWarning`: where to say that a subject keeps a level
   * of its own that is not BACKWARD.
   */
  constructor(
    baseUrl: string,
    private readonly connection: { auth?: { username: string; password: string }; agent?: Agent } = {},
    private readonly onWarning: (message: string) => void = () => {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.registry = new SchemaRegistry({ host: baseUrl, retry: { retries: 2 }, ...connection }, { [SchemaType.AVRO]: avroOptions });
  }

  /**
   * Registers the schema under the subject and returns its id, whoever registered the subject first:
   *
   * - The subject gets BACKWARD compatibility when it has no level of its own (`ensureBackward`). A level
   *   of its own is respected: the registry applies it to the registration.
   * - The schema is registered with `normalize=true`: the registry compares it with the subject's
   *   versions in canonical form, so a version another client registered from a differently spelled
   *   text (whitespace, key order, a trailing newline) is found instead of a duplicate being added.
   *   Without it, Apicurio matches the exact text.
   *
   * Only a schema the subject's rule refuses fails for good (SCHEMA_INCOMPATIBLE); a registry that
   * answers with an error is reported as such, and only one that cannot be reached is retriable as
   * "does not answer".
   */
  async register(subject: string, schemaText: string): Promise<number> {
    await this.ensureBackward(subject);
    // No status counts as absent here, so the answer is never null.
    const { id } = (await this.http<{ id: number }>('POST', `/subjects/${encodeURIComponent(subject)}/versions?normalize=true`, `registering ${subject}`, {
      schema: schemaText,
      schemaType: 'AVRO',
    }))!;
    return id;
  }

  /**
   * The subject's own compatibility level, or null when it has none and inherits the global one.
   *
   * Confluent's registry answers GET /config/<subject>?defaultToGlobal=false with 404 when the subject has
   * no level of its own. Apicurio 3.0.x ignores the parameter and answers the global level; its native
   * API then tells whether the subject (an artifact of the default group) has a COMPATIBILITY rule.
   * (Apicurio keeps no subject-level NONE: PUT NONE deletes the rule, so such a subject has no level.)
   */
  async subjectCompatibility(subject: string): Promise<string | null> {
    const own = await this.ownLevel(subject);
    if (own === null) return null;
    const { level } = own;
    const global = await this.http<{ compatibilityLevel?: string; compatibility?: string }>(
      'GET',
      '/config',
      'reading the global compatibility',
      undefined,
      [404],
    );
    const globalLevel = global?.compatibilityLevel ?? global?.compatibility ?? null;
    if (level !== globalLevel) return level;
    // Equal to the global level: inherited (Apicurio) or set to the same value; only Apicurio's native API knows.
    const rules = await this.apicurioArtifactRules(subject);
    if (rules === null) return level;
    if (!rules.includes('COMPATIBILITY')) return null;
    // The rule may be younger than the level read above: another member, starting at once, set it in
    // between, and the level read before it was the global one (a fresh subject then looked as if it had
    // a level NONE of its own, and was kept so with a warning). Read the level the rule holds now.
    return (await this.ownLevel(subject))?.level ?? level;
  }

  /** GET /config/<subject>?defaultToGlobal=false: null when absent (404), else the level it answers. */
  private async ownLevel(subject: string): Promise<{ level: string | null } | null> {
    const path = `/config/${encodeURIComponent(subject)}?defaultToGlobal=false`;
    const own = await this.http<{ compatibilityLevel?: string; compatibility?: string }>(
      'GET',
      path,
      `reading the compatibility of ${subject}`,
      undefined,
      [404],
    );
    return own === null ? null : { level: own.compatibilityLevel ?? own.compatibility ?? null };
  }

  /**
   * Gives the subject BACKWARD compatibility unless it has a level of its own. @kafkajs/confluent-schema-
   * registry refused outright when GET /config/<subject> did not say BACKWARD, which on Apicurio is the
   * global level (NONE) for any subject another client registered first.
   */
  async ensureBackward(subject: string): Promise<void> {
    const level = (await this.subjectCompatibility(subject)) ?? (await this.setBackward(subject));
    if (!BACKWARD_READABLE.has(level)) {
      this.onWarning(`subject ${subject} has its own compatibility level ${level}, not BACKWARD; keeping it (readers of older records rely on BACKWARD)`);
    }
  }

  /**
   * Sets BACKWARD on a subject that had no level of its own, and answers the level it has now. Members
   * of a group start together on a fresh topic, so another one may set the level between this one's
   * read and its write: Apicurio then refuses the second COMPATIBILITY rule with 409 ("A rule named
   * 'COMPATIBILITY' already exists"). That is no incompatible schema: the level the other one set is
   * the subject's own, and is judged like any other.
   */
  private async setBackward(subject: string): Promise<string> {
    try {
      await this.http('PUT', `/config/${encodeURIComponent(subject)}`, `setting the compatibility of ${subject}`, { compatibility: 'BACKWARD' });
      return 'BACKWARD';
    } catch (error) {
      if (!(error instanceof RegistryResponseError && error.status === 409)) throw error;
      const now = await this.subjectCompatibility(subject);
      if (now === null) throw error;
      return now;
    }
  }

  /** The artifact rules of a subject through Apicurio's native API, or null when that API is not there. */
  private async apicurioArtifactRules(subject: string): Promise<string[] | null> {
    const native = /^(.*)\/apis\/ccompat\/v\d+\/?$/.exec(this.baseUrl);
    if (!native) return null;
    const url = `${native[1]}/apis/registry/v3/groups/default/artifacts/${encodeURIComponent(subject)}/rules`;
    try {
      const response = await this.request('GET', url, undefined, 'application/json');
      if (response.status < 200 || response.status >= 300) return null;
      const rules = JSON.parse(response.body) as unknown;
      return Array.isArray(rules) ? rules.map(String) : null;
    } catch {
      return null;
    }
  }

  /** One request to the Confluent-compatible API; statuses in `absent` answer null instead of failing. */
  private async http<T>(method: string, path: string, what: string, body?: unknown, absent: number[] = []): Promise<T | null> {
    let response: { status: number; body: string };
    try {
      response = await this.request(method, `${this.baseUrl}${path}`, body);
    } catch (error) {
      throw new RedemptionError('SCHEMA_REGISTRY_UNAVAILABLE', `schema registry does not answer (${what}): ${(error as Error).message}`, {
        retriable: true,
        cause: error,
      });
    }
    if (absent.includes(response.status)) return null;
    if (response.status < 200 || response.status >= 300) throw new RegistryResponseError(what, response.status, registryMessage(response.body));
    return JSON.parse(response.body) as T;
  }

  /** Every subject the registry holds. */
  async subjects(): Promise<string[]> {
    return (await this.http<string[]>('GET', '/subjects', 'listing the subjects')) ?? [];
  }

  /** Deletes a subject for good (soft, then permanently, as Confluent's and Apicurio's APIs want it). */
  async deleteSubject(subject: string): Promise<void> {
    const path = `/subjects/${encodeURIComponent(subject)}`;
    await this.http('DELETE', path, `deleting ${subject}`, undefined, [404]);
    await this.http('DELETE', `${path}?permanent=true`, `deleting ${subject} permanently`, undefined, [404]);
  }

  /** An HTTP request with the configured basic auth and CA (fetch cannot take an agent with a CA). */
  private request(method: string, url: string, body?: unknown, accept = 'application/vnd.schemaregistry.v1+json'): Promise<{ status: number; body: string }> {
    const target = new URL(url);
    const headers: Record<string, string> = { Accept: accept };
    if (body !== undefined) headers['Content-Type'] = 'application/vnd.schemaregistry.v1+json';
    const { auth, agent } = this.connection;
    if (auth) headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(target, { method, headers, timeout: REQUEST_TIMEOUT_MS, ...(agent ? { agent } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** The writer schema of an id (cached by the library: an id never changes its schema). */
  async writerType(id: number): Promise<avro.Type> {
    try {
      return (await this.registry.getSchema(id)) as unknown as avro.Type;
    } catch (error) {
      throw registryError(`looking up schema id ${id}`, error);
    }
  }

  /**
   * Registers the project's schema `name` for `topic` and returns a codec that writes with it and reads
   * any compatible writer schema into it.
   */
  async codecFor<T>(name: SchemaName, topic: string): Promise<Codec<T>> {
    const schemaText = readSchemaText(name);
    const id = await this.register(`${topic}-value`, schemaText);
    return this.codec<T>(id, avroType(schemaText));
  }

  /** Reads any registered writer schema of a message into the project's schema `name`; never registers. */
  decoderFor<T>(name: SchemaName): Decoder<T> {
    return this.decoder<T>(avroType(readSchemaText(name)));
  }

  codec<T>(writerId: number, readerType: avro.Type): Codec<T> {
    // Each record is written right after its header into one buffer sized for the largest record so far
    // (grown when short): toBuffer, then a concat with the header, allocated and copied each one twice.
    let size = 256;
    return {
      encode: (value: T) => {
        for (;;) {
          const out = Buffer.allocUnsafe(size);
          out.writeUInt8(MAGIC_BYTE, 0);
          out.writeInt32BE(writerId, 1);
          const end = readerType.encode(value, out, HEADER_BYTES);
          if (end >= 0) return out.subarray(0, end);
          // Short by -end bytes.
          size -= end;
        }
      },
      decode: this.decoder<T>(readerType, writerId).decode,
    };
  }

  private decoder<T>(readerType: avro.Type, ownWriterId?: number): Decoder<T> {
    // Per schema id: how to read it into ours (null: it is ours), or why it can never be read. The
    // promise is kept from the first message of an id on, so that messages decoded at once (a whole
    // topic under Promise.all) share one lookup and one resolver: each resolver compiles its own reading
    // code, about 1 ms, which 50,000 messages decoded at once used to pay 50,000 times. A lookup that
    // failed (the registry down) is forgotten, so that the next message asks again.
    type Reading = avro.Resolver | null | UnprocessableMessageError;
    const resolvers = new Map<number, Promise<Reading>>();
    // The lookups that have answered, for decodeKnown.
    const known = new Map<number, Reading>();
    const resolverOf = (id: number) => {
      let resolver = resolvers.get(id);
      if (resolver === undefined) {
        resolver = (
          id === ownWriterId ? Promise.resolve(null) : this.writerTypeOrUnknown(id).then((writerType) => this.resolverOrRefusal(readerType, id, writerType))
        ).then(
          (reading) => {
            known.set(id, reading);
            return reading;
          },
          (error: unknown) => {
            resolvers.delete(id);
            throw error;
          },
        );
        resolvers.set(id, resolver);
      }
      return resolver;
    };
    const schemaIdOf = (message: Buffer): number => {
      if (message.length < HEADER_BYTES || message.readUInt8(0) !== MAGIC_BYTE) {
        throw new UnprocessableMessageError('MESSAGE_UNDECODABLE', 'not in the Confluent wire format (no magic byte 0 and schema id)');
      }
      return message.readInt32BE(1);
    };
    const read = (message: Buffer, id: number, reading: Reading): T => {
      if (reading instanceof UnprocessableMessageError) throw reading;
      try {
        return readerType.fromBuffer(message.subarray(HEADER_BYTES), reading ?? undefined) as T;
      } catch (error) {
        throw new UnprocessableMessageError('MESSAGE_UNDECODABLE', `Avro body does not match schema id ${id}: ${(error as Error).message}`, error);
      }
    };
    return {
      decode: async (message: Buffer) => {
        const id = schemaIdOf(message);
        return read(message, id, await resolverOf(id));
      },
      decodeKnown: (message: Buffer) => {
        const id = schemaIdOf(message);
        const reading = known.get(id);
        return reading === undefined ? undefined : read(message, id, reading);
      },
    };
  }

  /**
   * A writer schema that cannot be read as ours (another registered schema, such as the audit record's,
   * or a request schema changed incompatibly) makes every message written with it unreadable: a fact
   * about the id, decided once.
   */
  private resolverOrRefusal(readerType: avro.Type, id: number, writerType: avro.Type): avro.Resolver | UnprocessableMessageError {
    try {
      return readerType.createResolver(writerType);
    } catch (error) {
      const writerName = (writerType as { name?: string }).name ?? writerType.typeName;
      return new UnprocessableMessageError(
        'MESSAGE_UNDECODABLE',
        `schema id ${id} (${writerName}) cannot be read as ${(readerType as { name?: string }).name ?? 'the request schema'}: ${(error as Error).message}`,
        error,
      );
    }
  }

  private async writerTypeOrUnknown(id: number): Promise<avro.Type> {
    try {
      return await this.writerType(id);
    } catch (error) {
      // 404: no such id. Other 4xx answers about one id (a bad id, a schema the registry cannot parse)
      // are about the message too; authentication and throttling are about us, and are not.
      if (error instanceof RegistryResponseError && error.status >= 400 && error.status < 500 && ![401, 403, 408, 429].includes(error.status)) {
        throw new UnprocessableMessageError(
          'MESSAGE_UNDECODABLE',
          error.status === 404 ? `unknown schema id ${id}` : `schema id ${id} refused by the registry (${error.status})`,
          error,
        );
      }
      throw error;
    }
  }
}

/** The registry's own words from an error body ({"message": ..., "error_code": ...}), else the body. */
function registryMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error_code?: unknown };
    if (typeof parsed.message === 'string') return parsed.error_code === undefined ? parsed.message : `${parsed.message} (error ${String(parsed.error_code)})`;
  } catch {
    // not JSON: the body as it is
  }
  return body.slice(0, 500);
}

function registryError(what: string, error: unknown): RedemptionError {
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number' && status > 0) return new RegistryResponseError(what, status, (error as Error).message);
  return new RedemptionError('SCHEMA_REGISTRY_UNAVAILABLE', `schema registry does not answer (${what}): ${(error as Error).message}`, {
    retriable: true,
    cause: error,
  });
}

/**
 * The registry answered, with an error status. 409: the schema breaks the subject's compatibility rule
 * (SCHEMA_INCOMPATIBLE, for good). 5xx, 408, 429: the registry is in trouble or busy; retriable
 * (SCHEMA_REGISTRY_UNAVAILABLE). Another 4xx: the registry refused the request (SCHEMA_REGISTRY_REFUSED,
 * for good: an invalid schema, a missing subject, no authorisation).
 */
export class RegistryResponseError extends RedemptionError {
  constructor(
    what: string,
    readonly status: number,
    detail: string,
  ) {
    const incompatible = status === 409;
    // 5xx, a timeout (408) and throttling (429) say "try later"; other 4xx are answers.
    const later = status >= 500 || status === 408 || status === 429;
    const body = detail.replace(/^Confluent_Schema_Registry - /, '');
    super(
      incompatible ? 'SCHEMA_INCOMPATIBLE' : later ? 'SCHEMA_REGISTRY_UNAVAILABLE' : 'SCHEMA_REGISTRY_REFUSED',
      incompatible
        ? `schema refused by the registry as incompatible with the subject's compatibility rule (BACKWARD unless the subject has a level of its own), ${what}: ${body}`
        : `schema registry answered ${status} ${what}: ${body}`,
      { retriable: later },
    );
    this.name = 'RegistryResponseError';
  }
}
