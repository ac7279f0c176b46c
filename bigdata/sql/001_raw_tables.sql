-- 001: raw task events and usage records, one row per Kafka record.
-- ClickHouse 18.16 (Debian 12): no TTL clause, no LowCardinality without a flag,
-- no DateTime64; see bigdata/sql/README.md for what each choice answers.
--
-- Exactly once: the streaming job may insert a record twice (a micro-batch
-- replayed after a crash; aiond's relay is at-least-once too). Each table is a
-- ReplacingMergeTree whose ORDER BY is the record's deterministic key, and every
-- rollup reads it with FINAL, so a duplicate never counts twice.

CREATE TABLE IF NOT EXISTS aion.task_events
(
    day            Date,                 -- UTC day of ts: the partition
    ts             DateTime,             -- event time, seconds (UTC)
    ts_ms          UInt64,               -- event time, milliseconds since the epoch
    tenant         String,
    intent         String,
    task_id        String,
    seq            UInt32,               -- per task, gap-free: (task_id, seq) is the key
    type           String,               -- status, route, delta, result, done, ...
    status         String,               -- data.status ('' when the event has none)
    route          String,               -- data.route, e.g. module:summarize, model:gpt-4o-mini
    route_class    String,               -- enrichment: local | api | hybrid
    privacy        String,               -- enrichment: the intent's privacy mode
    queue_ms       Float64,              -- done events: data.queueMs
    run_ms         Float64,              -- done events: data.runMs
    overhead_ms    Float64,              -- done events: data.overheadMs
    trace_id       String,
    schema_version UInt16,
    data           String,               -- data, as JSON text
    ingested_at    DateTime              -- when the job wrote it (the replacing version)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY day
ORDER BY (tenant, intent, task_id, seq);

CREATE TABLE IF NOT EXISTS aion.usage
(
    day               Date,
    ts                DateTime,
    ts_ms             UInt64,
    id                String,            -- unique per model call: the key
    task_id           String,
    tenant            String,
    key_id            String,
    intent            String,
    provider          String,
    model             String,
    route_class       String,            -- enrichment: local | api | hybrid
    privacy           String,            -- enrichment: the intent's privacy mode
    prompt_tokens     UInt64,
    completion_tokens UInt64,
    cost_nano_usd     Int64,             -- costUsd in integer nano-USD, as aiond keeps it: sums are exact
    estimated         UInt8,
    schema_version    UInt16,
    ingested_at       DateTime
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY day
ORDER BY (tenant, provider, model, id);
