/**
 * `redeem migrate`: the database, its migrations and the pipeline's least-privilege user.
 */
import type { Config } from '../../lib/config.js';
import { databaseName, ensureRuntimeUser, migrateToLatest, withDatabase } from '../../lib/mysql.js';

/**
 * `redeem migrate`: with MYSQL_ADMIN_URL, the administrator creates the database, runs the migrations
 * and creates MYSQL_URL's user with only the rights the pipeline needs, so that the pipeline itself
 * never runs with DDL rights; without it, MYSQL_URL's user does all of it (the local stack's root).
 */
export async function migrate(config: Config, print: (line: string) => void): Promise<void> {
  const adminUrl = config.mysqlAdminUrl === '' ? null : withDatabase(config.mysqlAdminUrl, databaseName(config.mysqlUrl));
  const ran = await migrateToLatest(adminUrl ?? config.mysqlUrl);
  print(ran.length > 0 ? `migrated: ${ran.join(', ')}` : 'already up to date');
  if (adminUrl !== null) {
    const { user, host, privileges, requireSsl } = await ensureRuntimeUser(adminUrl, config.mysqlUrl, config.mysqlRuntimeUserHost);
    print(`runtime user '${user}'@'${host}': ${privileges.join(', ')} on ${databaseName(config.mysqlUrl)}, nothing else${requireSsl ? '; TLS required' : ''}`);
  }
}
