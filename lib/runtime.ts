import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';

import { SchemaRegistryClient } from '../schemas/registry.js';
import { type Config, loadConfig } from './config.js';
import { kafkaSecurity, mysqlTls, redisTls, registryConnection } from './connections.js';
import { createKafka } from './kafka.js';
import { createLogger, type Logger } from './logger.js';
import { createKnex, useMysqlTls } from './mysql.js';
import { createRedis, type RedisClient, redisReady } from './redis.js';

/**
 * What a command needs, built on first use from the validated configuration, and closed together at the
 * end so that no command leaves a connection open behind it.
 */
export class Runtime {
  readonly logger: Logger;
  private kafkaClient?: Kafka;
  private registryClient?: SchemaRegistryClient;
  private redisClient?: RedisClient;
  private knexClient?: Knex;

  /** `logFile`: where the logs go instead of stderr (an interactive command keeps its output readable). */
  constructor(
    readonly config: Config,
    options: { logFile?: string } = {},
  ) {
    this.logger = createLogger(config.logLevel, {}, options.logFile);
    useMysqlTls(mysqlTls(config));
    if (config.kafkaSaslMechanism === 'plain' && !config.kafkaSsl) {
      this.logger.warn('KAFKA_SASL_MECHANISM=plain without KAFKA_SSL=true: the Kafka password crosses the network in clear');
    }
  }

  static fromEnv(overrides: Parameters<typeof loadConfig>[1] = {}, options: { logFile?: string } = {}): Runtime {
    return new Runtime(loadConfig(process.env, overrides), options);
  }

  kafka(clientId = 'redeem'): Kafka {
    this.kafkaClient ??= createKafka(this.config.kafkaBrokers, clientId, this.logger, kafkaSecurity(this.config), this.config.requestTimeoutMs);
    return this.kafkaClient;
  }

  registry(): SchemaRegistryClient {
    this.registryClient ??= new SchemaRegistryClient(this.config.schemaRegistryUrl, registryConnection(this.config), (message) => this.logger.warn(message));
    return this.registryClient;
  }

  /** Standalone Redis, or Redis Cluster when `REDIS_CLUSTER_NODES` names its nodes. */
  redis(): RedisClient {
    this.redisClient ??= createRedis(this.config.redisUrl, this.config.redisClusterNodes, redisTls(this.config));
    return this.redisClient;
  }

  /**
   * The Redis client once it is connected: `redis()` fails fast instead of queueing, so a command sent
   * before the connection is up would fail.
   */
  async connectedRedis(): Promise<RedisClient> {
    const redis = this.redis();
    await redisReady(redis);
    return redis;
  }

  knex(): Knex {
    // Each concurrent flush holds one connection through its transaction.
    this.knexClient ??= createKnex(this.config.mysqlUrl, { min: 0, max: this.config.flushConcurrency + 2 }, this.config.mysqlLockWaitTimeoutSeconds, {
      multipleStatements: true,
    });
    return this.knexClient;
  }

  async close(): Promise<void> {
    await this.knexClient?.destroy();
    this.redisClient?.disconnect();
  }
}
