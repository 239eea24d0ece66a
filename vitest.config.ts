import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The package's own name, as its users import it, resolves to the source (no build needed for tests).
const alias = { 'coupon-redemption-pipeline': fileURLToPath(new URL('./index.ts', import.meta.url)) };

/**
 * Two suites: unit tests (pure logic, in-memory data) run first and in parallel; integration tests talk
 * to the real broker, registry, Redis and MariaDB and run one file at a time, since they share a 2-core
 * machine with those services.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', sequence: { groupOrder: 0 } },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
          globalSetup: ['test/integration/global-setup.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
