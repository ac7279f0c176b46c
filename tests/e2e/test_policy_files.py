"""The policy files over the control API (the console's editor): read the
four files, replace one (validated as a whole set first, then written and
reloaded), and everything a hostile or mistaken client may send instead."""
import hashlib
import urllib.parse

import pytest

NAMES = ["intents.yml", "policies.yml", "models.yml", "modules.yml"]


def files(aiond, key="demo-key"):
    r = aiond.control("GET", "/v1/policy/files", key=key)
    assert r.status == 200, r
    return {f["name"]: f for f in r.json["files"]}, r.json["digest"]


def put(aiond, name, body, key="demo-key", query=""):
    return aiond.control("PUT", f"/v1/policy/files/{name}{query}", body, key=key)


def test_get_returns_the_four_files_as_on_disk(aiond):
    got, digest = files(aiond)
    assert sorted(got) == sorted(NAMES)
    for n in NAMES:
        text = (aiond.policy_dir / n).read_text()
        assert got[n]["text"] == text
        assert got[n]["bytes"] == len(text.encode())
        assert got[n]["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert digest == aiond.control("GET", "/readyz").json.get("policyDigest", digest)


def test_valid_edit_is_written_and_reloaded(aiond):
    got, digest = files(aiond)
    text = got["policies.yml"]["text"] + "\n# edited from the console\n"
    r = put(aiond, "policies.yml", {"text": text, "expectedSha256": got["policies.yml"]["sha256"]})
    assert r.status == 200, r
    assert r.json["status"] == "reloaded" and r.json["previousDigest"] == digest
    assert r.json["digest"] != digest
    assert (aiond.policy_dir / "policies.yml").read_text() == text
    assert r.json["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    # the reload took effect: a new intent added through the API routes
    intents = got["intents.yml"]["text"] + """
  summarize-console:
    description: added through PUT /v1/policy/files
    privacy: local-only
    candidates:
      - module: spin
"""
    modules = files(aiond)[0]["modules.yml"]["text"].replace("intents: [spin, fallback]",
                                                             "intents: [spin, fallback, summarize-console]")
    # intents.yml alone refers to a module that does not serve it yet: refused, nothing written
    r = put(aiond, "intents.yml", {"text": intents})
    assert r.status == 422, r
    assert (aiond.policy_dir / "intents.yml").read_text() == got["intents.yml"]["text"]
    assert put(aiond, "modules.yml", {"text": modules}).status == 200
    assert put(aiond, "intents.yml", {"text": intents}).status == 200
    r = aiond.submit("summarize-console", {"ms": 1})
    assert r.status == 202, r


def test_broken_file_is_refused_at_its_line_and_nothing_changes(aiond):
    got, digest = files(aiond)
    broken = got["intents.yml"]["text"].replace("privacy: local-only", "privacy: everywhere", 1)
    line = broken.splitlines().index(next(l for l in broken.splitlines() if "privacy: everywhere" in l)) + 1
    r = put(aiond, "intents.yml", {"text": broken})
    assert r.status == 422, r
    err = r.json["error"]
    assert err["code"] == "invalid_policy"
    locs = err["details"]["locations"]
    assert any(l["file"] == "intents.yml" and l["line"] == line and "privacy" in l["message"] for l in locs), locs
    assert any(e.startswith(f"intents.yml:{line}:") for e in err["details"]["errors"])
    assert err["details"]["digest"] == digest
    assert (aiond.policy_dir / "intents.yml").read_text() == got["intents.yml"]["text"]
    assert files(aiond)[1] == digest
    # a YAML syntax error is located too
    r = put(aiond, "models.yml", {"text": "version: 1\nmodels:\n  a: [unclosed\n"})
    assert r.status == 422, r
    assert any(l["file"] == "models.yml" and l["line"] > 0 for l in r.json["error"]["details"]["locations"])
    # tasks still run on the set in force
    t = aiond.submit("summarize", {"text": "Still routed. By the old set."})
    assert t.status == 202 and aiond.wait(t.json["taskId"])["status"] == "succeeded"


def test_dry_run_validates_without_writing(aiond):
    got, digest = files(aiond)
    text = got["policies.yml"]["text"] + "\n# dry\n"
    r = put(aiond, "policies.yml", {"text": text}, query="?dryRun=true")
    assert r.status == 200 and r.json["status"] == "valid", r
    assert (aiond.policy_dir / "policies.yml").read_text() == got["policies.yml"]["text"]
    assert files(aiond)[1] == digest
    assert put(aiond, "policies.yml", {"text": text}, query="?dryRun=maybe").status == 400
    assert put(aiond, "policies.yml", {"text": text}, query="?other=1").status == 400


def test_stale_expected_sha_is_a_conflict(aiond):
    got, _ = files(aiond)
    r = put(aiond, "policies.yml", {"text": got["policies.yml"]["text"], "expectedSha256": "0" * 64})
    assert r.status == 409, r
    assert r.json["error"]["details"]["sha256"] == got["policies.yml"]["sha256"]


@pytest.mark.parametrize("name", [
    "..%2Fpolicies.yml", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "intents.yaml", "INTENTS.yml",
    "..", "intents.yml%00", "secret.yml", "intents.yml%2F..", "%2E%2E%2Fintents.yml",
])
def test_hostile_file_names_are_refused_and_touch_nothing(aiond, name):
    outside = aiond.tmp / "passwd"
    outside.write_text("untouched")
    before = {n: (aiond.policy_dir / n).read_text() for n in NAMES}
    r = put(aiond, name, {"text": "version: 1\n"})
    assert r.status in (400, 404), r
    if r.status == 400:
        assert "unknown policy file" in r.json["error"]["message"]
    assert outside.read_text() == "untouched"
    assert {n: (aiond.policy_dir / n).read_text() for n in NAMES} == before
    assert sorted(p.name for p in aiond.policy_dir.iterdir()) == sorted(NAMES)


def test_traversal_in_a_raw_path_is_refused(aiond):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", aiond.ctl_port, timeout=10)
    conn.request("PUT", "/v1/policy/files/../../passwd", body='{"text":"x"}',
                 headers={"X-API-Key": "demo-key", "Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    assert r.status in (400, 404)
    assert sorted(p.name for p in aiond.policy_dir.iterdir()) == sorted(NAMES)


@pytest.mark.parametrize("body,status", [
    ('{"text": 5}', 400),
    ('{"text": "version: 1\\n", "extra": 1}', 400),
    ('{}', 400),
    ('not json', 400),
    ('["text"]', 400),
    ('{"text": "a\\u0000b"}', 400),
    ('{"text": "version: 1\\n", "expectedSha256": "abc"}', 400),
])
def test_malformed_bodies_are_refused(aiond, body, status):
    before = (aiond.policy_dir / "policies.yml").read_text()
    r = aiond.control("PUT", "/v1/policy/files/policies.yml", body,
                      headers={"Content-Type": "application/json"})
    assert r.status == status, r
    assert r.json["error"]["code"] == "invalid_request"
    assert (aiond.policy_dir / "policies.yml").read_text() == before


def test_empty_file_is_refused_as_invalid_policy(aiond):
    r = put(aiond, "modules.yml", {"text": ""})
    assert r.status == 422, r
    assert r.json["error"]["code"] == "invalid_policy"


def test_oversized_text_is_refused(make_aiond):
    a = make_aiond({"AION_MAX_BODY_BYTES": str(4 << 20)}).start()
    before = (a.policy_dir / "policies.yml").read_text()
    big = "version: 1\n" + "# " + "x" * (1 << 20) + "\n"
    r = put(a, "policies.yml", {"text": big})
    assert r.status == 413, r
    assert r.json["error"]["code"] == "payload_too_large"
    assert (a.policy_dir / "policies.yml").read_text() == before
    # beyond the body limit the server answers 413 from Content-Length, before reading
    import socket
    with socket.create_connection(("127.0.0.1", a.ctl_port), timeout=10) as s:
        s.sendall(b"PUT /v1/policy/files/policies.yml HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (5 << 20))
        head = s.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413"), head
    assert (a.policy_dir / "policies.yml").read_text() == before


def test_a_missing_file_on_disk_reads_empty_and_can_be_restored(aiond):
    text = (aiond.policy_dir / "policies.yml").read_text()
    (aiond.policy_dir / "policies.yml").unlink()
    got, _ = files(aiond)
    assert got["policies.yml"]["text"] == "" and got["policies.yml"]["bytes"] == 0
    r = put(aiond, "policies.yml", {"text": text})
    assert r.status == 200, r
    assert (aiond.policy_dir / "policies.yml").read_text() == text


@pytest.mark.parametrize("key,get_status,put_status", [
    ("demo-key", 200, 200),     # admin|manager
    ("user-key", 403, 403),
    ("viewer-key", 403, 403),
    ("wrong-key", 401, 401),
    (None, 401, 401),
])
def test_roles(aiond, key, get_status, put_status):
    assert aiond.control("GET", "/v1/policy/files", key=key).status == get_status
    text = (aiond.policy_dir / "policies.yml").read_text()
    r = put(aiond, "policies.yml", {"text": text + "\n# by " + str(key) + "\n"}, key=key)
    assert r.status == put_status, r
    if put_status != 200:
        assert (aiond.policy_dir / "policies.yml").read_text() == text


def test_manager_reads_but_cannot_write(make_aiond):
    a = make_aiond({"AION_GATEWAY_API_KEYS": "admin-key:admin,mgr-key:manager"}).start()
    assert a.control("GET", "/v1/policy/files", key="mgr-key").status == 200
    text = (a.policy_dir / "policies.yml").read_text()
    assert put(a, "policies.yml", {"text": text}, key="mgr-key").status == 403
    assert put(a, "policies.yml", {"text": text}, key="admin-key").status == 200


def test_whoami_and_intents(aiond):
    r = aiond.control("GET", "/v1/whoami", key="viewer-key")
    assert r.status == 200 and r.json["roles"] == ["viewer"] and r.json["tenant"] == "default", r
    assert aiond.control("GET", "/v1/whoami", key="demo-key").json["roles"] == ["admin", "manager"]
    assert aiond.control("GET", "/v1/whoami", key="nope").status == 401
    r = aiond.control("GET", "/v1/intents", key="viewer-key")
    assert r.status == 200, r
    by = {i["name"]: i for i in r.json["items"]}
    assert by["summarize"]["canSubmit"] is False  # viewers read, never submit
    assert by["summarize"]["paramsSchema"]["required"] == ["text"]
    assert aiond.control("GET", "/v1/intents", key="user-key").json["items"][0]["canSubmit"] in (True, False)
    assert {i["name"]: i for i in aiond.control("GET", "/v1/intents").json["items"]}["summarize"]["canSubmit"]
