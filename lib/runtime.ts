import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from './config.js';
import { createKafka } from './kafka.js';
import { createLogger, type Logger } from './logger.js';
import { createKnex, useMysqlTls } from './mysql.js';
import { kafkaSecurity, mysqlTls, redisTls, registryConnection } from './connections.js';
import { createRedis, redisReady } from './redis.js';
import { SchemaRegistryClient } from '../schemas/registry.js';

/**
 * What a command needs, built on first use from the validated configuration, and closed together at the
 * end so that no command leaves a connection open behind it.
 */
export class Runtime {
  readonly logger: Logger;
  private kafkaClient?: Kafka;
  private registryClient?: SchemaRegistryClient;
  private redisClient?: Redis;
  private knexClient?: Knex;

  constructor(readonly config: Config) {
    this.logger = createLogger(config.logLevel);
    useMysqlTls(mysqlTls(config));
    if (config.kafkaSaslMechanism === 'plain' && !config.kafkaSsl) {
      this.logger.warn('KAFKA_SASL_MECHANISM=plain without KAFKA_SSL=true: the Kafka password crosses the network in clear');
    }
  }

  static fromEnv(overrides: Parameters<typeof loadConfig>[1] = {}): Runtime {
    return new Runtime(loadConfig(process.env, overrides));
  }

  kafka(clientId = 'redeem'): Kafka {
    this.kafkaClient ??= createKafka(this.config.kafkaBrokers, clientId, this.logger, kafkaSecurity(this.config));
    return this.kafkaClient;
  }

  registry(): SchemaRegistryClient {
    this.registryClient ??= new SchemaRegistryClient(this.config.schemaRegistryUrl, registryConnection(this.config), (message) => this.logger.warn(message));
    return this.registryClient;
  }

  redis(): Redis {
    this.redisClient ??= createRedis(this.config.redisUrl, redisTls(this.config));
    return this.redisClient;
  }

  /**
   * The Redis client once it is connected: `redis()` fails fast instead of queueing, so a command sent
   * before the connection is up would fail.
   */
  async connectedRedis(): Promise<Redis> {
    const redis = this.redis();
    await redisReady(redis);
    return redis;
  }

  knex(): Knex {
    // Each concurrent flush holds one connection through its transaction.
    this.knexClient ??= createKnex(this.config.mysqlUrl, { min: 0, max: this.config.flushConcurrency + 2 }, this.config.mysqlLockWaitTimeoutSeconds);
    return this.knexClient;
  }

  async close(): Promise<void> {
    await this.knexClient?.destroy();
    this.redisClient?.disconnect();
  }
}
