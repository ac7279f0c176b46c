#include "policy/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>

#include "common/digest.h"
#include "common/ids.h"
#include "policy/manifest.h"
#include "policy/yaml_ctx.h"

namespace aion::policy {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace {
using namespace detail;

void loadPolicies(const YAML::Node& root, FileCtx& c, Policies& p) {
  c.onlyKeys(root, "",
             {"version", "latency_targets_ms", "budget", "budgets", "providers", "tenants"});
  if (auto bs = root["budgets"]; bs.IsDefined() && c.isMap(bs, "budgets")) {
    c.onlyKeys(bs, "budgets", {"tenants", "keys"});
    for (auto [key, target] :
         {std::pair{"tenants", &p.tenantBudgets}, std::pair{"keys", &p.keyBudgets}}) {
      auto group = bs[key];
      std::string gf = std::string("budgets.") + key;
      if (!group.IsDefined() || !c.isMap(group, gf)) continue;
      for (auto it = group.begin(); it != group.end(); ++it) {
        auto id = it->first.Scalar();
        std::string f = gf + "." + id;
        if (id.empty() || id.size() > 128) c.err(it->first, f, "invalid name");
        if (!c.isMap(it->second, f)) continue;
        c.onlyKeys(it->second, f, {"day_usd", "month_usd"});
        PeriodBudget pb;
        pb.dayUsd = c.num<double>(it->second, "day_usd", f + ".day_usd", 0.0, 1e9);
        pb.monthUsd = c.num<double>(it->second, "month_usd", f + ".month_usd", 0.0, 1e9);
        if (!pb.dayUsd && !pb.monthUsd) c.err(it->second, f, "needs day_usd or month_usd");
        (*target)[id] = pb;
      }
    }
  }
  if (auto lt = root["latency_targets_ms"]; lt.IsDefined() && c.isMap(lt, "latency_targets_ms")) {
    c.onlyKeys(lt, "latency_targets_ms", {"local", "api", "hybrid"});
    if (auto v = c.num<int>(lt, "local", "latency_targets_ms.local", 1, 600000))
      p.latency.localMs = *v;
    if (auto v = c.num<int>(lt, "api", "latency_targets_ms.api", 1, 600000)) p.latency.apiMs = *v;
    if (auto v = c.num<int>(lt, "hybrid", "latency_targets_ms.hybrid", 1, 600000))
      p.latency.hybridMs = *v;
  }
  if (auto b = root["budget"]; b.IsDefined() && c.isMap(b, "budget")) {
    c.onlyKeys(b, "budget", {"default_usd", "hard_cap_usd"});
    if (auto v = c.num<double>(b, "default_usd", "budget.default_usd", 0.0, 1e6))
      p.budget.defaultUsd = *v;
    if (auto v = c.num<double>(b, "hard_cap_usd", "budget.hard_cap_usd", 0.0, 1e6))
      p.budget.hardCapUsd = *v;
    if (p.budget.defaultUsd > p.budget.hardCapUsd)
      c.err(b, "budget.default_usd", "must not exceed budget.hard_cap_usd");
  }
  if (auto pr = root["providers"]; pr.IsDefined() && c.isMap(pr, "providers")) {
    c.onlyKeys(pr, "providers", {"allow"});
    if (auto l = c.strList(pr, "allow", "providers.allow"))
      p.providerAllow = std::set(l->begin(), l->end());
  }
  if (auto t = root["tenants"]; t.IsDefined() && c.isMap(t, "tenants")) {
    for (auto it = t.begin(); it != t.end(); ++it) {
      auto name = it->first.Scalar();
      std::string f = "tenants." + name;
      if (!c.isMap(it->second, f)) continue;
      c.onlyKeys(it->second, f, {"providers_allow", "budget_usd"});
      TenantPolicy tp;
      if (auto l = c.strList(it->second, "providers_allow", f + ".providers_allow"))
        tp.providerAllow = std::set(l->begin(), l->end());
      tp.budgetUsd = c.num<double>(it->second, "budget_usd", f + ".budget_usd", 0.0, 1e6);
      p.tenants[name] = tp;
    }
  }
}

void loadModels(const YAML::Node& root, FileCtx& c, PolicySet& s) {
  c.onlyKeys(root, "", {"version", "providers", "models"});
  static const std::set<std::string> kKinds{"openai", "azure", "huggingface", "vllm", "ollama"};
  if (auto pr = root["providers"]; pr.IsDefined() && !pr.IsNull() && c.isMap(pr, "providers")) {
    for (auto it = pr.begin(); it != pr.end(); ++it) {
      Provider p;
      p.name = it->first.Scalar();
      std::string f = "providers." + p.name;
      if (!std::regex_match(p.name, kNameRe)) c.err(it->first, f, "invalid name");
      if (!c.isMap(it->second, f)) continue;
      auto n = it->second;  // a handle, not a reference: it->second is a temporary's member
      c.onlyKeys(
          n, f,
          {"kind", "base_url", "base_url_env", "local", "credential_env", "credential_file",
           "credential_optional", "api_version", "api", "timeouts_ms", "retries", "breaker"});
      p.kind = c.str(n, "kind", f + ".kind", true).value_or("");
      if (!p.kind.empty() && !kKinds.count(p.kind))
        c.err(n["kind"], f + ".kind", "must be one of openai, azure, huggingface, vllm, ollama");
      p.baseUrl = c.str(n, "base_url", f + ".base_url", false).value_or("");
      p.baseUrlEnv = c.str(n, "base_url_env", f + ".base_url_env", false).value_or("");
      if (p.baseUrl.empty() && p.baseUrlEnv.empty()) c.err(n, f, "needs base_url or base_url_env");
      if (!p.baseUrl.empty() && p.baseUrl.rfind("http://", 0) != 0 &&
          p.baseUrl.rfind("https://", 0) != 0)
        c.err(n["base_url"], f + ".base_url", "must start with http:// or https://");
      p.local = c.boolean(n, "local", f + ".local").value_or(false);
      p.credentialEnv = c.str(n, "credential_env", f + ".credential_env", false).value_or("");
      p.credentialFile = c.str(n, "credential_file", f + ".credential_file", false).value_or("");
      p.credentialOptional =
          c.boolean(n, "credential_optional", f + ".credential_optional").value_or(false);
      p.apiVersion = c.str(n, "api_version", f + ".api_version", false)
                         .value_or(p.kind == "azure" ? "2024-10-21" : "");
      p.api = c.str(n, "api", f + ".api", false).value_or(p.kind == "huggingface" ? "tgi" : "");
      if (p.kind == "huggingface" && p.api != "tgi" && p.api != "openai")
        c.err(n["api"], f + ".api", "must be tgi or openai");
      if (p.kind != "huggingface" && n["api"].IsDefined())
        c.err(n["api"], f + ".api", "only for kind huggingface");
      if (auto t = n["timeouts_ms"]; t.IsDefined() && c.isMap(t, f + ".timeouts_ms")) {
        std::string tf = f + ".timeouts_ms";
        c.onlyKeys(t, tf, {"connect", "read", "total"});
        p.timeouts.connectMs =
            c.num<int>(t, "connect", tf + ".connect", 1, 600000).value_or(p.timeouts.connectMs);
        p.timeouts.readMs =
            c.num<int>(t, "read", tf + ".read", 1, 3600000).value_or(p.timeouts.readMs);
        p.timeouts.totalMs =
            c.num<int>(t, "total", tf + ".total", 1, 3600000).value_or(p.timeouts.totalMs);
      }
      if (auto r = n["retries"]; r.IsDefined() && c.isMap(r, f + ".retries")) {
        std::string rf = f + ".retries";
        c.onlyKeys(r, rf, {"max", "base_ms", "max_ms"});
        p.retries.max = c.num<int>(r, "max", rf + ".max", 0, 10).value_or(p.retries.max);
        p.retries.baseMs =
            c.num<int>(r, "base_ms", rf + ".base_ms", 1, 60000).value_or(p.retries.baseMs);
        p.retries.maxMs =
            c.num<int>(r, "max_ms", rf + ".max_ms", 1, 600000).value_or(p.retries.maxMs);
      }
      if (auto b = n["breaker"]; b.IsDefined() && c.isMap(b, f + ".breaker")) {
        std::string bf = f + ".breaker";
        c.onlyKeys(b, bf, {"failures", "open_ms"});
        p.breaker.failures =
            c.num<int>(b, "failures", bf + ".failures", 1, 1000).value_or(p.breaker.failures);
        p.breaker.openMs =
            c.num<int>(b, "open_ms", bf + ".open_ms", 1, 3600000).value_or(p.breaker.openMs);
      }
      s.providers[p.name] = p;
    }
  }
  if (auto ms = root["models"]; ms.IsDefined() && !ms.IsNull() && c.isMap(ms, "models")) {
    for (auto it = ms.begin(); it != ms.end(); ++it) {
      Model m;
      m.name = it->first.Scalar();
      std::string f = "models." + m.name;
      if (!c.isMap(it->second, f)) continue;
      auto n = it->second;  // a handle, not a reference: it->second is a temporary's member
      c.onlyKeys(n, f,
                 {"provider", "model", "model_env", "type", "tier", "price_in_per_mtok",
                  "price_out_per_mtok", "context_window", "latency_ms"});
      m.upstream = c.str(n, "model", f + ".model", false).value_or(m.name);
      m.upstreamEnv = c.str(n, "model_env", f + ".model_env", false).value_or("");
      m.type = c.str(n, "type", f + ".type", false).value_or("chat");
      if (m.type != "chat" && m.type != "embedding")
        c.err(n["type"], f + ".type", "must be chat or embedding");
      m.provider = c.str(n, "provider", f + ".provider", true).value_or("");
      if (!m.provider.empty() && !s.providers.count(m.provider))
        c.err(n["provider"], f + ".provider", "unknown provider '" + m.provider + "'");
      m.tier = c.str(n, "tier", f + ".tier", false).value_or("standard");
      m.priceInPerMTok =
          c.num<double>(n, "price_in_per_mtok", f + ".price_in_per_mtok", 0.0, 1e4).value_or(0);
      m.priceOutPerMTok =
          c.num<double>(n, "price_out_per_mtok", f + ".price_out_per_mtok", 0.0, 1e4).value_or(0);
      m.contextWindow =
          c.num<int>(n, "context_window", f + ".context_window", 1, 100000000).value_or(8192);
      m.latencyMs = c.num<int>(n, "latency_ms", f + ".latency_ms", 1, 600000).value_or(1000);
      s.models[m.name] = m;
    }
  }
}

Module refusedModule(const std::string& name, std::string why) {
  Module m;
  m.name = name;
  m.verification = {Verification::State::kRefused, std::move(why), {}, {}};
  return m;
}

std::string joinErrors(const LoadErrors& e) {
  std::string s;
  for (size_t i = 0; i < e.size() && i < 5; ++i) {
    if (i) s += "; ";
    s += e[i];
  }
  return s;
}

// A manifest-backed module: its problems refuse the module, not the policy set.
Module moduleFromManifest(const std::string& name, const fs::path& path, const LoadOptions& opts) {
  auto man = loadManifest(path);
  if (!man) return refusedModule(name, "manifest invalid: " + joinErrors(man.error()));
  auto m = std::move(man->module);
  if (m.name != name)
    return refusedModule(name, "manifest " + path.string() + " names module '" + m.name + "'");
  m.verification = verifyModule(m, man->signature, opts.trust);
  if (m.usable()) m.sha256 = m.verification.sha256;  // hosts load exactly the bytes verified
  return m;
}

void loadModules(const YAML::Node& root, FileCtx& c, PolicySet& s, const LoadOptions& opts) {
  c.onlyKeys(root, "", {"version", "modules"});
  auto ms = root["modules"];
  if (ms.IsDefined() && !ms.IsNull() && c.isMap(ms, "modules")) {
    for (auto it = ms.begin(); it != ms.end(); ++it) {
      std::string name = it->first.Scalar();
      std::string f = "modules." + name;
      if (!std::regex_match(name, kNameRe)) c.err(it->first, f, "invalid name");
      if (!c.isMap(it->second, f)) continue;
      auto n = it->second;  // a handle, not a reference: it->second is a temporary's member
      Module m;
      if (n["manifest"].IsDefined()) {
        c.onlyKeys(n, f, {"manifest", "intents", "description"});
        auto mp = c.str(n, "manifest", f + ".manifest", true);
        if (!mp) continue;
        fs::path p(*mp);
        if (p.is_relative()) p = opts.moduleDir / p;
        m = moduleFromManifest(name, p, opts);
        if (auto l = c.strList(n, "intents", f + ".intents")) m.intents = *l;
      } else {
        c.onlyKeys(
            n, f,
            {"version", "kind", "artifact", "sha256", "intents", "limits", "resources", "config",
             "secrets", "input_schema", "output_schema", "latency_ms", "description"});
        m.name = name;
        parseModuleFields(n, c, f, m, opts.moduleDir);
        m.verification = verifyModule(m, {}, opts.trust);
        if (m.usable()) m.sha256 = m.verification.sha256;
      }
      m.source = "policy";
      s.modules[name] = std::move(m);
    }
  }
  // Modules registered over the control API; modules.yml wins a name clash.
  std::error_code ec;
  if (opts.registryDir.empty() || !fs::is_directory(opts.registryDir, ec)) return;
  for (auto& d : fs::directory_iterator(opts.registryDir, ec)) {
    auto name = d.path().filename().string();
    if (!d.is_directory(ec) || !std::regex_match(name, kNameRe) || s.modules.count(name)) continue;
    auto m = moduleFromManifest(name, d.path() / "manifest.json", opts);
    m.source = "registry";
    s.modules[name] = std::move(m);
  }
}

void loadIntents(const YAML::Node& root, FileCtx& c, PolicySet& s) {
  c.onlyKeys(root, "", {"version", "intents"});
  auto is = root["intents"];
  if (!is.IsDefined() || !c.isMap(is, "intents")) {
    if (!is.IsDefined()) c.errFile("intents: is required");
    return;
  }
  for (auto it = is.begin(); it != is.end(); ++it) {
    Intent in;
    in.name = it->first.Scalar();
    std::string f = "intents." + in.name;
    if (!std::regex_match(in.name, kNameRe))
      c.err(it->first, f, "invalid name (lowercase letters, digits, . _ -)");
    if (!c.isMap(it->second, f)) continue;
    auto n = it->second;  // a handle, not a reference: it->second is a temporary's member
    c.onlyKeys(n, f,
               {"description", "privacy", "roles", "candidates", "params_schema", "timeout_ms",
                "max_output_tokens", "vectors", "budget_usd", "latency_target_ms", "redaction"});
    in.description = c.str(n, "description", f + ".description", false).value_or("");
    if (auto p = c.str(n, "privacy", f + ".privacy", true)) {
      if (auto m = parsePrivacy(*p))
        in.privacy = *m;
      else
        c.err(n["privacy"], f + ".privacy", "must be local-only, hybrid or allow-api");
    }
    auto roles = c.strList(n, "roles", f + ".roles");
    if (!roles) {
      in.roles = roleBit(Role::kAdmin) | roleBit(Role::kManager) | roleBit(Role::kUser);
    } else {
      for (auto& r : *roles) {
        if (auto role = parseRole(r))
          in.roles |= roleBit(*role);
        else
          c.err(n["roles"], f + ".roles",
                "unknown role '" + r + "' (admin, manager, user, viewer)");
      }
    }
    in.timeoutMs = c.num<int>(n, "timeout_ms", f + ".timeout_ms", 1, 3600000).value_or(30000);
    in.maxOutputTokens =
        c.num<int>(n, "max_output_tokens", f + ".max_output_tokens", 1, 1000000).value_or(256);
    // The seed's "vector usage": {mode: search|context, module: NAME}; false or absent: none.
    if (auto vn = n["vectors"]; vn.IsDefined() && !(vn.IsScalar() && vn.Scalar() == "false")) {
      if (!vn.IsMap()) {
        c.err(vn, f + ".vectors", "must be {mode: search|context, module: NAME} or false");
      } else {
        c.onlyKeys(vn, f + ".vectors", {"mode", "module"});
        auto mode = c.str(vn, "mode", f + ".vectors.mode", true).value_or("");
        if (mode == "search")
          in.vectors = VectorMode::kSearch;
        else if (mode == "context")
          in.vectors = VectorMode::kContext;
        else if (!mode.empty())
          c.err(vn["mode"], f + ".vectors.mode", "must be search or context");
        in.vectorModule = c.str(vn, "module", f + ".vectors.module", true).value_or("");
        if (!in.vectorModule.empty() && !s.modules.count(in.vectorModule))
          c.err(vn["module"], f + ".vectors.module",
                "unknown module '" + in.vectorModule + "' (not in modules.yml)");
        if (!in.vectorModule.empty() && !s.vectorModule.empty() &&
            in.vectorModule != s.vectorModule)
          c.err(vn["module"], f + ".vectors.module",
                "every intent must embed with the same module ('" + s.vectorModule +
                    "'), or documents and queries would not share a vector space");
        if (!in.vectorModule.empty() && s.vectorModule.empty()) s.vectorModule = in.vectorModule;
      }
    }
    in.budgetUsd = c.num<double>(n, "budget_usd", f + ".budget_usd", 0.0, 1e6);
    in.latencyTargetMs = c.num<int>(n, "latency_target_ms", f + ".latency_target_ms", 1, 3600000);
    if (auto rd = n["redaction"]; rd.IsDefined() && c.isMap(rd, f + ".redaction")) {
      c.onlyKeys(rd, f + ".redaction", {"module", "rehydrate"});
      in.redactModule = c.str(rd, "module", f + ".redaction.module", true).value_or("");
      if (!in.redactModule.empty() && !s.modules.count(in.redactModule))
        c.err(rd["module"], f + ".redaction.module",
              "unknown module '" + in.redactModule + "' (not in modules.yml)");
      in.rehydrate = c.boolean(rd, "rehydrate", f + ".redaction.rehydrate").value_or(true);
    } else if (auto r = s.modules.find("redact");
               r != s.modules.end() && r->second.source == "policy") {
      // Only an operator's modules.yml picks the default redactor, never an upload.
      in.redactModule = "redact";
    }
    if (auto ps = n["params_schema"]; ps.IsDefined()) {
      auto schema = yamlToJson(ps);
      auto errs = JsonSchema::check(schema, f + ".params_schema");
      for (auto& e : errs) {
        auto colon = e.find(": ");
        c.err(ps, e.substr(0, colon), e.substr(colon + 2));
      }
      if (errs.empty()) in.paramsSchema = JsonSchema(schema);
    }
    auto cands = n["candidates"];
    if (!cands.IsDefined() || !cands.IsSequence() || cands.size() == 0) {
      if (cands.IsDefined())
        c.err(cands, f + ".candidates", "must be a non-empty list");
      else
        c.err(n, f + ".candidates", "must be a non-empty list");
    } else {
      for (size_t i = 0; i < cands.size(); ++i) {
        auto cn = cands[i];
        std::string cf = f + ".candidates[" + std::to_string(i) + "]";
        // {module: NAME} or {model: NAME}, optionally with `explicit: true`.
        bool flagged = cn.IsMap() && cn.size() == 2 && cn["explicit"].IsDefined();
        if (!cn.IsMap() || (cn.size() != 1 && !flagged)) {
          c.err(cn, cf, "must be {module: NAME} or {model: NAME} (with optional explicit: true)");
          continue;
        }
        Candidate cand;
        if (flagged) {
          auto ex = cn["explicit"];
          if (!ex.IsScalar() || (ex.Scalar() != "true" && ex.Scalar() != "false")) {
            c.err(ex, cf + ".explicit", "must be true or false");
            continue;
          }
          cand.explicitOnly = ex.Scalar() == "true";
        }
        YAML::Node target;
        std::string key;
        for (auto it = cn.begin(); it != cn.end(); ++it) {
          if (it->first.Scalar() == "explicit") continue;
          key = it->first.Scalar();
          target = it->second;
        }
        cand.target = target.IsScalar() ? target.Scalar() : "";
        if (key == "module") {
          cand.kind = RouteKind::kModule;
          auto m = s.modules.find(cand.target);
          if (m == s.modules.end()) {
            c.err(cn, cf, "unknown module '" + cand.target + "' (not in modules.yml)");
          } else if (m->second.usable() &&
                     std::find(m->second.intents.begin(), m->second.intents.end(), in.name) ==
                         m->second.intents.end()) {
            c.err(cn, cf, "module '" + cand.target + "' does not declare intent '" + in.name + "'");
          }
        } else if (key == "model") {
          cand.kind = RouteKind::kModel;
          auto m = s.models.find(cand.target);
          if (m == s.models.end()) {
            c.err(cn, cf, "unknown model '" + cand.target + "' (not in models.yml)");
          } else if (in.privacy == PrivacyMode::kLocalOnly) {
            auto p = s.providers.find(m->second.provider);
            if (p != s.providers.end() && !p->second.local)
              c.err(cn, cf,
                    "model '" + cand.target +
                        "' is remote; a local-only intent may only use local routes");
          }
        } else {
          c.err(cn, cf, "must be {module: NAME} or {model: NAME}");
          continue;
        }
        in.candidates.push_back(cand);
      }
    }
    if (in.vectors == VectorMode::kSearch)
      for (auto& cand : in.candidates)
        if (cand.kind != RouteKind::kModule || cand.target != in.vectorModule)
          c.err(n["candidates"], f + ".candidates",
                "a search intent (vectors.mode: search) is served by its embedding module '" +
                    in.vectorModule + "' only, not '" + cand.target + "'");
    s.intents[in.name] = std::move(in);
  }
}

}  // namespace

std::expected<PolicySetPtr, LoadErrors> loadPolicyDir(const fs::path& dir,
                                                      const LoadOptions& opts) {
  LoadErrors errors;
  auto set = std::make_shared<PolicySet>();
  std::string all;
  // models and modules first: intents refer to them.
  struct Step {
    const char* file;
    std::function<void(const YAML::Node&, FileCtx&)> fn;
  };
  Step steps[] = {
      {"policies.yml", [&](auto& r, auto& c) { loadPolicies(r, c, set->policies); }},
      {"models.yml", [&](auto& r, auto& c) { loadModels(r, c, *set); }},
      {"modules.yml", [&](auto& r, auto& c) { loadModules(r, c, *set, opts); }},
      {"intents.yml", [&](auto& r, auto& c) { loadIntents(r, c, *set); }},
  };
  for (auto& st : steps) {
    FileCtx ctx{st.file, &errors};
    std::string raw;
    auto root = readYaml(dir / st.file, ctx, opts.maxFileBytes, raw);
    all += raw;
    all.push_back('\0');
    if (!root) continue;
    try {
      st.fn(*root, ctx);
    } catch (const YAML::Exception& e) {
      ctx.errors->push_back(ctx.file + ":" + std::to_string(e.mark.line + 1) + ": yaml: " + e.msg);
    }
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  set->digest = sha256Hex(all).substr(0, 16);
  set->loadedAtMs = nowMs();
  return PolicySetPtr(std::move(set));
}

}  // namespace aion::policy
