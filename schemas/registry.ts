import type avro from 'avsc';
import { RedemptionError, UnprocessableMessageError } from '../lib/errors.js';
import { avroType, readSchemaText, type SchemaName } from './avro.js';

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
 */
const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

export interface Decoder<T> {
  decode(message: Buffer): Promise<T>;
}

export interface Codec<T> extends Decoder<T> {
  encode(value: T): Buffer;
}

export class SchemaRegistryClient {
  private readonly writerTypes = new Map<number, Promise<avro.Type>>();

  constructor(private readonly baseUrl: string) {}

  /** Sets BACKWARD compatibility on the subject and registers the schema; returns its id. */
  async register(subject: string, schemaText: string): Promise<number> {
    await this.request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: 'BACKWARD' });
    const body = (await this.request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, {
      schema: JSON.stringify(JSON.parse(schemaText)),
      schemaType: 'AVRO',
    })) as { id: number };
    return body.id;
  }

  /** The writer schema of an id, cached: a given id never changes its schema. */
  writerType(id: number): Promise<avro.Type> {
    let type = this.writerTypes.get(id);
    if (!type) {
      type = this.request('GET', `/schemas/ids/${id}`).then((body) => avroType((body as { schema: string }).schema));
      type.catch(() => this.writerTypes.delete(id));
      this.writerTypes.set(id, type);
    }
    return type;
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
    const resolvers = new Map<number, avro.Resolver | null>();
    return {
      decode: async (message: Buffer) => {
        if (message.length < HEADER_BYTES || message.readUInt8(0) !== MAGIC_BYTE) {
          throw new UnprocessableMessageError('MESSAGE_UNDECODABLE', 'not in the Confluent wire format (no magic byte 0 and schema id)');
        }
        const id = message.readInt32BE(1);
        let resolver = resolvers.get(id);
        if (resolver === undefined) {
          resolver = id === ownWriterId ? null : readerType.createResolver(await this.writerTypeOrUnknown(id));
          resolvers.set(id, resolver);
        }
        try {
          return readerType.fromBuffer(message.subarray(HEADER_BYTES), resolver ?? undefined) as T;
        } catch (error) {
          throw new UnprocessableMessageError('MESSAGE_UNDECODABLE', `Avro body does not match schema id ${id}: ${(error as Error).message}`, error);
        }
      },
    };
  }

  private async writerTypeOrUnknown(id: number): Promise<avro.Type> {
    try {
      return await this.writerType(id);
    } catch (error) {
      if (error instanceof RegistryResponseError && error.status === 404) {
        throw new UnprocessableMessageError('MESSAGE_UNDECODABLE', `unknown schema id ${id}`, error);
      }
      throw error;
    }
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { 'content-type': CONTENT_TYPE, accept: CONTENT_TYPE },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      throw new RedemptionError('SCHEMA_REGISTRY_UNAVAILABLE', `schema registry ${this.baseUrl} does not answer: ${(error as Error).message}`, {
        retriable: true,
        cause: error,
      });
    }
    const text = await response.text();
    if (!response.ok) throw new RegistryResponseError(method, path, response.status, text);
    return text ? (JSON.parse(text) as unknown) : undefined;
  }
}

export class RegistryResponseError extends RedemptionError {
  constructor(method: string, path: string, readonly status: number, responseBody: string) {
    const incompatible = status === 409;
    let body = responseBody;
    try {
      body = (JSON.parse(responseBody) as { message?: string }).message ?? responseBody;
    } catch {
      // not JSON: keep the body as it came
    }
    super(
      incompatible ? 'SCHEMA_INCOMPATIBLE' : 'SCHEMA_REGISTRY_UNAVAILABLE',
      incompatible
        ? `schema refused by the registry as incompatible with the subject's BACKWARD rule: ${body}`
        : `schema registry answered ${status} to ${method} ${path}: ${body}`,
      { retriable: status >= 500 },
    );
    this.name = 'RegistryResponseError';
  }
}
