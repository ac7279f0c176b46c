"""A loopback stand-in for Qdrant's REST API, for testing aionOS's Qdrant
client (src/vector/qdrant_index.cpp). No Qdrant server can be installed on
the machines this project is built on, so tests run against this instead;
docs/retrieval.md says so. Python standard library only.

It speaks the subset of Qdrant 1.x's REST API a vector index needs, with
Qdrant's shapes: every answer is {"result": ..., "status": "ok", "time": s},
every error {"status": {"error": "..."}, "time": s} with Qdrant's status and
wording:

    GET    /collections                          {"collections": [{"name"}]}
    GET    /collections/{name}                   status, points_count, config.params.vectors
    PUT    /collections/{name}                   {"vectors": {"size", "distance"}} -> true;
                                                 409 when it exists
    DELETE /collections/{name}                   true, or false when there was none
    PUT    /collections/{name}/points[?wait=]    {"points": [{"id", "vector", "payload"}]}
                                                 -> {"operation_id", "status": "completed"}
    POST   /collections/{name}/points/delete     {"points": [ids]} or {"filter": ...}
    POST   /collections/{name}/points/search     {"vector", "limit", "with_payload", "filter"?}
                                                 -> [{"id", "version", "score", "payload"}]
    POST   /collections/{name}/points/query      {"query": [..], "limit", ...} -> {"points": [...]}

Errors: 404 "Not found: Collection `x` doesn't exist!"; 400 "Wrong input:
Vector dimension error: expected dim: D, got N"; 400 "Format error in JSON
body: ..." (malformed JSON, a point id that is neither an unsigned integer
nor a UUID); 422 "Validation error in JSON body: ..." (size 0, unknown
distance, limit 0); 401 with an api key configured and a wrong or missing
`api-key` header. Cosine collections store vectors normalised, as Qdrant
does, and score by dot product: real cosine search, exhaustive.

Filters: must / should / must_not of {"key", "match": {"value"} | {"any"}}
conditions on payload keys. That is all aionOS sends.

Run alone: python3 tests/e2e/qdrant_standin.py --port 6333
"""
import argparse
import json
import math
import re
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

DISTANCES = ("Cosine", "Euclid", "Dot", "Manhattan")
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


class QdrantError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _not_found(name):
    return QdrantError(404, f"Not found: Collection `{name}` doesn't exist!")


def _point_id(raw):
    """Qdrant's ExtendedPointId: an unsigned integer or a UUID (any form Rust's uuid parses)."""
    if isinstance(raw, bool):
        raise QdrantError(400, f"Format error in JSON body: value {json.dumps(raw)} is not a valid point ID, "
                               "valid values are either an unsigned integer or a UUID")
    if isinstance(raw, int) and raw >= 0:
        return raw
    if isinstance(raw, str):
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            pass
    raise QdrantError(400, f"Format error in JSON body: value {json.dumps(raw)} is not a valid point ID, "
                           "valid values are either an unsigned integer or a UUID")


def _matches(cond, payload):
    key, match = cond.get("key"), cond.get("match")
    if not isinstance(key, str) or not isinstance(match, dict):
        raise QdrantError(400, "Format error in JSON body: unsupported filter condition")
    value = payload.get(key)
    if "value" in match:
        return value == match["value"]
    if "any" in match and isinstance(match["any"], list):
        return value in match["any"]
    raise QdrantError(400, "Format error in JSON body: unsupported match")


def _filter_ok(flt, payload):
    if flt is None:
        return True
    if not isinstance(flt, dict):
        raise QdrantError(400, "Format error in JSON body: filter must be an object")
    must = flt.get("must") or []
    should = flt.get("should") or []
    must_not = flt.get("must_not") or []
    if not all(_matches(c, payload) for c in must):
        return False
    if should and not any(_matches(c, payload) for c in should):
        return False
    return not any(_matches(c, payload) for c in must_not)


def _normalise(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else list(v)


class _Collection:
    def __init__(self, size, distance):
        self.size = size
        self.distance = distance
        self.points = {}  # id -> (vector, payload, version)

    def info(self):
        return {
            "status": "green", "optimizer_status": "ok",
            "vectors_count": len(self.points), "indexed_vectors_count": 0,
            "points_count": len(self.points), "segments_count": 1,
            "config": {
                "params": {"vectors": {"size": self.size, "distance": self.distance},
                           "shard_number": 1, "replication_factor": 1,
                           "write_consistency_factor": 1, "on_disk_payload": True},
                "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000,
                                "max_indexing_threads": 0, "on_disk": False},
                "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                                     "default_segment_number": 0, "max_segment_size": None,
                                     "memmap_threshold": None, "indexing_threshold": 20000,
                                     "flush_interval_sec": 5, "max_optimization_threads": None},
                "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
                "quantization_config": None,
            },
            "payload_schema": {},
        }

    def score(self, a, b):
        if self.distance in ("Cosine", "Dot"):
            return sum(x * y for x, y in zip(a, b))
        if self.distance == "Euclid":
            return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
        return sum(abs(x - y) for x, y in zip(a, b))


class QdrantStandin:
    def __init__(self, api_key=None, port=0):
        self.api_key = api_key
        self.collections = {}
        self.requests = []      # (method, path, headers, body) of every request
        self.errors = []        # tracebacks of bugs in the stand-in itself
        self.operation = 0
        self.lock = threading.Lock()
        self.conns = set()      # open client sockets: stop() closes them (kept-alive ones too)
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"qdrant-standin-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops listening and closes every open connection, as a server that went away."""
        if self._thread:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- the API ------------------------------------------------------------------
    def handle(self, method, path, query, body):
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] != "collections":
            raise QdrantError(404, "Not found")
        if len(parts) == 1:
            if method != "GET":
                raise QdrantError(405, "Method not allowed")
            with self.lock:
                return {"collections": [{"name": n} for n in sorted(self.collections)]}
        name = parts[1]
        if not NAME_RE.match(name):
            raise QdrantError(422, f"Validation error in path parameters: [name: collection name "
                                   f"cannot contain such characters]")
        rest = parts[2:]
        with self.lock:
            if not rest:
                return self._collection(method, name, body)
            c = self.collections.get(name)
            if rest == ["points"] and method == "PUT":
                return self._upsert(name, c, body)
            if rest == ["points", "delete"] and method == "POST":
                return self._delete_points(name, c, body)
            if rest == ["points", "search"] and method == "POST":
                return self._search(name, c, body, body.get("vector") if isinstance(body, dict) else None)
            if rest == ["points", "query"] and method == "POST":
                q = body.get("query") if isinstance(body, dict) else None
                return {"points": self._search(name, c, body, q)}
        raise QdrantError(404, "Not found")

    def _collection(self, method, name, body):
        if method == "GET":
            if name not in self.collections:
                raise _not_found(name)
            return self.collections[name].info()
        if method == "DELETE":
            return self.collections.pop(name, None) is not None
        if method == "PUT":
            if not isinstance(body, dict) or not isinstance(body.get("vectors"), dict):
                raise QdrantError(400, "Format error in JSON body: missing field `vectors`")
            v = body["vectors"]
            size, distance = v.get("size"), v.get("distance")
            if not isinstance(size, int) or isinstance(size, bool) or distance not in DISTANCES:
                raise QdrantError(400, "Format error in JSON body: vectors: data did not match any "
                                       "variant of untagged enum VectorsConfig")
            if size < 1 or size > 65536:
                raise QdrantError(422, f"Validation error in JSON body: [vectors.size: value {size} "
                                       "invalid, must be from 1 to 65536]")
            if name in self.collections:
                raise QdrantError(409, f"Wrong input: Collection `{name}` already exists!")
            self.collections[name] = _Collection(size, distance)
            return True
        raise QdrantError(405, "Method not allowed")

    def _upsert(self, name, c, body):
        if c is None:
            raise _not_found(name)
        if not isinstance(body, dict) or not isinstance(body.get("points"), list):
            raise QdrantError(400, "Format error in JSON body: missing field `points`")
        staged = []
        for p in body["points"]:
            if not isinstance(p, dict) or "id" not in p or "vector" not in p:
                raise QdrantError(400, "Format error in JSON body: a point needs id and vector")
            pid = _point_id(p["id"])
            vec = p["vector"]
            if not isinstance(vec, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                    for x in vec):
                raise QdrantError(400, "Format error in JSON body: vector must be a list of numbers")
            if len(vec) != c.size:
                raise QdrantError(400, f"Wrong input: Vector dimension error: expected dim: {c.size}, "
                                       f"got {len(vec)}")
            payload = p.get("payload") or {}
            if not isinstance(payload, dict):
                raise QdrantError(400, "Format error in JSON body: payload must be an object")
            staged.append((pid, _normalise(vec) if c.distance == "Cosine" else list(vec), payload))
        self.operation += 1
        for pid, vec, payload in staged:  # all or nothing, as one operation
            c.points[pid] = (vec, payload, self.operation)
        return {"operation_id": self.operation, "status": "completed"}

    def _delete_points(self, name, c, body):
        if c is None:
            raise _not_found(name)
        if not isinstance(body, dict) or ("points" not in body and "filter" not in body):
            raise QdrantError(400, "Format error in JSON body: expected `points` or `filter`")
        if "points" in body:
            ids = [_point_id(i) for i in body["points"]]
            gone = [i for i in ids if i in c.points]
        else:
            gone = [i for i, (_, payload, _) in c.points.items() if _filter_ok(body["filter"], payload)]
        for i in gone:
            del c.points[i]
        self.operation += 1
        return {"operation_id": self.operation, "status": "completed"}

    def _search(self, name, c, body, vector):
        if c is None:
            raise _not_found(name)
        if not isinstance(body, dict) or not isinstance(vector, list):
            raise QdrantError(400, "Format error in JSON body: missing field `vector`")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector):
            raise QdrantError(400, "Format error in JSON body: vector must be a list of numbers")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise QdrantError(422, f"Validation error in JSON body: [limit: value {limit} invalid, "
                                   "must be 1 or larger]")
        if len(vector) != c.size:
            raise QdrantError(400, f"Wrong input: Vector dimension error: expected dim: {c.size}, "
                                   f"got {len(vector)}")
        q = _normalise(vector) if c.distance == "Cosine" else vector
        hits = []
        for pid, (vec, payload, version) in c.points.items():
            if _filter_ok(body.get("filter"), payload):
                hits.append((c.score(q, vec), pid, payload, version))
        smaller_is_better = c.distance in ("Euclid", "Manhattan")
        hits.sort(key=lambda h: (h[0] if smaller_is_better else -h[0], str(h[1])))
        with_payload = body.get("with_payload", False)
        out = []
        for score, pid, payload, version in hits[:limit]:
            out.append({"id": pid, "version": version, "score": score,
                        "payload": payload if with_payload else None, "vector": None})
        return out


class _Handler(BaseHTTPRequestHandler):
    owner = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.owner.lock:
            self.owner.conns.add(self.connection)

    def finish(self):
        with self.owner.lock:
            self.owner.conns.discard(self.connection)
        super().finish()

    def _answer(self, status, obj, started, raw=None):
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method):
        started = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        o = self.owner
        o.requests.append((method, self.path, {k.lower(): v for k, v in self.headers.items()}, raw))
        if o.api_key is not None and self.headers.get("api-key") != o.api_key:
            msg = "Invalid api-key" if self.headers.get("api-key") else \
                "Must provide an API key or an Authorization bearer token"
            return self._answer(401, None, started, raw=msg.encode())
        try:
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as e:
                    raise QdrantError(400, f"Format error in JSON body: {e}")
            result = o.handle(method, split.path, split.query, body)
            self._answer(200, {"result": result, "status": "ok", "time": time.time() - started}, started)
        except QdrantError as e:
            if e.status in (404, 405) and e.message in ("Not found", "Method not allowed"):
                return self._answer(e.status, None, started, raw=e.message.encode())
            self._answer(e.status, {"status": {"error": e.message}, "time": time.time() - started}, started)
        except Exception:  # a bug in the stand-in: recorded, and answered like Qdrant's 500
            import traceback
            o.errors.append(traceback.format_exc())
            self._answer(500, {"status": {"error": "Service internal error"}, "time": 0}, started)

    def do_GET(self):
        self._serve("GET")

    def do_PUT(self):
        self._serve("PUT")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=6333)
    ap.add_argument("--api-key")
    args = ap.parse_args()
    s = QdrantStandin(api_key=args.api_key, port=args.port).start()
    print(f"qdrant stand-in on {s.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        s.stop()
