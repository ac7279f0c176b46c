"""Policy reload (atomic, all-or-nothing) and the routing dry run."""


def test_reload_good_set_takes_effect(aiond):
    assert aiond.submit("summarize-short", {"text": "x"}).status == 422
    with open(aiond.policy_dir / "intents.yml", "a") as f:
        f.write("""
  summarize-short:
    description: one-sentence summary
    privacy: local-only
    candidates:
      - module: summarize
""")
    r = aiond.control("POST", "/v1/router/policy/reload")
    assert r.status == 422, r  # the module must declare the intent it serves
    assert "does not declare intent 'summarize-short'" in r.raw.decode()
    mods = aiond.policy_dir / "modules.yml"
    # modules.yml may widen the intents a module's manifest declares
    mods.write_text(mods.read_text().replace(
        "manifest: summarize.module.json",
        "manifest: summarize.module.json\n    intents: [summarize, chat, chat-hybrid, summarize-short]"))
    r = aiond.control("POST", "/v1/router/policy/reload")
    assert r.status == 200, r
    assert r.json["status"] == "reloaded" and r.json["digest"] != r.json["previousDigest"]
    r = aiond.submit("summarize-short", {"text": "Only this."})
    assert r.status == 202, r
    assert aiond.wait(r.json["taskId"])["status"] == "succeeded"


def test_reload_bad_set_is_rejected_and_old_set_stays(aiond):
    before = aiond.control("POST", "/v1/router/policy/reload").json["digest"]
    good = (aiond.policy_dir / "intents.yml").read_text()
    (aiond.policy_dir / "intents.yml").write_text(good.replace("privacy: local-only", "privacy: everywhere", 1))
    (aiond.policy_dir / "policies.yml").write_text("version: 1\nbudget: {default_usd: 1.0, hard_cap_usd: 0.2}\n")
    r = aiond.control("POST", "/v1/router/policy/reload")
    assert r.status == 422, r
    assert r.json["error"]["code"] == "invalid_policy"
    errors = r.json["error"]["details"]["errors"]
    assert any(e.startswith("intents.yml:") and "privacy" in e for e in errors), errors
    assert any(e.startswith("policies.yml:2: budget.default_usd") for e in errors), errors
    # the old set is still in force
    assert aiond.submit("summarize", {"text": "still works."}).status == 202
    (aiond.policy_dir / "intents.yml").write_text("intents: [unclosed\n")
    r = aiond.control("POST", "/v1/router/policy/reload")
    assert r.status == 422 and any("yaml" in e for e in r.json["error"]["details"]["errors"])
    (aiond.policy_dir / "intents.yml").unlink()
    r = aiond.control("POST", "/v1/router/policy/reload")
    assert r.status == 422 and any("intents.yml: file is missing" in e for e in r.json["error"]["details"]["errors"])
    (aiond.policy_dir / "intents.yml").write_text(good)
    (aiond.policy_dir / "policies.yml").write_text("version: 1\n")
    r = aiond.control("POST", "/v1/router/policy/reload")
    assert r.status == 200, r
    assert r.json["previousDigest"] == before


def test_reload_rejects_broken_module_artifact(aiond):
    (aiond.tmp / "bad.wasm").write_bytes(b"\0asm-but-not-really")
    with open(aiond.policy_dir / "modules.yml", "a") as f:
        f.write(f"""
  broken:
    version: 0.1.0
    kind: wasm
    artifact: {aiond.tmp / 'bad.wasm'}
    intents: []
""")
    r = aiond.control("POST", "/v1/router/policy/reload")
    assert r.status == 422
    assert any(e.startswith("modules.broken:") for e in r.json["error"]["details"]["errors"]), r


def test_reload_needs_admin(aiond):
    assert aiond.control("POST", "/v1/router/policy/reload", key=None).status == 401
    assert aiond.control("POST", "/v1/router/policy/reload", key="user-key").status == 403


def test_decide_dry_run_explains_every_candidate(aiond):
    r = aiond.control("POST", "/v1/router/decide", {"intent": "summarize", "params": {"text": "x"}})
    assert r.status == 200, r
    assert r.json["primary"]["target"] == "summarize"
    assert r.json["privacy"] == "local-only"
    assert all("reason" in c and "kept" in c for c in r.json["candidates"])
    assert r.json["budgetUsd"] == 0.02
    r = aiond.control("POST", "/v1/router/decide", {"intent": "nope", "params": {}})
    assert r.status == 422 and r.json["error"]["code"] == "unknown_intent"
    assert aiond.control("POST", "/v1/router/decide", {"intent": "summarize"}, key="viewer-key").status == 403
    before = len(aiond.request("GET", "/v1/tasks").json["items"])
    assert before == 0  # a dry run stores nothing
