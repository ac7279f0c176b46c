"""Object-storage checks for tests/bigdata, run in the Spark venv (pyarrow's S3
client: SigV4, path-style): `s3tool.py OP ARGS`, prints JSON.

    mkbucket BUCKET
    ls PREFIX                  -> [{"path", "size"}] of files under BUCKET/PREFIX
    parquet PREFIX [COLUMN..]  -> {"files", "rows", "columns": {COLUMN: [values]}}
    text KEY                   -> the object's text
"""
import json
import os
import sys

from pyarrow import fs
import pyarrow.parquet as pq


def s3():
    host = os.environ["S3_ENDPOINT"].split("://", 1)[-1]
    scheme = "https" if os.environ["S3_ENDPOINT"].startswith("https") else "http"
    return fs.S3FileSystem(access_key=os.environ["S3_ACCESS_KEY"], secret_key=os.environ["S3_SECRET_KEY"],
                           endpoint_override=host, scheme=scheme, region=os.environ.get("S3_REGION", "us-east-1"),
                           force_virtual_addressing=False, allow_bucket_creation=True)


def files(f, prefix):
    path = f"{os.environ['S3_BUCKET']}/{prefix}".rstrip("/")
    info = f.get_file_info(path)
    if info.type == fs.FileType.File:
        return [info]
    try:
        infos = f.get_file_info(fs.FileSelector(path, recursive=True, allow_not_found=True))
    except FileNotFoundError:
        return []
    return sorted((i for i in infos if i.type == fs.FileType.File), key=lambda i: i.path)


def main():
    op, args = sys.argv[1], sys.argv[2:]
    f = s3()
    if op == "mkbucket":
        f.create_dir(args[0])
        out = True
    elif op == "ls":
        out = [{"path": i.path, "size": i.size} for i in files(f, args[0])]
    elif op == "parquet":
        found = [i for i in files(f, args[0]) if i.path.endswith(".parquet")]
        cols = {c: [] for c in args[1:]}
        rows = 0
        for i in found:
            t = pq.read_table(i.path, filesystem=f)
            rows += t.num_rows
            for c in cols:
                cols[c].extend(t.column(c).to_pylist())
        out = {"files": [i.path for i in found], "rows": rows, "columns": cols}
    elif op == "text":
        with f.open_input_stream(f"{os.environ['S3_BUCKET']}/{args[0]}") as s:
            out = s.read().decode()
    else:
        sys.exit(f"unknown op {op}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
