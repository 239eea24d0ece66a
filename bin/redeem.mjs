#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so there is no build step between a checkout and `npm run redeem --`.
import { register } from 'tsx/esm/api';

register();
// The tools of a checkout (local stack, demo, chaos run, benchmark) have their own entry point: the
// product CLI never loads them.
const TOOLS = new Set(['stack', 'demo', 'chaos', 'bench']);
await import(TOOLS.has(process.argv[2] ?? '') ? '../scripts/tools.ts' : '../cli/main.ts');
