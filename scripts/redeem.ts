/**
 * The `redeem` command of a checkout. Its tools (local stack, demo, chaos run, benchmark) have their own
 * entry point (scripts/tools.ts); every other command is the product CLI (cli/main.ts), which never loads
 * them. bin/redeem.mjs runs this file from source through tsx; `npm run build:cli` compiles it with the
 * rest (dist-cli/scripts/redeem.js); the integration tests spawn a bundle of it (test/integration/compiled-cli.ts).
 *
 * No top-level await: the tests' bundle is CommonJS, whose compiled code V8 can cache (an import that
 * fails still ends the process with its error, as an unhandled rejection).
 */
const TOOLS = new Set(['stack', 'demo', 'chaos', 'bench']);
void import(TOOLS.has(process.argv[2] ?? '') ? './tools.js' : '../cli/main.js');

export {};
