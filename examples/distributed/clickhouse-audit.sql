-- The audit stream in ClickHouse, read natively from Kafka with the schema registry.
-- NOT RUN HERE: written against ClickHouse's documented Kafka table engine and AvroConfluent format
-- (no ClickHouse in this project's stack or tests). Check it against your ClickHouse version first.
-- Broker, topic and registry are the local defaults (KAFKA_BROKERS, AUDIT_TOPIC, SCHEMA_REGISTRY_URL).

-- 1. The topic as a stream: each row read once by the group `clickhouse-audit`. Columns by the field
--    names of RedemptionDecided (schemas/redemption-decided.avsc, version 2); Avro enums read as String,
--    timestamp-millis as DateTime64(3). Version-1 records have the version-2 fields null.
CREATE TABLE audit_queue
(
    request_id        String,
    coupon_code       String,
    op                String,
    decision          String,
    reason            Nullable(String),
    remaining_quota   Nullable(Int64),
    source_partition  Int32,
    source_offset     Int64,
    decided_at        DateTime64(3, 'UTC'),
    consumer_id       String,
    original_decision Nullable(String),
    original_reason   Nullable(String),
    user_id           Nullable(String),
    order_id          Nullable(String),
    campaign_id       Nullable(String),
    amount_cents      Nullable(Int64),
    currency          Nullable(String),
    occurred_at       Nullable(DateTime64(3, 'UTC'))
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'localhost:9092',
         kafka_topic_list = 'redemption.decided',
         kafka_group_name = 'clickhouse-audit',
         kafka_format = 'AvroConfluent',
         format_avro_schema_registry_url = 'http://localhost:8081',
         kafka_num_consumers = 1;

-- 2. The same table as `redeem audit query`'s `decisions` view: one row per decided source record.
--    A redelivery's repeats share (source_partition, source_offset) and are identical; the
--    ReplacingMergeTree folds them on merge, and FINAL (or GROUP BY the key) folds them at query time.
CREATE TABLE decisions
(
    request_id        String,
    coupon_code       String,
    op                LowCardinality(String),
    decision          LowCardinality(String),
    reason            LowCardinality(Nullable(String)),
    remaining_quota   Nullable(Int64),
    original_decision LowCardinality(Nullable(String)),
    original_reason   LowCardinality(Nullable(String)),
    user_id           Nullable(String),
    order_id          Nullable(String),
    campaign_id       LowCardinality(Nullable(String)),
    amount_cents      Nullable(Int64),
    currency          LowCardinality(Nullable(String)),
    occurred_at       Nullable(DateTime64(3, 'UTC')),
    decided_at        DateTime64(3, 'UTC'),
    consumer_id       String,
    source_partition  Int32,
    source_offset     Int64,
    audit_partition   Int32,
    audit_offset      Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(decided_at)
ORDER BY (source_partition, source_offset);

CREATE MATERIALIZED VIEW audit_to_decisions TO decisions AS
SELECT request_id, coupon_code, op, decision, reason, remaining_quota, original_decision, original_reason,
       user_id, order_id, campaign_id, amount_cents, currency, occurred_at, decided_at, consumer_id,
       source_partition, source_offset, _partition AS audit_partition, toInt64(_offset) AS audit_offset
FROM audit_queue;

-- 3. The analyst's first question there: redemptions per campaign per hour, yesterday.
SELECT campaign_id,
       toHour(decided_at) AS hour,
       countIf(op = 'REDEEM') AS redeemed,
       countIf(op = 'REVERSE') AS refunded,
       countIf(op = 'REDEEM') - countIf(op = 'REVERSE') AS net
FROM decisions FINAL
WHERE decision = 'APPLIED' AND toDate(decided_at) = yesterday()
GROUP BY campaign_id, hour
ORDER BY campaign_id, hour;
