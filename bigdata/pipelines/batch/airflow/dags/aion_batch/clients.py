"""ClickHouse, S3 and Kafka clients of the batch jobs."""
import json
import os
import urllib.error
import urllib.parse
import urllib.request


def env(name, default=None):
    v = os.environ.get(name, default)
    if v is None:
        raise RuntimeError(f"{name} is not set")
    return v


def clickhouse(sql, data=None, timeout=120):
    """One statement over ClickHouse's HTTP interface; returns the text."""
    u = urllib.parse.urlsplit(env("CLICKHOUSE_URL"))
    base = f"{u.scheme or 'http'}://{u.hostname}:{u.port or 8123}/"
    headers = {}
    if u.username:
        headers = {"X-ClickHouse-User": urllib.parse.unquote(u.username),
                   "X-ClickHouse-Key": urllib.parse.unquote(u.password or "")}
    if data is None:
        req = urllib.request.Request(base, data=sql.encode(), headers=headers, method="POST")
    else:
        req = urllib.request.Request(base + "?" + urllib.parse.urlencode({"query": sql}), data=data,
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"ClickHouse: {e.read().decode(errors='replace')[:500]}\n  in: {sql[:300]}") from None


def rows(sql):
    return [json.loads(line) for line in clickhouse(sql + " FORMAT JSONEachRow").splitlines() if line.strip()]


def quote(s):
    """A ClickHouse string literal."""
    return "'" + str(s).replace("\\", "\\\\").replace("'", "\\'") + "'"


def s3():
    from pyarrow import fs
    endpoint = env("S3_ENDPOINT")
    return fs.S3FileSystem(access_key=env("S3_ACCESS_KEY"), secret_key=env("S3_SECRET_KEY"),
                           endpoint_override=endpoint.split("://", 1)[-1].rstrip("/"),
                           scheme="https" if endpoint.startswith("https://") else "http",
                           region=env("S3_REGION", "us-east-1"), force_virtual_addressing=False)


def bucket_path(key):
    return f"{env('S3_BUCKET')}/{key.lstrip('/')}"


def list_files(fs_, key_prefix):
    from pyarrow import fs
    infos = fs_.get_file_info(fs.FileSelector(bucket_path(key_prefix), recursive=True, allow_not_found=True))
    return sorted(i.path for i in infos if i.type == fs.FileType.File)


def put_text(fs_, key, text):
    with fs_.open_output_stream(bucket_path(key)) as out:
        out.write(text.encode())


def kafka_produce(topic, messages, timeout=30):
    """[(key, dict)] -> the topic, idempotent producer, every one acknowledged."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": env("KAFKA_BROKERS"), "enable.idempotence": True, "acks": "all"})
    errors = []
    for key, value in messages:
        p.produce(topic, key=key.encode(), value=json.dumps(value, separators=(",", ":")).encode(),
                  on_delivery=lambda err, _m: errors.append(err) if err else None)
    left = p.flush(timeout)
    if left or errors:
        raise RuntimeError(f"Kafka: {left} undelivered, errors {errors[:3]}")
