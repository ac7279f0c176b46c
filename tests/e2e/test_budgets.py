"""Budgets and usage: reservations hold under concurrency, spend settles to
provider-reported usage, and GET /v1/usage adds up exactly."""
import re
from concurrent.futures import ThreadPoolExecutor

import pytest


CHAT = {"messages": [{"role": "user", "content": "hello big world"}], "text": "hello big world"}


def pricey(a, day_usd):
    """gpt-4o-mini at 100 USD per million tokens both ways, a tenant day budget."""
    models = (a.policy_dir / "models.yml").read_text()
    models = re.sub(r"(gpt-4o-mini:\n(?:    .*\n)*?    price_in_per_mtok:) 0.15", r"\1 100", models)
    models = re.sub(r"(gpt-4o-mini:\n(?:    .*\n)*?    price_out_per_mtok:) 0.60", r"\1 100", models)
    (a.policy_dir / "models.yml").write_text(models)
    pol = (a.policy_dir / "policies.yml").read_text()
    pol = pol.replace("default_usd: 0.02", "default_usd: 0.2")
    pol += f'budgets:\n  tenants:\n    "*": {{day_usd: {day_usd}}}\n'
    (a.policy_dir / "policies.yml").write_text(pol)


def test_concurrent_tasks_never_pass_the_budget_and_usage_adds_up(make_aiond, fake):
    fake.token_delay = 0.05
    a = make_aiond({"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": fake.api_key,
                    "AION_WORKERS": "32"})
    pricey(a, day_usd=0.5)
    a.start()
    plan = a.control("POST", "/v1/router/decide", {"intent": "chat", "params": CHAT}).json
    reserve = plan["primary"]["maxCostUsd"]
    assert plan["primary"]["target"] == "gpt-4o-mini" and 0.05 < reserve < 0.1
    slots = int(0.5 // reserve)

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda _: a.submit("chat", CHAT).json["taskId"], range(200)))
        tasks = list(pool.map(lambda i: a.wait(i, timeout=120), ids))
    by_model = [t for t in tasks if t["status"] == "succeeded"]
    refused = [t for t in tasks if t["status"] == "failed"]
    assert len(by_model) + len(refused) == 200
    assert all(t["result"]["provider"] == "openai" for t in by_model)
    assert refused, "some tasks must have been refused by the budget"
    # refused by the budget, with no stand-in answer: the chat says why
    assert all(t["error"]["code"] == "budget_exceeded" for t in refused), refused[0]
    assert 1 <= fake.max_inflight <= slots  # reservations gate concurrent calls

    # spend is the provider's usage: 3 prompt + 4 completion tokens at 100 USD/M
    per_call_nano = (3 + 4) * 100 * 1000
    u = a.control("GET", "/v1/usage?groupBy=tenant,provider,model").json
    assert u["total"]["calls"] == len(by_model)
    assert u["total"]["costNanoUsd"] == per_call_nano * len(by_model)
    assert u["total"]["promptTokens"] == 3 * len(by_model)
    assert u["total"]["costUsd"] <= 0.5
    assert sum(t["cost"]["usd"] for t in by_model) == pytest.approx(u["total"]["costUsd"], abs=1e-9)
    [g] = u["groups"]
    assert g["tenant"] == "default" and g["provider"] == "openai" and g["model"] == "gpt-4o-mini"
    m = a.request("GET", "/metrics").raw.decode()
    assert 'aion_tokens_total{direction="prompt",model="gpt-4o-mini",provider="openai",tenant="default"}' in m


def test_usage_is_tenant_scoped_and_validated(make_aiond, fake):
    keys = "root:admin,acme-m:manager:acme,beta-m:manager:beta,acme-u:user:acme"
    a = make_aiond({"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": fake.api_key,
                    "AION_GATEWAY_API_KEYS": keys, "TENANCY_MODE": "multi"}).start()
    for key, n in (("acme-m", 2), ("beta-m", 3)):
        for _ in range(n):
            assert a.wait(a.submit("chat", CHAT, key=key).json["taskId"], key=key)["status"] == "succeeded"
    admin_h = {"X-Tenant-Id": "ops"}  # an unbound admin key names a tenant; admins see all of them
    admin = a.control("GET", "/v1/usage?groupBy=tenant", key="root", headers=admin_h).json
    assert {g["tenant"]: g["calls"] for g in admin["groups"]} == {"acme": 2, "beta": 3}
    acme = a.control("GET", "/v1/usage?groupBy=tenant&tenant=beta", key="acme-m").json
    assert [g["tenant"] for g in acme["groups"]] == ["acme"]  # a manager sees only their tenant
    assert acme["total"]["calls"] == 2
    day = a.control("GET", "/v1/usage?groupBy=day,intent&from=2000-01-01&to=2999-12-31", key="root",
                    headers=admin_h).json
    assert day["groups"][0]["intent"] == "chat" and re.match(r"\d{4}-\d\d-\d\d$", day["groups"][0]["day"])
    assert a.control("GET", "/v1/usage", key="acme-u").status == 403
    assert a.control("GET", "/v1/usage", key=None).status == 401
    for bad in ("from=2024-13-01", "to=yesterday", "groupBy=tenant,colour", "from=2024-02-02&to=2024-01-01",
                "flavour=x", "tenant=", "model=" + "x" * 300):
        r = a.control("GET", "/v1/usage?" + bad, key="root", headers=admin_h)
        assert r.status == 400, (bad, r)
        assert r.json["error"]["code"] == "invalid_request"


def test_budget_exceeded_without_fallback_fails_clearly(make_aiond, fake):
    a = make_aiond({"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": fake.api_key})
    pricey(a, day_usd=0.01)  # below one reservation
    a.start()
    t = a.wait(a.submit("embed", {"input": "x" * 2000}).json["taskId"])
    # embed has no local fallback; its model is cheap, so it runs
    assert t["status"] == "succeeded"
    t = a.wait(a.submit("chat", CHAT).json["taskId"])
    assert t["status"] == "failed" and t["error"]["code"] == "budget_exceeded", t
    assert "day budget" in t["error"]["message"]
    assert fake.chat_requests()[-1]["path"] == "/v1/embeddings"  # no chat call was made
