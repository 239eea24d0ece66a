// The built library reads its .avsc files beside schemas/avro.js (new URL(..., import.meta.url)), so
// `npm run build` puts them into dist/schemas/ too.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';

mkdirSync('dist/schemas', { recursive: true });
for (const file of readdirSync('schemas').filter((f) => f.endsWith('.avsc'))) copyFileSync(`schemas/${file}`, `dist/schemas/${file}`);
