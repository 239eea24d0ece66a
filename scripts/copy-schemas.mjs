// The built library reads its .avsc files beside schemas/avro.js (new URL(..., import.meta.url)), so
// the build puts them into <outDir>/schemas/ too: `node scripts/copy-schemas.mjs [outDir]` (default dist).
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const outDir = process.argv[2] ?? 'dist';
mkdirSync(join(outDir, 'schemas'), { recursive: true });
for (const file of readdirSync('schemas').filter((f) => f.endsWith('.avsc'))) copyFileSync(join('schemas', file), join(outDir, 'schemas', file));
