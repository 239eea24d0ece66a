import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import avro from 'avsc';

/** timestamp-millis as a JS Date, so every reader of the schema sees real times, not bare numbers. */
class TimestampMillisType extends avro.types.LogicalType {
  protected override _fromValue(value: number): Date {
    return new Date(value);
  }
  protected override _toValue(value: unknown): number | undefined {
    if (value instanceof Date) return value.getTime();
    if (typeof value === 'number') return value;
    return undefined;
  }
  protected override _resolve(type: avro.Type): ((x: unknown) => unknown) | undefined {
    if (avro.Type.isType(type, 'long', 'logical:timestamp-millis')) return (x) => x;
    return undefined;
  }
}

export const avroOptions: Partial<avro.ForSchemaOptions> = {
  logicalTypes: { 'timestamp-millis': TimestampMillisType },
};

export const SCHEMA_FILES = {
  requested: 'redemption-requested.avsc',
  decided: 'redemption-decided.avsc',
} as const;

export type SchemaName = keyof typeof SCHEMA_FILES;

export function readSchemaText(schema: SchemaName): string {
  return readFileSync(fileURLToPath(new URL(SCHEMA_FILES[schema], import.meta.url)), 'utf8');
}

/** A fresh options object per schema: avsc records every named type in it and refuses a name twice. */
export function avroType(schemaText: string): avro.Type {
  return avro.Type.forSchema(JSON.parse(schemaText) as avro.Schema, { ...avroOptions });
}
