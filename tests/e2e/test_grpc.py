"""gRPC aion.v1.AionTasks with server reflection, driven by grpcurl (no .proto files needed)."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

GRPCURL = shutil.which("grpcurl") or str(Path.home() / "go" / "bin" / "grpcurl")
SEED = '{"schema_version":"1.0","intent":"summarize","params":{"text":"hi"}}'


def grpcurl(a, method, data=None, key="demo-key", extra=()):
    if not Path(GRPCURL).exists():
        pytest.fail("grpcurl is not installed (scripts/install-deps.sh installs it)")
    args = [GRPCURL, "-plaintext", *extra]
    if key:
        args += ["-H", f"x-api-key: {key}"]
    if data is not None:
        args += ["-d", data]
    args += [f"localhost:{a.grpc_port}", method]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def objects(text):
    """grpcurl prints one JSON object per message."""
    dec, out, i = json.JSONDecoder(), [], 0
    text = text.strip()
    while i < len(text):
        obj, i = dec.raw_decode(text, i)
        out.append(obj)
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def test_seed_grpcurl_line(aiond):
    # verbatim seed line (no key): refused clearly
    rc, out, err = grpcurl(aiond, "aion.v1.AionTasks/Submit", SEED, key=None)
    assert rc != 0 and "Unauthenticated" in err and "x-api-key" in err, err
    rc, out, err = grpcurl(aiond, "aion.v1.AionTasks/Submit", SEED)
    assert rc == 0, err
    task = objects(out)[0]
    assert task["task_id"].startswith("tsk_") and task["status"] in ("queued", "routed")
    t = aiond.wait(task["task_id"])
    assert t["result"]["summary"] == "hi"


def test_reflection_lists_and_describes_the_service(aiond):
    rc, out, _ = grpcurl(aiond, "list", key=None)
    assert rc == 0 and "aion.v1.AionTasks" in out.split()
    p = subprocess.run([GRPCURL, "-plaintext", f"localhost:{aiond.grpc_port}", "describe", "aion.v1.AionTasks"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "rpc Stream ( .aion.v1.StreamRequest ) returns ( stream .aion.v1.Event )" in p.stdout, p.stdout


def test_stream_matches_sse_and_get_list_cancel(make_aiond):
    a = make_aiond({"AION_WORKERS": "1"}).start()
    a.submit("spin", {"ms": 400})
    rc, out, err = grpcurl(a, "aion.v1.AionTasks/Submit", '{"intent":"spin","params":{"ms":100}}')
    tid = objects(out)[0]["task_id"]
    rc, out, err = grpcurl(a, "aion.v1.AionTasks/Stream", json.dumps({"task_id": tid}))  # opened before it runs
    assert rc == 0, err
    events = objects(out)
    assert [int(e["seq"]) for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "done" and events[-1]["data"]["status"] == "succeeded"
    sse, _, _ = a.sse(tid)
    assert [e["type"] for e in events] == [e["json"]["type"] for e in sse]
    rc, out, _ = grpcurl(a, "aion.v1.AionTasks/Stream", json.dumps({"task_id": tid, "after_seq": 3}))
    assert [int(e["seq"]) for e in objects(out)][0] == 4
    rc, out, _ = grpcurl(a, "aion.v1.AionTasks/Get", json.dumps({"task_id": tid}))
    got = objects(out)[0]
    assert got["status"] == "succeeded" and got["result"] == {"spun": 100}
    rc, out, _ = grpcurl(a, "aion.v1.AionTasks/List", '{"limit":1}')
    page = objects(out)[0]
    assert len(page["items"]) == 1 and page["next_cursor"]
    rc, out, err = grpcurl(a, "aion.v1.AionTasks/Cancel", json.dumps({"task_id": tid}))
    assert rc != 0 and "FailedPrecondition" in err


@pytest.mark.parametrize("method,data,key,code", [
    ("Submit", '{"intent":"nope","params":{}}', "demo-key", "InvalidArgument"),
    ("Submit", '{"intent":"summarize","params":{"txt":1}}', "demo-key", "InvalidArgument"),
    ("Submit", SEED, "viewer-key", "PermissionDenied"),
    ("Submit", SEED, "wrong", "Unauthenticated"),
    ("Get", '{"task_id":"tsk_missing"}', "demo-key", "NotFound"),
    ("Stream", '{"task_id":"tsk_missing"}', "demo-key", "NotFound"),
    ("List", '{"limit":1000}', "demo-key", "InvalidArgument"),
])
def test_errors_map_to_status_codes(aiond, method, data, key, code):
    rc, out, err = grpcurl(aiond, f"aion.v1.AionTasks/{method}", data, key=key)
    assert rc != 0 and f"Code: {code}" in err, err


def test_rate_limit_and_idempotency(make_aiond):
    a = make_aiond({"AION_RATE_LIMIT_MAX": "3", "AION_RATE_LIMIT_WINDOW_SEC": "3600"}).start()
    body = '{"intent":"summarize","params":{"text":"x"},"idempotency_key":"g1"}'
    rc1, out1, _ = grpcurl(a, "aion.v1.AionTasks/Submit", body)
    rc2, out2, _ = grpcurl(a, "aion.v1.AionTasks/Submit", body)
    assert rc1 == rc2 == 0 and objects(out1)[0]["task_id"] == objects(out2)[0]["task_id"]
    rc, _, err = grpcurl(a, "aion.v1.AionTasks/Submit", '{"intent":"summarize","params":{"text":"y"},"idempotency_key":"g1"}')
    assert rc != 0 and "AlreadyExists" in err
    rc, _, err = grpcurl(a, "aion.v1.AionTasks/Submit", SEED)
    assert rc != 0 and "ResourceExhausted" in err and "retry after" in err
