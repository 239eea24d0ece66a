import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import type { Agent } from 'node:http';
import { RedemptionError, UnprocessableMessageError } from '../lib/errors.js';
import { avroOptions, avroType, readSchemaText, type SchemaName } from './avro.js';

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
const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

export interface Decoder<T> {
  decode(message: Buffer): Promise<T>;
}

export interface Codec<T> extends Decoder<T> {
  encode(value: T): Buffer;
}

export class SchemaRegistryClient {
  private readonly registry: SchemaRegistry;

  /** `connection`: basic auth and an https agent with the registry's CA (lib/connections.ts). */
  constructor(baseUrl: string, connection: { auth?: { username: string; password: string }; agent?: Agent } = {}) {
    this.registry = new SchemaRegistry({ host: baseUrl, retry: { retries: 2 }, ...connection }, { [SchemaType.AVRO]: avroOptions });
  }

  /** Registers the schema under the subject with BACKWARD compatibility; returns its id. */
  async register(subject: string, schemaText: string): Promise<number> {
    try {
      const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: schemaText }, { subject, compatibility: COMPATIBILITY.BACKWARD });
      return id;
    } catch (error) {
      throw registryError(`registering ${subject}`, error);
    }
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
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt8(MAGIC_BYTE, 0);
    header.writeInt32BE(writerId, 1);
    return {
      encode: (value: T) => Buffer.concat([header, readerType.toBuffer(value)]),
      decode: this.decoder<T>(readerType, writerId).decode,
    };
  }

  private decoder<T>(readerType: avro.Type, ownWriterId?: number): Decoder<T> {
    // Per schema id: how to read it into ours (null: it is ours), or why it can never be read.
    const resolvers = new Map<number, avro.Resolver | null | UnprocessableMessageError>();
    return {
      decode: async (message: Buffer) => {
        if (message.length < HEADER_BYTES || message.readUInt8(0) !== MAGIC_BYTE) {
          throw new UnprocessableMessageError('MESSAGE_UNDECODABLE', 'not in the Confluent wire format (no magic byte 0 and schema id)');
        }
        const id = message.readInt32BE(1);
        let resolver = resolvers.get(id);
        if (resolver === undefined) {
          resolver = id === ownWriterId ? null : this.resolverOrRefusal(readerType, id, await this.writerTypeOrUnknown(id));
          resolvers.set(id, resolver);
        }
        if (resolver instanceof UnprocessableMessageError) throw resolver;
        try {
          return readerType.fromBuffer(message.subarray(HEADER_BYTES), resolver ?? undefined) as T;
        } catch (error) {
          throw new UnprocessableMessageError('MESSAGE_UNDECODABLE', `Avro body does not match schema id ${id}: ${(error as Error).message}`, error);
        }
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
        throw new UnprocessableMessageError('MESSAGE_UNDECODABLE', error.status === 404 ? `unknown schema id ${id}` : `schema id ${id} refused by the registry (${error.status})`, error);
      }
      throw error;
    }
  }
}

function registryError(what: string, error: unknown): RedemptionError {
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number' && status > 0) return new RegistryResponseError(what, status, (error as Error).message);
  return new RedemptionError('SCHEMA_REGISTRY_UNAVAILABLE', `schema registry does not answer (${what}): ${(error as Error).message}`, { retriable: true, cause: error });
}

export class RegistryResponseError extends RedemptionError {
  constructor(what: string, readonly status: number, detail: string) {
    const incompatible = status === 409;
    const body = detail.replace(/^Confluent_Schema_Registry - /, '');
    super(
      incompatible ? 'SCHEMA_INCOMPATIBLE' : 'SCHEMA_REGISTRY_UNAVAILABLE',
      incompatible
        ? `schema refused by the registry as incompatible with the subject's BACKWARD rule: ${body}`
        : `schema registry answered ${status} ${what}: ${body}`,
      { retriable: status >= 500 },
    );
    this.name = 'RegistryResponseError';
  }
}
