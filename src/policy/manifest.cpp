#include "policy/manifest.h"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cstdlib>

#include "common/digest.h"
#include "policy/yaml_ctx.h"
#include "trust/sbom.h"
#include "trust/signing.h"

namespace aion::policy {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace detail {

void parseModuleFields(const YAML::Node& n, FileCtx& c, const std::string& prefix, Module& m,
                       const fs::path& baseDir) {
  // Field names: "modules.x.limits" in modules.yml, "limits" in a manifest.
  const std::string f = prefix;
  auto field = [&](const char* k) { return f.empty() ? std::string(k) : f + "." + k; };
  m.version = c.str(n, "version", field("version"), true).value_or("");
  static const std::regex kSemver(R"(^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$)");
  // Length first: libstdc++'s regex recurses per character.
  if (!m.version.empty() && (m.version.size() > 64 || !std::regex_match(m.version, kSemver)))
    c.err(n["version"], field("version"),
          "must be a semantic version like 1.2.3 (at most 64 chars)");
  m.kind = c.str(n, "kind", field("kind"), true).value_or("");
  if (!m.kind.empty() && m.kind != "wasm" && m.kind != "subprocess")
    c.err(n["kind"], field("kind"), "must be wasm or subprocess");
  if (auto a = c.str(n, "artifact", field("artifact"), true)) {
    fs::path p(*a);
    if (p.is_relative()) p = baseDir / p;
    std::error_code ec;
    m.artifactPath = fs::weakly_canonical(p, ec).string();
    if (ec) m.artifactPath = p.string();
  }
  m.sha256 = c.str(n, "sha256", field("sha256"), false).value_or("");
  static const std::regex kHex("^[0-9a-f]{64}$");
  if (!m.sha256.empty() && !std::regex_match(m.sha256, kHex))
    c.err(n["sha256"], field("sha256"), "must be 64 lowercase hex characters");
  if (auto l = c.strList(n, "intents", field("intents"))) m.intents = *l;
  if (auto lim = n["limits"]; lim.IsDefined() && c.isMap(lim, field("limits"))) {
    auto g = field("limits");
    c.onlyKeys(lim, g,
               {"memory_mb", "timeout_ms", "output_bytes", "fuel", "concurrency", "cpu_ms",
                "max_files", "max_procs"});
    auto& L = m.limits;
    if (auto v = c.num<int>(lim, "memory_mb", g + ".memory_mb", 1, 4096)) L.memoryMb = *v;
    if (auto v = c.num<int>(lim, "timeout_ms", g + ".timeout_ms", 1, 600000)) L.timeoutMs = *v;
    if (auto v = c.num<int64_t>(lim, "output_bytes", g + ".output_bytes", 1, 64LL << 20))
      L.outputBytes = *v;
    if (auto v = c.num<int64_t>(lim, "fuel", g + ".fuel", 0, int64_t(1) << 50))
      L.fuel = static_cast<uint64_t>(*v);
    if (auto v = c.num<int>(lim, "concurrency", g + ".concurrency", 0, 1024)) L.concurrency = *v;
    if (auto v = c.num<int>(lim, "cpu_ms", g + ".cpu_ms", 1, 3600000)) L.cpuMs = *v;
    if (auto v = c.num<int>(lim, "max_files", g + ".max_files", 4, 4096)) L.maxFiles = *v;
    if (auto v = c.num<int>(lim, "max_procs", g + ".max_procs", 1, 256)) L.maxProcs = *v;
  }
  if (auto r = n["resources"]; r.IsDefined() && c.isMap(r, field("resources"))) {
    c.onlyKeys(r, field("resources"), {"gpu", "gpu_memory_mb"});
    if (auto g = c.str(r, "gpu", field("resources") + ".gpu", false)) {
      if (*g == "none")
        m.resources.gpu = GpuNeed::kNone;
      else if (*g == "optional")
        m.resources.gpu = GpuNeed::kOptional;
      else if (*g == "required")
        m.resources.gpu = GpuNeed::kRequired;
      else
        c.err(r["gpu"], field("resources") + ".gpu", "must be none, optional or required");
    }
    if (auto v = c.num<int>(r, "gpu_memory_mb", field("resources") + ".gpu_memory_mb", 0, 1 << 22))
      m.resources.gpuMemoryMb = *v;
  }
  static const std::regex kEnvName("^[A-Za-z_][A-Za-z0-9_]{0,127}$");
  if (auto cfg = n["config"]; cfg.IsDefined() && c.isMap(cfg, field("config"))) {
    for (auto it = cfg.begin(); it != cfg.end(); ++it) {
      auto k = it->first.Scalar();
      if (!std::regex_match(k, kEnvName))
        c.err(it->first, field("config") + "." + k, "invalid name");
      else if (!it->second.IsScalar())
        c.err(it->second, field("config") + "." + k, "must be a string");
      else
        m.env[k] = it->second.Scalar();
    }
  }
  if (auto sec = c.strList(n, "secrets", field("secrets"))) {
    for (auto& name : *sec) {
      if (!std::regex_match(name, kEnvName)) {
        c.err(n["secrets"], field("secrets"), "invalid name '" + name + "'");
        continue;
      }
      // Resolved from aiond's environment; verifyModule refuses the module
      // when one is missing, so nothing runs half-configured.
      if (const char* v = std::getenv(name.c_str()))
        m.env[name] = v;
      else
        m.env.erase(name), m.missingSecrets.push_back(name);
    }
  }
  for (auto [key, slot] :
       {std::pair{"input_schema", &m.inputSchema}, std::pair{"output_schema", &m.outputSchema}}) {
    if (auto s = n[key]; s.IsDefined()) {
      auto schema = yamlToJson(s);
      auto errs = JsonSchema::check(schema, field(key));
      for (auto& e : errs) c.err(s, field(key), e);
      if (errs.empty()) *slot = JsonSchema(schema);
    }
  }
  m.latencyMs = c.num<int>(n, "latency_ms", field("latency_ms"), 1, 600000).value_or(50);
}

}  // namespace detail

using namespace detail;

std::expected<Manifest, LoadErrors> loadManifest(const fs::path& path, size_t maxBytes) {
  LoadErrors errors;
  FileCtx c{path.string(), &errors};
  std::string raw;
  auto root = readYaml(path, c, maxBytes, raw, false);
  if (!root) return std::unexpected(std::move(errors));
  Manifest out;
  auto& m = out.module;
  m.manifestPath = fs::absolute(path).string();
  auto base = fs::absolute(path).parent_path();
  try {
    auto& n = *root;
    c.onlyKeys(n, "",
               {"manifest_version", "version", "name", "kind", "artifact", "sha256", "signature",
                "sbom", "intents", "limits", "resources", "config", "secrets", "input_schema",
                "output_schema", "latency_ms", "description"});
    if (auto v = c.num<int>(n, "manifest_version", "manifest_version", 1, 1000); v && *v != 1)
      c.err(n["manifest_version"], "manifest_version", "must be 1");
    m.name = c.str(n, "name", "name", true).value_or("");
    if (!m.name.empty() && !std::regex_match(m.name, kNameRe)) c.err(n["name"], "name", "invalid");
    parseModuleFields(n, c, "", m, base);
    // A manifest always pins its bytes: null or empty is not a digest.
    if (m.sha256.empty() && !(n["sha256"].IsDefined() && !n["sha256"].IsNull() &&
                              !n["sha256"].Scalar().empty() && n["sha256"].Scalar() != "~"))
      c.err(n["sha256"].IsDefined() ? n["sha256"] : n, "sha256", "is required (64 hex characters)");
    if (auto s = c.str(n, "sbom", "sbom", false)) {
      fs::path p(*s);
      m.sbomPath = (p.is_relative() ? base / p : p).string();
    }
    if (auto sig = n["signature"]; sig.IsDefined() && c.isMap(sig, "signature")) {
      c.onlyKeys(sig, "signature", {"value", "public_key", "bundle"});
      out.signature.valueB64 = c.str(sig, "value", "signature.value", false).value_or("");
      if (auto k = c.str(sig, "public_key", "signature.public_key", false)) {
        if (k->find("-----BEGIN") != std::string::npos) {
          out.signature.publicKeyPem = *k;
        } else {
          fs::path p(*k);
          if (p.is_relative()) p = base / p;
          if (auto pem = readFile(p))
            out.signature.publicKeyPem = *pem;
          else
            c.err(sig["public_key"], "signature.public_key", "file not found: " + p.string());
        }
      }
      if (auto b = c.str(sig, "bundle", "signature.bundle", false)) {
        fs::path p(*b);
        out.signature.bundlePath = (p.is_relative() ? base / p : p).string();
      }
      if (!out.signature.any())
        c.err(sig, "signature", "needs value (cosign sign-blob output) or bundle");
    }
  } catch (const YAML::Exception& e) {
    errors.push_back(c.file + ":" + std::to_string(e.mark.line + 1) + ": yaml: " + e.msg);
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return out;
}

Verification verifyModule(const Module& m, const SignatureRef& sig, const TrustConfig& trust) {
  using State = Verification::State;
  auto refuse = [](std::string why) {
    return Verification{State::kRefused, std::move(why), {}, {}};
  };
  auto artifact = readFile(m.artifactPath);
  if (!artifact) return refuse("artifact not found or unreadable: " + m.artifactPath);
  auto digest = sha256Hex(*artifact);
  auto pass = [&](Verification v) {
    v.sha256 = digest;
    return v;
  };
  if (!m.sha256.empty() && digest != m.sha256)
    return refuse("digest mismatch: manifest says sha256:" + m.sha256 +
                  ", artifact is sha256:" + digest);
  if (!m.missingSecrets.empty())
    return refuse("declared secret " + m.missingSecrets.front() + " is not set");
  if (!sig.any()) {
    if (trust.allowUnsigned)
      return pass(
          {State::kUnsigned, "not signed (allowed by AION_MODULES_ALLOW_UNSIGNED)", {}, {}});
    return refuse(
        "not signed; unsigned modules are refused unless AION_MODULES_ALLOW_UNSIGNED=true");
  }
  // Signature bytes and, optionally, the signer's key.
  std::string der, keyPem = sig.publicKeyPem;
  if (!sig.bundlePath.empty()) {
    auto text = readFile(sig.bundlePath);
    if (!text) return refuse("signature bundle not found: " + sig.bundlePath);
    auto b = trust::parseSigstoreBundle(*text);
    if (!b) return refuse("signature bundle: " + b.error());
    if (!b->digestSha256Hex.empty() && b->digestSha256Hex != digest)
      return refuse("signature bundle is for sha256:" + b->digestSha256Hex +
                    ", the artifact is sha256:" + digest);
    der = std::move(b->signatureDer);
    if (keyPem.empty()) keyPem = b->publicKeyPem;
  } else {
    auto d = trust::base64Decode(sig.valueB64);
    if (!d || d->empty()) return refuse("signature.value is not base64");
    der = std::move(*d);
  }
  std::vector<const trust::PublicKey*> candidates;
  if (!keyPem.empty()) {
    auto k = trust::PublicKey::fromPem(keyPem);
    if (!k) return refuse("signature.public_key: " + k.error());
    const trust::PublicKey* trusted = nullptr;
    for (auto& t : trust.keys)
      if (t.fingerprint() == k->fingerprint()) trusted = &t;
    if (!trusted)
      return refuse("signed by an untrusted key " + k->fingerprint() +
                    " (not in AION_MODULE_TRUSTED_KEYS)");
    candidates.push_back(trusted);
  } else {
    for (auto& t : trust.keys) candidates.push_back(&t);
    if (candidates.empty()) return refuse("signed, but no trusted keys are configured");
  }
  const trust::PublicKey* signer = nullptr;
  std::string why;
  for (auto* k : candidates) {
    if (auto ok = k->verify(*artifact, der)) {
      signer = k;
      break;
    } else {
      why = ok.error();
    }
  }
  if (!signer)
    return refuse(candidates.size() == 1 ? why + " (key " + candidates[0]->fingerprint() + ")"
                                         : "signature does not verify with any trusted key");
  if (m.sbomPath.empty()) return refuse("no SBOM: the manifest must name a CycloneDX file (sbom)");
  auto sbom = readFile(m.sbomPath);
  if (!sbom) return refuse("SBOM not found: " + m.sbomPath);
  if (auto ok = trust::checkSbom(*sbom, m.name, digest); !ok) return refuse(ok.error());
  return pass({State::kVerified, {}, signer->fingerprint(), {}});
}

}  // namespace aion::policy
