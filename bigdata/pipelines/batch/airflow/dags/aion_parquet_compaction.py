"""Compaction of the day's Parquet (one file per table and day instead of one
per streaming batch and Kafka partition), then the ClickHouse retention that
stands in for TTL (18.16 has none). aion_batch.jobs does the work."""
import datetime as dt
import os

from airflow.sdk import dag, task


@dag(dag_id="aion_parquet_compaction", schedule="@daily", start_date=dt.datetime(2026, 1, 1),
     catchup=False, max_active_runs=1, tags=["aionos", "bigdata"],
     default_args={"retries": int(os.environ.get("AION_DAG_RETRIES", "2")), "retry_delay": dt.timedelta(minutes=5)})
def aion_parquet_compaction():
    @task
    def compact(ds=None):
        from aion_batch.jobs import compact_parquet
        return compact_parquet(ds)

    @task
    def retention(ds=None):
        from aion_batch.jobs import enforce_retention
        return enforce_retention(ds)

    compact() >> retention()


aion_parquet_compaction()
