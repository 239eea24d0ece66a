#!/usr/bin/python3
"""A checkout service in Python sending RedemptionRequested events the way the pipeline needs them.

Reads requests as JSON lines (the format of ``redeem produce --file``: the schema's field names,
``occurred_at`` as ISO-8601 or epoch millis) and sends them in order. Needs Debian's
python3-confluent-kafka and python3-avro.

The settings that matter, and why:

* ``partitioner=murmur2_random``: the partitioner of the Java client and KafkaJS. librdkafka's default
  (``consistent_random``) hashes keys with CRC32, which puts a coupon's requests in another partition
  than the pipeline's own producers do; the consumer dead-letters those as WRONG_PARTITION.
* the key is the coupon code as plain UTF-8 bytes, not Avro: the pipeline compares it with the
  record's ``coupon_code``. (``confluent_kafka.avro.AvroProducer`` wants an Avro schema for any key,
  which is why this uses a plain Producer and the message serializer.)
* ``enable.idempotence``: acks=all, retries without duplicates or reordering within a partition.
* the value is Avro in the Confluent wire format under the topic-name subject ``<topic>-value``,
  written with the id ``registry_lookup.schema_id`` finds (see there why not auto-registration).
* a ``client.id`` header, so a dead letter can be traced back to this service.
* ``compression.type`` (``--compression``): any of librdkafka's; the pipeline's consumer reads gzip,
  snappy, lz4 and zstd batches.

Usage: checkout_producer.py --file requests.jsonl [--bootstrap 127.0.0.1:9092]
       [--registry http://127.0.0.1:8081/apis/ccompat/v7] [--topic redemption.requested]
       [--client-id python-checkout] [--compression none|gzip|snappy|lz4|zstd]
"""

import argparse
import datetime
import json
import os
import sys

import avro.schema
from confluent_kafka import KafkaException, Producer
from confluent_kafka.avro import CachedSchemaRegistryClient
from confluent_kafka.avro.serializer.message_serializer import MessageSerializer

from registry_lookup import schema_id

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas", "redemption-requested.avsc")


def record_of(line):
    """A request as the avro library writes it: occurred_at (timestamp-millis) as an aware datetime."""
    request = json.loads(line)
    occurred = request["occurred_at"]
    if isinstance(occurred, (int, float)):
        request["occurred_at"] = datetime.datetime.fromtimestamp(occurred / 1000, tz=datetime.timezone.utc)
    else:
        request["occurred_at"] = datetime.datetime.fromisoformat(occurred.replace("Z", "+00:00"))
    request.setdefault("reverses_request_id", None)
    return request


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", required=True)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092"))
    parser.add_argument("--registry", default=os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"))
    parser.add_argument("--topic", default=os.environ.get("REDEMPTION_TOPIC", "redemption.requested"))
    parser.add_argument("--client-id", default="python-checkout")
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    args = parser.parse_args()

    with open(SCHEMA_FILE, encoding="utf-8") as f:
        schema_text = f.read()
    avro.schema.parse(schema_text)  # a broken schema file fails here, before anything is sent
    writer_id = schema_id(args.registry, f"{args.topic}-value", schema_text)
    serializer = MessageSerializer(CachedSchemaRegistryClient({"url": args.registry}))

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "client.id": args.client_id,
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": args.compression,
    })
    failures = []

    def delivered(error, message):
        if error is not None:
            failures.append(f"{message.key()!r}: {error}")

    sent = 0
    with open(args.file, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            request = record_of(line)
            value = serializer.encode_record_with_schema_id(writer_id, request)
            while True:
                try:
                    producer.produce(
                        args.topic,
                        key=request["coupon_code"].encode("utf-8"),
                        value=value,
                        headers={"client.id": args.client_id},
                        on_delivery=delivered,
                    )
                    break
                except BufferError:
                    producer.poll(0.1)  # the local queue is full: let deliveries drain it
            producer.poll(0)
            sent += 1
    remaining = producer.flush(60)
    if remaining > 0 or failures:
        print(f"failed: {len(failures)} not delivered, {remaining} still queued: {failures[:5]}", file=sys.stderr)
        return 1
    print(f"produced {sent} requests to {args.topic} with schema id {writer_id}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as error:
        print(f"kafka error: {error}", file=sys.stderr)
        sys.exit(1)
