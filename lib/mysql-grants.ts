/**
 * Reading a MariaDB/MySQL user's grants (SHOW GRANTS, SHOW CREATE USER) for `redeem migrate`, which
 * owns the runtime user's rights on its own database and nothing else: what the user holds beyond that
 * must be refused or, when the operator says so, revoked; and whether the user is required to use TLS.
 * Pure: the statements run in lib/mysql.ts.
 */

/** What a grant line gives, without its grantee or password hash: "SELECT ON *.*", "ALL PRIVILEGES ON `x`.*", "role `r`". */
export function grantScope(line: string): string {
  const role = /^GRANT (.+) TO (`[^`]*`|'[^']*')@/.exec(line);
  if (role && !/ ON /.test(role[1]!)) return `role ${role[1]}`;
  return (/^GRANT (.+?) TO /.exec(line)?.[1] ?? line).trim();
}

const isGrantOption = (line: string) => /\bWITH\b.*\bGRANT OPTION\b/.test(line);

/**
 * The grants in `lines` (SHOW GRANTS) beyond what migrate manages: USAGE on *.* (the account itself)
 * and database-wide privileges on `database` (which it replaces). Anything else — global privileges,
 * other databases, table or column grants, roles, PROXY, GRANT OPTION — is returned, as grantScope
 * gives it.
 */
export function grantsBeyond(lines: readonly string[], database: string): string[] {
  const own = new RegExp(`^GRANT (.+) ON \`${database.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\`\\.\\* TO `);
  return lines
    .filter((line) => {
      if (isGrantOption(line)) return true;
      if (/^GRANT USAGE ON \*\.\* TO /.test(line)) return false;
      return !own.test(line);
    })
    .map((line) => (isGrantOption(line) ? `${grantScope(line)} WITH GRANT OPTION` : grantScope(line)));
}

/** Whether SHOW CREATE USER says the account must use TLS (REQUIRE SSL, X509, ISSUER, SUBJECT or CIPHER). */
export function requiresTls(createUser: string): boolean {
  return /\bREQUIRE\s+(SSL|X509|ISSUER|SUBJECT|CIPHER)\b/i.test(createUser);
}
