/**
 * The `redeem` command of a checkout. Its tools (local stack, demo, chaos run, benchmark) have their own
 * entry point (scripts/tools.ts); every other command is the product CLI (cli/main.ts), which never loads
 * them. bin/redeem.mjs runs this file from source through tsx; `npm run build:cli` compiles it with the
 * rest (dist-cli/scripts/redeem.js), and the integration tests spawn such a build.
 */
const TOOLS = new Set(['stack', 'demo', 'chaos', 'bench']);
await import(TOOLS.has(process.argv[2] ?? '') ? './tools.js' : '../cli/main.js');

export {};
