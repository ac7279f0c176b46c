#!/usr/bin/env python3
"""Applies bigdata/sql/NNN_*.sql to the ClickHouse at CLICKHOUSE_URL, in order,
each version once (recorded in aion.schema_migrations with its checksum; an
applied file that has since changed is an error: add a new version instead).

    CLICKHOUSE_URL=http://127.0.0.1:8123 bigdata/sql/apply.py [--dir bigdata/sql]

Python stdlib only; statements go one per request over ClickHouse's HTTP
interface (18.16 takes one statement per query). CLICKHOUSE_URL may carry
user:password@ (sent as X-ClickHouse-User/-Key) and a ?database= is ignored:
every object lives in the `aion` database.
"""
import argparse
import base64
import hashlib
import os
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


class ClickHouse:
    """The smallest HTTP client: query(sql[, data]) -> text."""

    def __init__(self, url, timeout=60):
        u = urllib.parse.urlsplit(url)
        self.base = f"{u.scheme or 'http'}://{u.hostname}:{u.port or 8123}/"
        self.headers = {}
        if u.username:
            self.headers["X-ClickHouse-User"] = urllib.parse.unquote(u.username)
            self.headers["X-ClickHouse-Key"] = urllib.parse.unquote(u.password or "")
        self.timeout = timeout

    def query(self, sql, data=None):
        if data is None:
            url, body = self.base, sql.encode()
        else:
            url, body = self.base + "?" + urllib.parse.urlencode({"query": sql}), data
        req = urllib.request.Request(url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"ClickHouse: {e.read().decode(errors='replace').strip()}\n  in: {sql[:300]}") from None


def statements(text):
    """Splits a file on ';' at the end of a line; drops comment-only chunks."""
    out = []
    for chunk in re.split(r";\s*$", text, flags=re.M):
        body = "\n".join(l for l in chunk.splitlines() if not l.strip().startswith("--")).strip()
        if body:
            out.append(chunk.strip())
    return out


def migrations(folder):
    return sorted(p for p in Path(folder).glob("[0-9][0-9][0-9]_*.sql"))


def apply(ch, folder=HERE, log=print):
    ch.query("CREATE DATABASE IF NOT EXISTS aion")
    ch.query("CREATE TABLE IF NOT EXISTS aion.schema_migrations (version UInt32, name String, "
             "sha256 String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version")
    done = {}
    for line in ch.query("SELECT version, name, sha256 FROM aion.schema_migrations FORMAT TSV").splitlines():
        v, name, digest = line.split("\t")
        done[int(v)] = (name, digest)
    applied = []
    for path in migrations(folder):
        version = int(path.name[:3])
        text = path.read_text()
        digest = hashlib.sha256(text.encode()).hexdigest()
        if version in done:
            if done[version][1] != digest:
                raise RuntimeError(f"{path.name} changed after it was applied (as {done[version][0]}); "
                                   "add a new numbered file instead")
            continue
        for stmt in statements(text):
            ch.query(stmt)
        ch.query(f"INSERT INTO aion.schema_migrations (version, name, sha256) VALUES "
                 f"({version}, '{path.name}', '{digest}')")
        applied.append(path.name)
        log(f"applied {path.name}")
    return applied


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=str(HERE))
    args = ap.parse_args()
    url = os.environ.get("CLICKHOUSE_URL")
    if not url:
        sys.exit("CLICKHOUSE_URL is not set (e.g. http://127.0.0.1:8123)")
    names = apply(ClickHouse(url), args.dir)
    print(f"schema up to date ({len(names)} applied)")


if __name__ == "__main__":
    main()
