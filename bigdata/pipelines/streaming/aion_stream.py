"""aionOS streaming job (PySpark Structured Streaming): Kafka -> validate ->
enrich -> ClickHouse + Parquet on S3, with a dead-letter topic.

Reads `aion.task-events` and `aion.usage` (docs/configuration.md#event-stream-kafka),
and per micro-batch:

1. validates each record: JSON object, `schemaVersion` 1, the topic's required
   fields with their types. A record that fails goes to the dead-letter topic
   (`DEAD_LETTER_TOPIC`, default `aion.dead-letter`) as
   `{"reason", "topic", "partition", "offset", "kafkaTs", "value"}`, keyed
   `topic/partition/offset` (so a replayed batch's copy can be told apart);
2. enriches: tenant (already on each record), privacy mode of the intent
   (policies/intents.yml), route class `local | api | hybrid` (a module or a
   provider marked `local` in models.yml is local; an API route of a hybrid
   intent is hybrid; else api), the usage cost as integer nano-USD;
3. writes the valid rows, as Arrow batches from each Spark partition
   (mapInArrow), to ClickHouse (`aion.task_events`, `aion.usage`, over HTTP as
   CSVWithNames) and to Parquet in object storage
   (`s3://BUCKET/PREFIX/<table>/day=YYYY-MM-DD/batch=<id>-kafka-partition=<p>.parquet`).

Restarts neither lose nor duplicate: Spark writes a batch's Kafka offsets to the
checkpoint before running it and replays exactly those offsets after a crash.
The replayed ClickHouse rows carry the same deterministic key (task_id+seq,
usage id) into a ReplacingMergeTree that every rollup reads with FINAL; the
Parquet file names are a function of (batch id, Kafka partition), so a replay
overwrites instead of adding. aiond's own at-least-once duplicates collapse by
the same keys.

Configuration (environment): KAFKA_BROKERS, CLICKHOUSE_URL, S3_ENDPOINT,
S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION (us-east-1), S3_PREFIX
(events), CHECKPOINT_DIR, AION_POLICY_DIR (policies), DEAD_LETTER_TOPIC,
TRIGGER_SECONDS (2), MAX_OFFSETS_PER_TRIGGER (50000), SPARK_KAFKA_JARS (a
folder holding spark-sql-kafka-0-10 and its dependencies; scripts/test-bigdata.sh
fills one from Maven Central).

    python bigdata/pipelines/streaming/aion_stream.py
"""
import json
import os
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

SCHEMA_VERSION = 1
TOPICS = ("aion.task-events", "aion.usage")

# Every field either topic may carry; `data` (an object) is kept as its JSON text.
RECORD = T.StructType([
    T.StructField("schemaVersion", T.LongType()),
    T.StructField("taskId", T.StringType()),
    T.StructField("seq", T.LongType()),
    T.StructField("type", T.StringType()),
    T.StructField("ts", T.LongType()),
    T.StructField("tenant", T.StringType()),
    T.StructField("intent", T.StringType()),
    T.StructField("traceId", T.StringType()),
    T.StructField("data", T.StringType()),
    T.StructField("id", T.StringType()),
    T.StructField("day", T.StringType()),
    T.StructField("keyId", T.StringType()),
    T.StructField("provider", T.StringType()),
    T.StructField("model", T.StringType()),
    T.StructField("promptTokens", T.LongType()),
    T.StructField("completionTokens", T.LongType()),
    # Read from the JSON text as a decimal (exact), then scaled to integer nano-USD.
    T.StructField("costUsd", T.DecimalType(20, 9)),
    T.StructField("estimated", T.BooleanType()),
])
DATA = T.StructType([
    T.StructField("status", T.StringType()),
    T.StructField("route", T.StringType()),
    T.StructField("queueMs", T.DoubleType()),
    T.StructField("runMs", T.DoubleType()),
    T.StructField("overheadMs", T.DoubleType()),
])
REQUIRED = {
    "aion.task-events": ["taskId", "seq", "type", "ts", "tenant", "intent"],
    "aion.usage": ["id", "taskId", "ts", "tenant", "intent", "provider", "model",
                   "promptTokens", "completionTokens", "costUsd"],
}

EVENT_COLUMNS = ["day", "ts", "ts_ms", "tenant", "intent", "task_id", "seq", "type", "status", "route",
                 "route_class", "privacy", "queue_ms", "run_ms", "overhead_ms", "trace_id", "schema_version",
                 "data", "ingested_at"]
USAGE_COLUMNS = ["day", "ts", "ts_ms", "id", "task_id", "tenant", "key_id", "intent", "provider", "model",
                 "route_class", "privacy", "prompt_tokens", "completion_tokens", "cost_nano_usd", "estimated",
                 "schema_version", "ingested_at"]


def env(name, default=None, required=False):
    v = os.environ.get(name, default)
    if required and not v:
        sys.exit(f"aion_stream: {name} is not set")
    return v


def load_policies(policy_dir):
    """(intent -> privacy mode, model -> provider, providers marked local)."""
    d = Path(policy_dir)
    intents = yaml.safe_load((d / "intents.yml").read_text()).get("intents", {})
    models = yaml.safe_load((d / "models.yml").read_text())
    privacy = {name: (spec or {}).get("privacy", "") for name, spec in intents.items()}
    provider_of = {name: (spec or {}).get("provider", "") for name, spec in models.get("models", {}).items()}
    local = sorted(name for name, spec in models.get("providers", {}).items() if (spec or {}).get("local"))
    return privacy, provider_of, local


def lookup(mapping, col):
    if not mapping:
        return F.lit("")
    pairs = [x for k, v in sorted(mapping.items()) for x in (F.lit(k), F.lit(v))]
    return F.coalesce(F.create_map(*pairs)[col], F.lit(""))


def validated(raw, policies):
    """The batch with `reason` (null when valid) and the enriched columns."""
    privacy, provider_of, local = policies
    v = F.col("value_text")
    df = raw.select(
        "topic", "partition", "offset", F.col("timestamp").alias("kafka_ts"),
        F.col("value").cast("string").alias("value_text"))
    df = df.withColumn("r", F.from_json(v, RECORD, {"mode": "PERMISSIVE"}))
    # from_json is lenient about what is not an object; json_tuple/get_json_object
    # return null for text that does not parse as a JSON object at all.
    is_object = F.trim(v).startswith("{") & F.get_json_object(v, "$").isNotNull()
    reason = F.when(v.isNull() | ~is_object, F.lit("malformed JSON"))
    sv = F.get_json_object(v, "$.schemaVersion")
    reason = reason.when(F.col("r.schemaVersion").isNull() & sv.isNull(), F.lit("missing schemaVersion"))
    reason = reason.when(F.coalesce(F.col("r.schemaVersion"), F.lit(-1)) != SCHEMA_VERSION,
                         F.concat(F.lit("unsupported schemaVersion "), F.coalesce(sv, F.lit("?"))))
    for topic, fields in REQUIRED.items():
        for f in fields:
            # null after parsing: absent, JSON null, or of the wrong type
            reason = reason.when((F.col("topic") == topic) & F.col(f"r.{f}").isNull(),
                                 F.lit(f"{topic}: field {f} missing or not of its type"))
    reason = reason.when((F.col("topic") == "aion.task-events") & (F.col("r.seq") < 1),
                         F.lit("aion.task-events: seq must be >= 1"))
    reason = reason.when((F.col("topic") == "aion.usage") & (F.col("r.costUsd") < 0),
                         F.lit("aion.usage: negative costUsd"))
    df = df.withColumn("reason", reason)

    d = F.from_json(F.col("r.data"), DATA)
    route = F.coalesce(d["route"], F.lit(""))
    intent_privacy = lookup(privacy, F.col("r.intent"))
    provider = F.when(route.startswith("model:"), lookup(provider_of, F.substring(route, 7, 1000))) \
        .otherwise(F.coalesce(F.col("r.provider"), F.lit("")))
    is_local_provider = provider.isin(*local) if local else F.lit(False)
    route_class = (F.when(F.col("topic") == "aion.task-events", F.when(route == "", F.lit(""))
                          .when(route.startswith("module:") | is_local_provider, F.lit("local"))
                          .when(intent_privacy == "hybrid", F.lit("hybrid")).otherwise(F.lit("api")))
                   .otherwise(F.when(is_local_provider, F.lit("local"))
                              .when(intent_privacy == "hybrid", F.lit("hybrid")).otherwise(F.lit("api"))))
    ts_s = (F.col("r.ts") / 1000).cast("long")
    return (df.withColumn("d", d).withColumn("route", route).withColumn("privacy", intent_privacy)
            .withColumn("route_class", route_class)
            .withColumn("ts_s", ts_s)
            .withColumn("day_s", F.from_unixtime(ts_s, "yyyy-MM-dd")))


# Where each row came from: kept in Parquet (lineage; names the files), not sent to ClickHouse.
def provenance():
    return [F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset")]


def event_rows(df, now):
    return df.select(
        F.col("day_s").alias("day"), F.from_unixtime("ts_s", "yyyy-MM-dd HH:mm:ss").alias("ts"),
        F.col("r.ts").alias("ts_ms"), F.col("r.tenant").alias("tenant"), F.col("r.intent").alias("intent"),
        F.col("r.taskId").alias("task_id"), F.col("r.seq").alias("seq"), F.col("r.type").alias("type"),
        F.coalesce(F.col("d.status"), F.lit("")).alias("status"), "route", "route_class", "privacy",
        F.coalesce(F.col("d.queueMs"), F.lit(0.0)).alias("queue_ms"),
        F.coalesce(F.col("d.runMs"), F.lit(0.0)).alias("run_ms"),
        F.coalesce(F.col("d.overheadMs"), F.lit(0.0)).alias("overhead_ms"),
        F.coalesce(F.col("r.traceId"), F.lit("")).alias("trace_id"),
        F.col("r.schemaVersion").alias("schema_version"), F.coalesce(F.col("r.data"), F.lit("{}")).alias("data"),
        F.lit(now).alias("ingested_at"), *provenance())


def usage_rows(df, now):
    return df.select(
        # The record's own `day` is the one aiond bills by; it equals ts's UTC day.
        F.coalesce(F.col("r.day"), F.col("day_s")).alias("day"),
        F.from_unixtime("ts_s", "yyyy-MM-dd HH:mm:ss").alias("ts"), F.col("r.ts").alias("ts_ms"),
        F.col("r.id").alias("id"), F.col("r.taskId").alias("task_id"), F.col("r.tenant").alias("tenant"),
        F.coalesce(F.col("r.keyId"), F.lit("")).alias("key_id"), F.col("r.intent").alias("intent"),
        F.col("r.provider").alias("provider"), F.col("r.model").alias("model"), "route_class", "privacy",
        F.col("r.promptTokens").alias("prompt_tokens"), F.col("r.completionTokens").alias("completion_tokens"),
        (F.col("r.costUsd") * F.lit(1000000000)).cast("long").alias("cost_nano_usd"),
        F.when(F.coalesce(F.col("r.estimated"), F.lit(False)), 1).otherwise(0).alias("estimated"),
        F.col("r.schemaVersion").alias("schema_version"), F.lit(now).alias("ingested_at"), *provenance())


def clickhouse_insert(url, table, columns, csv_body):
    """One INSERT over HTTP (CSVWithNames: 18.16 reads neither Arrow nor
    Parquet); raises on any error (the batch then fails and Spark retries it
    from the same offsets)."""
    u = urllib.parse.urlsplit(url)
    base = f"{u.scheme or 'http'}://{u.hostname}:{u.port or 8123}/"
    headers = {}
    if u.username:
        headers = {"X-ClickHouse-User": urllib.parse.unquote(u.username),
                   "X-ClickHouse-Key": urllib.parse.unquote(u.password or "")}
    q = urllib.parse.urlencode({"query": f"INSERT INTO {table} ({', '.join(columns)}) FORMAT CSVWithNames"})
    req = urllib.request.Request(base + "?" + q, data=csv_body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            resp.read()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"ClickHouse insert into {table}: {e.read().decode(errors='replace')[:500]}") from None


def s3_filesystem(cfg):
    """pyarrow's S3 client: SigV4, path-style whenever an endpoint is given
    (MinIO and SeaweedFS both take that)."""
    from pyarrow import fs
    endpoint = cfg["s3_endpoint"]
    scheme = "https" if endpoint.startswith("https://") else "http"
    host = endpoint.split("://", 1)[-1].rstrip("/")
    return fs.S3FileSystem(access_key=cfg["s3_access_key"], secret_key=cfg["s3_secret_key"],
                           endpoint_override=host, scheme=scheme, region=cfg["s3_region"],
                           force_virtual_addressing=False)


def parquet_write(cfg, table, data, batch_id):
    """An Arrow table -> one Parquet file per (day, Kafka partition), named by
    the batch and the Kafka partition: a replayed batch rewrites the same files."""
    if not data.num_rows or not cfg.get("s3_endpoint"):
        return
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    s3 = s3_filesystem(cfg)
    keys = data.select(["day", "kafka_partition"]).group_by(["day", "kafka_partition"]).aggregate([])
    for day, kp in sorted(zip(keys.column("day").to_pylist(), keys.column("kafka_partition").to_pylist())):
        part = data.filter(pc.and_(pc.equal(data["day"], day), pc.equal(data["kafka_partition"], kp)))
        path = (f"{cfg['s3_bucket']}/{cfg['s3_prefix']}/{table}/day={day}/"
                f"batch={batch_id:010d}-kafka-partition={kp:04d}.parquet")
        pq.write_table(part, path, filesystem=s3, compression="zstd")


def make_sink(cfg, batch_id, table, columns):
    """For mapInArrow: one Spark partition's rows arrive as Arrow record batches
    (no per-row Python objects); they go to ClickHouse as CSV and to Parquet as
    they are, and the partition answers with its row count."""
    def sink(batches):
        import io
        import pyarrow as pa
        import pyarrow.csv as pacsv
        batches = list(batches)
        n = sum(b.num_rows for b in batches)
        if n:
            data = pa.Table.from_batches(batches)
            buf = io.BytesIO()
            pacsv.write_csv(data.select(columns), buf, pacsv.WriteOptions(include_header=True))
            clickhouse_insert(cfg["clickhouse_url"], f"aion.{table}", columns, buf.getvalue())
            parquet_write(cfg, table, data, batch_id)
        yield pa.RecordBatch.from_pydict({"rows": pa.array([n], type=pa.int64())})
    return sink


def written(df, sink):
    """Runs the sink on every partition; the number of rows written."""
    return df.mapInArrow(sink, "rows long").agg(F.sum("rows")).collect()[0][0] or 0


def process_batch(cfg, policies):
    def run(batch, batch_id):
        t0 = time.monotonic()
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        df = validated(batch, policies).persist()
        try:
            bad = df.filter(F.col("reason").isNotNull())
            good = df.filter(F.col("reason").isNull())
            n_bad = bad.count()
            if n_bad:
                (bad.select(F.concat_ws("/", "topic", "partition", "offset").alias("key"),
                            F.to_json(F.struct("reason", "topic", "partition", "offset",
                                               F.col("kafka_ts").cast("string").alias("kafkaTs"),
                                               F.col("value_text").alias("value"))).alias("value"))
                 .write.format("kafka").option("kafka.bootstrap.servers", cfg["brokers"])
                 .option("topic", cfg["dead_letter_topic"]).save())
            events = event_rows(good.filter(F.col("topic") == "aion.task-events"), now)
            usage = usage_rows(good.filter(F.col("topic") == "aion.usage"), now)
            n_events = written(events, make_sink(cfg, batch_id, "task_events", EVENT_COLUMNS))
            n_usage = written(usage, make_sink(cfg, batch_id, "usage", USAGE_COLUMNS))
            print(json.dumps({"batch": batch_id, "events": n_events, "usage": n_usage, "deadLetter": n_bad,
                              "seconds": round(time.monotonic() - t0, 3)}), flush=True)
        finally:
            df.unpersist()
    return run


def spark_session(jars_dir):
    jars = ",".join(str(p) for p in sorted(Path(jars_dir).glob("*.jar"))) if jars_dir else ""
    b = (SparkSession.builder.appName("aion-stream")
         .master(env("SPARK_MASTER", "local[2]"))
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.memory", env("SPARK_DRIVER_MEMORY", "768m"))
         .config("spark.sql.streaming.stopGracefullyOnShutdown", "true"))
    if jars:
        b = b.config("spark.jars", jars)
    return b.getOrCreate()


def main():
    cfg = {
        "brokers": env("KAFKA_BROKERS", required=True),
        "clickhouse_url": env("CLICKHOUSE_URL", required=True),
        "s3_endpoint": env("S3_ENDPOINT", ""),
        "s3_bucket": env("S3_BUCKET", "aion-analytics"),
        "s3_prefix": env("S3_PREFIX", "events"),
        "s3_access_key": env("S3_ACCESS_KEY", ""),
        "s3_secret_key": env("S3_SECRET_KEY", ""),
        "s3_region": env("S3_REGION", "us-east-1"),
        "dead_letter_topic": env("DEAD_LETTER_TOPIC", "aion.dead-letter"),
    }
    policies = load_policies(env("AION_POLICY_DIR", str(Path(__file__).resolve().parents[3] / "policies")))
    spark = spark_session(env("SPARK_KAFKA_JARS", ""))
    spark.sparkContext.setLogLevel(env("SPARK_LOG_LEVEL", "WARN"))
    raw = (spark.readStream.format("kafka")
           .option("kafka.bootstrap.servers", cfg["brokers"])
           .option("subscribe", ",".join(TOPICS))
           .option("startingOffsets", "earliest")
           .option("failOnDataLoss", "true")
           .option("maxOffsetsPerTrigger", env("MAX_OFFSETS_PER_TRIGGER", "50000"))
           .load())
    query = (raw.writeStream.foreachBatch(process_batch(cfg, policies))
             .option("checkpointLocation", env("CHECKPOINT_DIR", required=True))
             .trigger(processingTime=f"{env('TRIGGER_SECONDS', '2')} seconds")
             .start())
    print(json.dumps({"started": query.id, "topics": TOPICS}), flush=True)
    query.awaitTermination()


if __name__ == "__main__":
    main()
