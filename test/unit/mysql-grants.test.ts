import { describe, expect, it } from 'vitest';

import { grantsBeyond, requiresTls } from '../../lib/mysql-grants.js';

const to = 'TO `app`@`10.0.0.%`';
const hash = "IDENTIFIED BY PASSWORD '*0123456789ABCDEF0123456789ABCDEF01234567'";

describe("the runtime user's grants as migrate reads them", () => {
  it('the account and its own database are what migrate manages: nothing beyond', () => {
    expect(grantsBeyond([`GRANT USAGE ON *.* ${to} ${hash}`, `GRANT SELECT, INSERT, UPDATE ON \`shop\`.* ${to}`], 'shop')).toEqual([]);
    // More on its own database is replaced by migrate, as before.
    expect(grantsBeyond([`GRANT USAGE ON *.* ${to} ${hash} REQUIRE SSL`, `GRANT ALL PRIVILEGES ON \`shop\`.* ${to}`], 'shop')).toEqual([]);
  });

  it('names everything else without its grantee or password hash', () => {
    const beyond = grantsBeyond(
      [
        `GRANT SELECT ON *.* ${to} ${hash}`,
        `GRANT ALL PRIVILEGES ON \`other_db\`.* ${to}`,
        `GRANT DELETE ON \`shop\`.\`coupons\` ${to}`,
        `GRANT SELECT ON \`shop_2\`.* ${to}`,
        `GRANT INSERT ON \`shop\`.* ${to} WITH GRANT OPTION`,
        `GRANT \`reporting\` ${to}`,
      ],
      'shop',
    );
    expect(beyond).toEqual([
      'SELECT ON *.*',
      'ALL PRIVILEGES ON `other_db`.*',
      'DELETE ON `shop`.`coupons`',
      'SELECT ON `shop_2`.*',
      'INSERT ON `shop`.* WITH GRANT OPTION',
      'role `reporting`',
    ]);
    expect(beyond.join(' ')).not.toContain('PASSWORD');
  });

  it('reads a TLS requirement from SHOW CREATE USER', () => {
    expect(requiresTls(`CREATE USER \`app\`@\`%\` ${hash} REQUIRE SSL`)).toBe(true);
    expect(requiresTls(`CREATE USER \`app\`@\`%\` ${hash} REQUIRE X509`)).toBe(true);
    expect(requiresTls(`CREATE USER \`app\`@\`%\` ${hash}`)).toBe(false);
  });
});
