"""The work of the aionOS batch DAGs, as plain functions (the DAG files only
schedule them): ClickHouse over HTTP, object storage through pyarrow's S3
client (SigV4, path-style: MinIO and SeaweedFS), alerts to Kafka.

Configuration (environment of the Airflow workers): CLICKHOUSE_URL,
S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_PREFIX
(events: where the streaming job writes Parquet), KAFKA_BROKERS,
ALERTS_TOPIC (aion.alerts), and the knobs named in each function.
"""
