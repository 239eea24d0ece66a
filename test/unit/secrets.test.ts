import { describe, expect, it } from 'vitest';
import { loadConfig, printableConfig } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { redact, redactUrl, rememberSecret } from '../../lib/secrets.js';

describe('secrets in URLs and settings', () => {
  it('redacts the password of a URL, parsable or not, keeping the rest', () => {
    expect(redactUrl('mysql://app:s3cr%40t@db.internal:3306/redemptions')).toBe('mysql://app:***@db.internal:3306/redemptions');
    expect(redactUrl('redis://:p4ss@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379');
    expect(redactUrl('mysql://root@127.0.0.1:3306/redemptions')).toBe('mysql://root@127.0.0.1:3306/redemptions');
    // Not a URL at all (a space, an unencoded "@" in the password): still no password in the output.
    expect(redactUrl('mysql://app:pa ss@db/x')).not.toContain('pa ss');
    expect(redactUrl('mysql://app:p@ss@db:3306/x')).toBe('mysql://app:***@db:3306/x');
  });

  it('redeem config shows URLs without their passwords', () => {
    const config = loadConfig({ MYSQL_URL: 'mysql://app:Tr0ub4dor@127.0.0.1:3306/redemptions', REDIS_URL: 'redis://app:Tr0ub4dor@127.0.0.1:6379' });
    const printed = JSON.stringify(printableConfig(config));
    expect(printed).not.toContain('Tr0ub4dor');
    expect(printed).toContain('mysql://app:***@127.0.0.1:3306/redemptions');
    expect(printed).toContain('redis://app:***@127.0.0.1:6379');
  });

  it('config errors about an unparsable URL do not quote its password', () => {
    for (const env of [{ MYSQL_URL: 'mysql://app:C0rrectHorse@db host/x' }, { REDIS_URL: 'redis://:C0rrectHorse@[bad' }, { MYSQL_URL: 'mysql://app:C0rrectHorse@db/' }]) {
      const error = (() => {
        try {
          loadConfig(env);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toContain('C0rrectHorse');
      expect((error as Error).message).toMatch(/MYSQL_URL|REDIS_URL/);
    }
  });

  it('scrubs remembered secrets from free text, in the spellings a URL or a JSON line gives them', () => {
    rememberSecret('we"ird/p@ss');
    expect(redact('connecting with we"ird/p@ss')).toBe('connecting with ***');
    expect(redact(JSON.stringify({ msg: 'we"ird/p@ss' }))).toBe('{"msg":"***"}');
    expect(redact(`url ${encodeURIComponent('we"ird/p@ss')}`)).toBe('url ***');
    // Any URL's password, even one never seen before.
    expect(redact('failed: mysql://u:never-seen@h/db')).toBe('failed: mysql://u:***@h/db');
  });

  it('loading the configuration remembers the secrets of the environment', () => {
    loadConfig({ MYSQL_URL: 'mysql://app:L0aded-From-Env@127.0.0.1:3306/redemptions', SOME_PASSWORD: 'An0ther-0ne' });
    expect(redact('Access denied, password L0aded-From-Env')).toBe('Access denied, password ***');
    expect(redact('An0ther-0ne')).toBe('***');
  });
});
