"""Budget anomaly detection: each tenant's spend of the day against its
trailing average; alert events to Kafka (ALERTS_TOPIC, default aion.alerts).
aion_batch.jobs.budget_anomalies does the work."""
import datetime as dt
import os

from airflow.sdk import dag, task


@dag(dag_id="aion_budget_anomaly", schedule="@daily", start_date=dt.datetime(2026, 1, 1),
     catchup=False, max_active_runs=1, tags=["aionos", "bigdata"],
     default_args={"retries": int(os.environ.get("AION_DAG_RETRIES", "2")), "retry_delay": dt.timedelta(minutes=5)})
def aion_budget_anomaly():
    @task
    def detect(ds=None):
        from aion_batch.jobs import budget_anomalies
        return budget_anomalies(ds)

    detect()


aion_budget_anomaly()
