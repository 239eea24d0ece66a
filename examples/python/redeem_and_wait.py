#!/usr/bin/python3
"""Redeem and wait, in Python: send requests and print each one's decision, as RedemptionClient.redeem() does.

Reads requests as JSON lines (the ``redeem produce --file`` format), sends them with the settings of
checkout_producer.py, and prints one JSON line per request: its outcome (``decision``, ``reason``), whether
it was a ``retry`` of a request id decided before (then the outcome is the original one, from the DUPLICATE
record's ``original_decision``/``original_reason``), and the audit record. Needs Debian's
python3-confluent-kafka and python3-avro.

The pattern (the same as the TypeScript client's):

* one audit reader, in a consumer group of its own (a random id, one member: nothing rebalances under
  it), whose start offsets are committed at the audit topic's end BEFORE anything is sent, so that a
  decision written while it joins is read, not skipped;
* each request's own message is known by the partition and offset of its delivery report, and its
  decision is the audit record with that ``source_partition`` and ``source_offset`` (an earlier message
  of the same request id answers nobody by mistake);
* no decision within ``--timeout``: the request is in Kafka (delivered) and will still be decided;
  sending it again with the same request id is safe and answers with the original outcome. Exit 3.

Usage: redeem_and_wait.py --file requests.jsonl [--timeout 10] [--bootstrap 127.0.0.1:9092]
       [--registry URL] [--topic redemption.requested] [--audit-topic redemption.decided]
"""

import argparse
import datetime
import json
import os
import sys
import time
import uuid

import avro.schema
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.avro import CachedSchemaRegistryClient
from confluent_kafka.avro.serializer.message_serializer import MessageSerializer

from checkout_producer import record_of
from registry_lookup import schema_id

HERE = os.path.dirname(os.path.abspath(__file__))
REQUEST_SCHEMA = os.path.join(HERE, "..", "..", "schemas", "redemption-requested.avsc")
DECIDED_SCHEMA = os.path.join(HERE, "..", "..", "schemas", "redemption-decided.avsc")


def as_json(value):
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON: {type(value)}")


def outcome_of(record):
    """The outcome an audit record gives: for a DUPLICATE, the original outcome it carries (schema version 2)."""
    if record["decision"] != "DUPLICATE":
        return {"decision": record["decision"], "reason": record["reason"], "retry": False}
    return {"decision": record.get("original_decision") or "DUPLICATE", "reason": record.get("original_reason"), "retry": True}


def start_reader(args):
    """The audit reader: a group of its own, its offsets committed at the topic's end before it joins."""
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": f"python-checkout-decisions-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    partitions = consumer.list_topics(args.audit_topic, timeout=10).topics[args.audit_topic].partitions
    ends = [TopicPartition(args.audit_topic, p, consumer.get_watermark_offsets(TopicPartition(args.audit_topic, p), timeout=10)[1]) for p in partitions]
    consumer.commit(offsets=ends, asynchronous=False)
    consumer.subscribe([args.audit_topic])
    return consumer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", required=True)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the decisions")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092"))
    parser.add_argument("--registry", default=os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"))
    parser.add_argument("--topic", default=os.environ.get("REDEMPTION_TOPIC", "redemption.requested"))
    parser.add_argument("--audit-topic", default=os.environ.get("AUDIT_TOPIC", "redemption.decided"))
    args = parser.parse_args()

    with open(REQUEST_SCHEMA, encoding="utf-8") as f:
        request_schema = f.read()
    with open(DECIDED_SCHEMA, encoding="utf-8") as f:
        decided_schema = avro.schema.parse(f.read())
    registry = CachedSchemaRegistryClient({"url": args.registry})
    writer_id = schema_id(args.registry, f"{args.topic}-value", request_schema)
    encoder = MessageSerializer(registry)
    decoder = MessageSerializer(registry, reader_value_schema=decided_schema)

    reader = start_reader(args)
    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "client.id": "python-checkout",
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    })
    waiting = {}  # (partition, offset) of each request's own message -> its request
    failures = []

    def delivered(error, message, request_id):
        if error is not None:
            failures.append(f"{request_id}: {error}")
        else:
            waiting[(message.partition(), message.offset())] = request_id

    with open(args.file, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                request = record_of(line)
                producer.produce(
                    args.topic,
                    key=request["coupon_code"].encode("utf-8"),
                    value=encoder.encode_record_with_schema_id(writer_id, request),
                    headers={"client.id": "python-checkout"},
                    on_delivery=lambda error, message, request_id=request["request_id"]: delivered(error, message, request_id),
                )
                producer.poll(0)
    if producer.flush(30) > 0 or failures:
        print(f"not delivered: {failures[:5]}", file=sys.stderr)
        return 1

    deadline = time.monotonic() + args.timeout
    try:
        while waiting and time.monotonic() < deadline:
            message = reader.poll(0.2)
            if message is None or message.error():
                continue
            record = decoder.decode_message(message.value())
            position = (record["source_partition"], record["source_offset"])
            if position not in waiting:
                continue
            del waiting[position]
            print(json.dumps({**outcome_of(record), "request_id": record["request_id"], "record": record}, default=as_json, sort_keys=True), flush=True)
    finally:
        reader.close()
    for (partition, offset), request_id in sorted(waiting.items()):
        print(f"no decision on request {request_id} within {args.timeout} s (partition {partition}, offset {offset}): "
              "it is in Kafka and will still be decided; sending it again with the same request id is safe", file=sys.stderr)
    return 3 if waiting else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as error:
        print(f"kafka error: {error}", file=sys.stderr)
        sys.exit(1)
