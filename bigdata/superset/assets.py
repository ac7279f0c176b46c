#!/usr/bin/env python3
"""The Superset assets of the Big Data Edition, written as Superset's export
format (v1 YAML: metadata, database, datasets, charts, dashboard) under
bigdata/superset/export/, and zipped for `superset import-dashboards`.

    bigdata/superset/assets.py write        # regenerate export/ from the spec below
    bigdata/superset/assets.py zip OUT.zip  # export/ as the ZIP Superset imports
    bigdata/superset/assets.py queries      # each chart's query as SQL (JSON), for tests

Four views over the ClickHouse rollups (docs/bigdata.md): spend, latency,
routing and module usage. The database points at CLICKHOUSE_URL through the
clickhouse-connect SQLAlchemy dialect (`clickhousedb://`); its password is
never exported (Superset asks for it, or `--passwords` supplies it).
"""
import json
import sys
import uuid
import zipfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
EXPORT = HERE / "export"
ROOT = "aionos_bigdata_export"
NS = uuid.UUID("6a5b1f0e-8f43-4c1e-9b55-2f7b8c0d1a11")


def uid(name):
    return str(uuid.uuid5(NS, name))


DATABASE = {"database_name": "aionOS ClickHouse", "sqlalchemy_uri": "clickhousedb://aion@clickhouse:8123/aion"}

# dataset name -> (SQL, time column, {column: type}, {metric: expression}). A metric is never
# named like a column: ClickHouse 18.16 would resolve max(p95_ms) AS p95_ms to itself.
DATASETS = {
    "spend_daily": (
        "SELECT day, tenant, provider, model, calls, prompt_tokens, completion_tokens, cost_nano_usd\n"
        "FROM aion.cost_daily",
        "day",
        {"day": "DATE", "tenant": "STRING", "provider": "STRING", "model": "STRING", "calls": "UINT64",
         "prompt_tokens": "UINT64", "completion_tokens": "UINT64", "cost_nano_usd": "INT64"},
        {"cost_usd": "sum(cost_nano_usd) / 1000000000", "call_count": "sum(calls)",
         "token_count": "sum(prompt_tokens + completion_tokens)"}),
    "latency_hourly": (
        "SELECT hour, route, route_class, tasks, p50_ms, p95_ms, p99_ms, max_ms\nFROM aion.latency_hourly",
        "hour",
        {"hour": "DATETIME", "route": "STRING", "route_class": "STRING", "tasks": "UINT64", "p50_ms": "FLOAT64",
         "p95_ms": "FLOAT64", "p99_ms": "FLOAT64", "max_ms": "UINT64"},
        {"p95_latency_ms": "max(p95_ms)", "p50_latency_ms": "max(p50_ms)", "task_count": "sum(tasks)"}),
    "routing_daily": (
        "SELECT toDate(finished_at) AS day, intent, route, route_class, privacy, outcome, count() AS tasks\n"
        "FROM aion.task_outcomes\nGROUP BY day, intent, route, route_class, privacy, outcome",
        "day",
        {"day": "DATE", "intent": "STRING", "route": "STRING", "route_class": "STRING", "privacy": "STRING",
         "outcome": "STRING", "tasks": "UINT64"},
        {"task_count": "sum(tasks)"}),
    "module_usage_daily": (
        "SELECT day, module, tasks, succeeded\nFROM aion.module_usage_daily",
        "day",
        {"day": "DATE", "module": "STRING", "tasks": "UINT64", "succeeded": "UINT64"},
        {"task_count": "sum(tasks)", "succeeded_count": "sum(succeeded)"}),
}

# chart title -> (dataset, viz_type, group-by columns, metrics, x axis or None)
CHARTS = {
    "Spend per tenant (USD/day)": ("spend_daily", "echarts_timeseries_bar", ["tenant"], ["cost_usd"], "day"),
    "Spend by provider and model": ("spend_daily", "table", ["provider", "model"], ["cost_usd", "call_count", "token_count"],
                                    None),
    "Latency p95 per route (ms, hourly)": ("latency_hourly", "echarts_timeseries_line", ["route"], ["p95_latency_ms"],
                                           "hour"),
    "Routing: tasks per route class": ("routing_daily", "pie", ["route_class"], ["task_count"], None),
    "Outcomes per intent": ("routing_daily", "table", ["intent", "outcome"], ["task_count"], None),
    "Module usage (tasks/day)": ("module_usage_daily", "echarts_timeseries_bar", ["module"], ["task_count"], "day"),
}


def metric(dataset, name):
    return {"expressionType": "SQL", "sqlExpression": DATASETS[dataset][3][name], "label": name}


def chart_params(title, dataset, viz, groupby, metrics, x):
    p = {"datasource": f"__{dataset}", "viz_type": viz, "adhoc_filters": [], "row_limit": 10000,
         "time_range": "No filter"}
    if viz == "table":
        p.update({"query_mode": "aggregate", "groupby": groupby, "metrics": [metric(dataset, m) for m in metrics]})
    elif viz == "pie":
        p.update({"groupby": groupby, "metric": metric(dataset, metrics[0])})
    else:
        p.update({"x_axis": x, "time_grain_sqla": "P1D" if x == "day" else "PT1H", "groupby": groupby,
                  "metrics": [metric(dataset, m) for m in metrics]})
    return p


def chart_query(title):
    """The SQL the chart asks of ClickHouse (its aggregate over the dataset)."""
    dataset, viz, groupby, metrics, x = CHARTS[title]
    cols = ([x] if x else []) + groupby
    exprs = [f"{DATASETS[dataset][3][m]} AS {m}" for m in metrics]
    return (f"SELECT {', '.join(cols + exprs)} FROM ({DATASETS[dataset][0]}) AS virtual_table "
            f"GROUP BY {', '.join(cols)} ORDER BY {', '.join(cols)} LIMIT 10000")


def files():
    db_uuid = uid("database")
    out = {"metadata.yaml": {"version": "1.0.0", "type": "Dashboard", "timestamp": "2026-12-02T00:00:00+00:00"},
           "databases/aionOS_ClickHouse.yaml": {
               **DATABASE, "cache_timeout": None, "expose_in_sqllab": True, "allow_run_async": False,
               "allow_ctas": False, "allow_cvas": False, "allow_dml": False, "allow_file_upload": False,
               "extra": {"allows_virtual_table_explore": True}, "uuid": db_uuid, "version": "1.0.0"}}
    for name, (sql, dttm, columns, metrics) in DATASETS.items():
        out[f"datasets/aionOS_ClickHouse/{name}.yaml"] = {
            "table_name": name, "main_dttm_col": dttm, "description": None, "default_endpoint": None,
            "offset": 0, "cache_timeout": None, "schema": "aion", "sql": sql, "params": None,
            "template_params": None, "filter_select_enabled": True, "fetch_values_predicate": None,
            "extra": None, "normalize_columns": False, "always_filter_main_dttm": False,
            "uuid": uid(f"dataset:{name}"),
            "metrics": [{"metric_name": m, "verbose_name": m, "metric_type": None, "expression": e,
                         "description": None, "d3format": None, "extra": None, "warning_text": None}
                        for m, e in metrics.items()],
            "columns": [{"column_name": c, "verbose_name": None, "is_dttm": t in ("DATE", "DATETIME"),
                         "is_active": True, "type": t, "advanced_data_type": None, "groupby": True,
                         "filterable": True, "expression": None, "description": None,
                         "python_date_format": None, "extra": None} for c, t in columns.items()],
            "version": "1.0.0", "database_uuid": db_uuid}
    position = {"DASHBOARD_VERSION_KEY": "v2", "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
                "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
                "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": "aionOS analytics"}}}
    for i, (title, spec) in enumerate(CHARTS.items()):
        slug = "".join(ch if ch.isalnum() else "_" for ch in title).strip("_")
        cuid = uid(f"chart:{title}")
        out[f"charts/{slug}_{i + 1}.yaml"] = {
            "slice_name": title, "description": None, "certified_by": None, "certification_details": None,
            "viz_type": spec[1], "params": chart_params(title, *spec), "query_context": None,
            "cache_timeout": None, "uuid": cuid, "version": "1.0.0", "dataset_uuid": uid(f"dataset:{spec[0]}")}
        row = f"ROW-{i // 2}"
        if row not in position:
            position[row] = {"type": "ROW", "id": row, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                             "meta": {"background": "BACKGROUND_TRANSPARENT"}}
            position["GRID_ID"]["children"].append(row)
        cid = f"CHART-{i + 1}"
        position[row]["children"].append(cid)
        position[cid] = {"type": "CHART", "id": cid, "children": [], "parents": ["ROOT_ID", "GRID_ID", row],
                         "meta": {"width": 6, "height": 50, "chartId": i + 1, "uuid": cuid, "sliceName": title}}
    out["dashboards/aionOS_analytics.yaml"] = {
        "dashboard_title": "aionOS analytics: spend, latency, routing, modules", "description": None, "css": "",
        "slug": "aionos-analytics", "certified_by": None, "certification_details": None, "published": True,
        "uuid": uid("dashboard"), "position": position,
        "metadata": {"color_scheme": "", "refresh_frequency": 0, "expanded_slices": {}, "label_colors": {},
                     "timed_refresh_immune_slices": [], "cross_filters_enabled": True, "default_filters": "{}",
                     "chart_configuration": {}, "native_filter_configuration": []},
        "version": "1.0.0"}
    return out


def dump(doc):
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def main():
    op = sys.argv[1] if len(sys.argv) > 1 else "write"
    if op == "write":
        for rel, doc in files().items():
            p = EXPORT / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(dump(doc))
    elif op == "zip":
        with zipfile.ZipFile(sys.argv[2], "w") as z:
            for p in sorted(EXPORT.rglob("*.yaml")):
                z.write(p, f"{ROOT}/{p.relative_to(EXPORT)}")
    elif op == "queries":
        print(json.dumps({t: chart_query(t) for t in CHARTS}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
