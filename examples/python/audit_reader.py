#!/usr/bin/python3
"""An analyst's reader of the audit stream (RedemptionDecided), printing each record as a JSON line.

Needs Debian's python3-confluent-kafka and python3-avro. The key is the coupon code as plain UTF-8,
not Avro, so ``confluent_kafka.avro.AvroConsumer`` (which decodes keys as Avro too) cannot read this
topic: a plain Consumer reads it, and the message serializer decodes the values, resolving whatever
writer schema the record names into the reader schema in schemas/redemption-decided.avsc.

The stream is at least once: count each (source_partition, source_offset) once.

Usage: audit_reader.py [--group analysts] [--exit-when-idle 5] [--bootstrap ...] [--registry ...]
       [--topic redemption.decided]
"""

import argparse
import datetime
import json
import os
import sys
import time

import avro.schema
from confluent_kafka import Consumer, KafkaError
from confluent_kafka.avro import CachedSchemaRegistryClient
from confluent_kafka.avro.serializer.message_serializer import MessageSerializer

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas", "redemption-decided.avsc")


def as_json(value):
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON: {type(value)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", default="audit-analysts")
    parser.add_argument("--exit-when-idle", type=float, default=None, help="exit once no record came for this many seconds")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092"))
    parser.add_argument("--registry", default=os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"))
    parser.add_argument("--topic", default=os.environ.get("AUDIT_TOPIC", "redemption.decided"))
    args = parser.parse_args()

    with open(SCHEMA_FILE, encoding="utf-8") as f:
        reader_schema = avro.schema.parse(f.read())
    serializer = MessageSerializer(CachedSchemaRegistryClient({"url": args.registry}), reader_value_schema=reader_schema)
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
    })
    consumer.subscribe([args.topic])
    last = time.monotonic()
    try:
        while args.exit_when_idle is None or time.monotonic() - last < args.exit_when_idle:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise SystemExit(f"consumer error: {message.error()}")
            last = time.monotonic()
            record = serializer.decode_message(message.value())
            record["key"] = message.key().decode("utf-8") if message.key() is not None else None
            print(json.dumps(record, default=as_json, sort_keys=True), flush=True)
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
