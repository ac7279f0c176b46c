"""The three batch jobs. Each takes the logical day (YYYY-MM-DD), is safe to
re-run for the same day (it rewrites the same objects / the same alert keys),
and returns a small summary (an XCom)."""
import csv
import datetime as dt
import io as _io  # the standard library
import time

from aion_batch.clients import bucket_path, clickhouse, env, kafka_produce, list_files, put_text, quote, rows, s3

REPORT_COLUMNS = ["day", "tenant", "calls", "prompt_tokens", "completion_tokens", "cost_nano_usd", "cost_usd"]


def usd(nano):
    """Exact decimal text of an integer nano-USD amount."""
    sign = "-" if nano < 0 else ""
    q, r = divmod(abs(int(nano)), 10 ** 9)
    return f"{sign}{q}.{r:09d}"


def daily_cost_report(day):
    """What each tenant spent on `day`: reports/cost/day=DAY/cost_by_tenant.csv
    (one row per tenant) and cost_by_model.parquet (tenant x provider x model),
    from the aion.cost_daily rollup."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    detail = rows(f"SELECT tenant, provider, model, calls, prompt_tokens, completion_tokens, cost_nano_usd "
                  f"FROM aion.cost_daily WHERE day = {quote(day)} ORDER BY tenant, provider, model")
    per_tenant = {}
    for r in detail:
        t = per_tenant.setdefault(r["tenant"], [0, 0, 0, 0])
        for i, k in enumerate(("calls", "prompt_tokens", "completion_tokens", "cost_nano_usd")):
            t[i] += int(r[k])
    out = _io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(REPORT_COLUMNS)
    for tenant in sorted(per_tenant):
        calls, p, c, nano = per_tenant[tenant]
        w.writerow([day, tenant, calls, p, c, nano, usd(nano)])
    fs_ = s3()
    prefix = f"reports/cost/day={day}"
    put_text(fs_, f"{prefix}/cost_by_tenant.csv", out.getvalue())
    table = pa.Table.from_pylist(
        [{"day": day, "tenant": r["tenant"], "provider": r["provider"], "model": r["model"],
          "calls": int(r["calls"]), "prompt_tokens": int(r["prompt_tokens"]),
          "completion_tokens": int(r["completion_tokens"]), "cost_nano_usd": int(r["cost_nano_usd"])}
         for r in detail],
        schema=pa.schema([("day", pa.string()), ("tenant", pa.string()), ("provider", pa.string()),
                          ("model", pa.string()), ("calls", pa.int64()), ("prompt_tokens", pa.int64()),
                          ("completion_tokens", pa.int64()), ("cost_nano_usd", pa.int64())]))
    pq.write_table(table, bucket_path(f"{prefix}/cost_by_model.parquet"), filesystem=fs_)
    return {"day": day, "tenants": len(per_tenant), "rows": len(detail),
            "costNanoUsd": sum(t[3] for t in per_tenant.values())}


def budget_anomalies(day):
    """Tenants whose spend on `day` exceeds BUDGET_ANOMALY_FACTOR (3) times their
    trailing average over the BUDGET_TRAILING_DAYS (7) days before it (days
    without spend count as 0), with a floor of BUDGET_ANOMALY_FLOOR_NANO_USD
    (1,000,000 = 0.001 USD) under the average so pennies never alert. Each one
    is an alert event on ALERTS_TOPIC, keyed by tenant, with the id
    `budget_anomaly/TENANT/DAY` (a re-run sends the same ids: consumers dedupe)."""
    factor = float(env("BUDGET_ANOMALY_FACTOR", "3"))
    trailing = int(env("BUDGET_TRAILING_DAYS", "7"))
    floor = int(env("BUDGET_ANOMALY_FLOOR_NANO_USD", "1000000"))
    d = dt.date.fromisoformat(day)
    start = d - dt.timedelta(days=trailing)
    spend = rows(
        f"SELECT tenant, sumIf(cost_nano_usd, day = {quote(day)}) AS today, "
        f"sumIf(cost_nano_usd, day < {quote(day)}) AS history "
        f"FROM aion.cost_daily WHERE day >= {quote(start.isoformat())} AND day <= {quote(day)} "
        f"GROUP BY tenant ORDER BY tenant")
    alerts = []
    for r in spend:
        today, history = int(r["today"]), int(r["history"])
        avg = history / trailing
        if today > factor * max(avg, floor):
            alerts.append({
                "schemaVersion": 1, "type": "budget_anomaly", "id": f"budget_anomaly/{r['tenant']}/{day}",
                "tenant": r["tenant"], "day": day, "spendNanoUsd": today, "spendUsd": usd(today),
                "trailingAvgNanoUsd": round(avg), "trailingDays": trailing, "factor": factor,
                "ratio": round(today / avg, 3) if avg else None, "ts": int(time.time() * 1000)})
    if alerts:
        kafka_produce(env("ALERTS_TOPIC", "aion.alerts"), [(a["tenant"], a) for a in alerts])
    return {"day": day, "tenants": len(spend), "alerts": [a["tenant"] for a in alerts]}


KEYS = {"task_events": ["task_id", "seq"], "usage": ["id"]}
RETENTION = {"task_events": ("RETENTION_DAYS_TASK_EVENTS", "90"), "usage": ("RETENTION_DAYS_USAGE", "400")}


def compact_parquet(day):
    """Rewrites each table's Parquet files of `day` (many small ones, one per
    streaming batch and Kafka partition) as one `compacted.parquet`, keeping one
    row per key (the latest ingested_at), then deletes the inputs. Re-running
    reads the compacted file with any newer small files, so it converges."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    fs_ = s3()
    prefix = env("S3_PREFIX", "events")
    summary = {"day": day}
    for table, key in KEYS.items():
        files = [f for f in list_files(fs_, f"{prefix}/{table}/day={day}") if f.endswith(".parquet")]
        if not files:
            summary[table] = {"files": 0, "rows": 0}
            continue
        tables = [pq.read_table(f, filesystem=fs_) for f in files]
        merged = pa.concat_tables(tables, promote_options="permissive")
        latest = {}
        for i, r in enumerate(merged.select(key + ["ingested_at"]).to_pylist()):
            k = tuple(r[c] for c in key)
            if k not in latest or r["ingested_at"] >= latest[k][0]:
                latest[k] = (r["ingested_at"], i)
        keep = sorted(i for _, i in latest.values())
        out = merged.take(pa.array(keep, type=pa.int64())).sort_by([(c, "ascending") for c in key])
        target = bucket_path(f"{prefix}/{table}/day={day}/compacted.parquet")
        pq.write_table(out, target, filesystem=fs_, compression="zstd")
        for f in files:
            if f != target:
                fs_.delete_file(f)
        summary[table] = {"files": len(files), "rows": merged.num_rows, "kept": out.num_rows}
    return summary


def enforce_retention(day):
    """ClickHouse 18.16 has no TTL clause: drops the day partitions older than
    RETENTION_DAYS_TASK_EVENTS (90) / RETENTION_DAYS_USAGE (400) days before `day`."""
    d = dt.date.fromisoformat(day)
    dropped = {}
    for table, (var, default) in RETENTION.items():
        cutoff = d - dt.timedelta(days=int(env(var, default)))
        parts = rows(f"SELECT DISTINCT partition FROM system.parts WHERE database = 'aion' "
                     f"AND table = {quote(table)} AND active")
        old = sorted(p["partition"].strip("'") for p in parts if p["partition"].strip("'") < cutoff.isoformat())
        for p in old:
            clickhouse(f"ALTER TABLE aion.{table} DROP PARTITION {quote(p)}")
        dropped[table] = old
    return dropped
