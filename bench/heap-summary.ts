/**
 * Where a V8 heap goes: a .heapsnapshot (from `node --heapsnapshot-signal=SIGUSR2` or
 * v8.writeHeapSnapshot) summed by node type and constructor name, biggest first. A snapshot is taken
 * after a full GC, so it shows the live set; set against the process's RSS at the same moment it tells
 * live data from garbage awaiting collection and from what is not heap at all.
 *
 *   npx --no-install tsx bench/heap-summary.ts FILE.heapsnapshot [TOP]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export function summariseHeap(snapshot: Snapshot, top = 15): { totalMiB: number; rows: { kind: string; count: number; MiB: number; share: number }[] } {
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const byKind = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const size = snapshot.nodes[i + sizeAt]!;
    // Objects by constructor; strings, code, arrays and the rest by their V8 type.
    const kind = type === 'object' || type === 'closure' ? `${type} ${snapshot.strings[snapshot.nodes[i + nameAt]!]}` : `(${type})`;
    const entry = byKind.get(kind) ?? { count: 0, bytes: 0 };
    entry.count += 1;
    entry.bytes += size;
    byKind.set(kind, entry);
    total += size;
  }
  const rows = [...byKind]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, top)
    .map(([kind, e]) => ({ kind, count: e.count, MiB: Math.round((e.bytes / 2 ** 20) * 10) / 10, share: Math.round((e.bytes / total) * 1000) / 10 }));
  return { totalMiB: Math.round((total / 2 ** 20) * 10) / 10, rows };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: tsx bench/heap-summary.ts FILE.heapsnapshot [TOP]');
  const { totalMiB, rows } = summariseHeap(JSON.parse(readFileSync(file, 'utf8')) as Snapshot, Number(process.argv[3] ?? 15));
  process.stdout.write(`live heap ${totalMiB} MiB\n`);
  for (const r of rows) process.stdout.write(`${String(r.MiB).padStart(7)} MiB ${String(r.share).padStart(5)}%  ${String(r.count).padStart(8)}  ${r.kind}\n`);
}
