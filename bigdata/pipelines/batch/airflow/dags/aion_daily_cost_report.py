"""Daily cost report per tenant: CSV + Parquet to object storage
(reports/cost/day=DS/). aion_batch.jobs.daily_cost_report does the work."""
import datetime as dt
import os

from airflow.sdk import dag, task


@dag(dag_id="aion_daily_cost_report", schedule="@daily", start_date=dt.datetime(2026, 1, 1),
     catchup=False, max_active_runs=1, tags=["aionos", "bigdata"],
     default_args={"retries": int(os.environ.get("AION_DAG_RETRIES", "2")), "retry_delay": dt.timedelta(minutes=5)})
def aion_daily_cost_report():
    @task
    def report(ds=None):
        from aion_batch.jobs import daily_cost_report
        return daily_cost_report(ds)

    report()


aion_daily_cost_report()
