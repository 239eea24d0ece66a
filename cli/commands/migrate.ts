/**
 * `redeem migrate`: the database, its migrations and the pipeline's least-privilege user; and the
 * registry subjects of the pipeline's topics.
 */
import type { Config } from '../../lib/config.js';
import { databaseName, ensureRuntimeUser, migrateToLatest, type RuntimeUserOptions, withDatabase } from '../../lib/mysql.js';
import type { Runtime } from '../../lib/runtime.js';

export interface MigrateOptions extends RuntimeUserOptions {
  /** Register the subjects of the pipeline's topics. @defaultValue true */
  registry?: boolean;
}

/**
 * `redeem migrate`: with MYSQL_ADMIN_URL, the administrator creates the database, runs the migrations
 * and creates MYSQL_URL's user with only the rights the pipeline needs, so that the pipeline itself
 * never runs with DDL rights; without it, MYSQL_URL's user does all of it (the local stack's root).
 */
export async function migrate(rt: Runtime, print: (line: string) => void, o: MigrateOptions = {}): Promise<void> {
  await migrateDatabase(rt.config, print, o);
  if (o.registry !== false) await registerSubjects(rt, print);
}

/**
 * Registers the project's schemas under the subjects of its topics (`<topic>-value`), each with
 * BACKWARD compatibility, before anything is produced: a subject claimed first by someone else with an
 * incompatible schema would make the producer fail with SCHEMA_INCOMPATIBLE; here it fails the deployment
 * step instead, by name, and once registered nobody can claim it with a schema that breaks BACKWARD.
 */
async function registerSubjects(rt: Runtime, print: (line: string) => void): Promise<void> {
  await rt.registry().codecFor('requested', rt.config.redemptionTopic);
  await rt.registry().codecFor('decided', rt.config.auditTopic);
  print(`registry: ${rt.config.redemptionTopic}-value and ${rt.config.auditTopic}-value registered, compatibility BACKWARD`);
}

async function migrateDatabase(config: Config, print: (line: string) => void, o: RuntimeUserOptions): Promise<void> {
  const adminUrl = config.mysqlAdminUrl === '' ? null : withDatabase(config.mysqlAdminUrl, databaseName(config.mysqlUrl));
  const ran = await migrateToLatest(adminUrl ?? config.mysqlUrl);
  print(ran.length > 0 ? `migrated: ${ran.join(', ')}` : 'already up to date');
  if (adminUrl !== null) {
    const { user, host, privileges, requireSsl, revoked } = await ensureRuntimeUser(adminUrl, config.mysqlUrl, config.mysqlRuntimeUserHost, o);
    if (revoked.length > 0) print(`runtime user '${user}'@'${host}': revoked ${revoked.join('; ')}`);
    print(`runtime user '${user}'@'${host}': ${privileges.join(', ')} on ${databaseName(config.mysqlUrl)}, nothing else${requireSsl ? '; TLS required' : ''}`);
  }
}
