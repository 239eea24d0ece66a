-- The audit stream in Flink SQL, read natively from Kafka with the schema registry.
-- NOT RUN HERE: written against Flink's documented Kafka connector and avro-confluent format (no Flink
-- in this project's stack or tests; it needs flink-sql-connector-kafka and flink-sql-avro-confluent-registry
-- on the classpath). Check it against your Flink version first: Flink derives the reader's Avro schema
-- from the table, and reads RedemptionDecided's enum fields (op, decision, reason, original_*) as STRING.
-- Broker, topic and registry are the local defaults (KAFKA_BROKERS, AUDIT_TOPIC, SCHEMA_REGISTRY_URL).

CREATE TABLE audit_stream (
  request_id        STRING NOT NULL,
  coupon_code       STRING NOT NULL,
  op                STRING NOT NULL,
  decision          STRING NOT NULL,
  reason            STRING,
  remaining_quota   BIGINT,
  source_partition  INT NOT NULL,
  source_offset     BIGINT NOT NULL,
  decided_at        TIMESTAMP_LTZ(3) NOT NULL,
  consumer_id       STRING NOT NULL,
  original_decision STRING,
  original_reason   STRING,
  user_id           STRING,
  order_id          STRING,
  campaign_id       STRING,
  amount_cents      BIGINT,
  currency          STRING,
  occurred_at       TIMESTAMP_LTZ(3),
  audit_partition   INT METADATA FROM 'partition' VIRTUAL,
  audit_offset      BIGINT METADATA FROM 'offset' VIRTUAL,
  proc_time AS PROCTIME(),
  WATERMARK FOR decided_at AS decided_at - INTERVAL '10' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'redemption.decided',
  'properties.bootstrap.servers' = 'localhost:9092',
  'properties.group.id' = 'flink-audit',
  'scan.startup.mode' = 'earliest-offset',
  'value.format' = 'avro-confluent',
  'value.avro-confluent.url' = 'http://localhost:8081'
);

-- One row per decided source record: the first of each (source_partition, source_offset), as
-- `redeem audit sink` lands them (Flink's deduplication pattern, keep-first on processing time).
CREATE VIEW decisions AS
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY source_partition, source_offset ORDER BY proc_time ASC) AS first_of_source
  FROM audit_stream
) WHERE first_of_source = 1;

-- Redemptions per campaign per hour, as a continuously updated result over `decisions` (a repeat of a
-- redelivery is not counted again).
SELECT campaign_id,
       DATE_FORMAT(decided_at, 'yyyy-MM-dd HH:00') AS hour_utc,
       COUNT(*) FILTER (WHERE op = 'REDEEM') AS redeemed,
       COUNT(*) FILTER (WHERE op = 'REVERSE') AS refunded
FROM decisions
WHERE decision = 'APPLIED'
GROUP BY campaign_id, DATE_FORMAT(decided_at, 'yyyy-MM-dd HH:00');
