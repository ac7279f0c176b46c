#include "app/module_cli.h"

#include <boost/json.hpp>
#include <iostream>

#include "common/digest.h"
#include "common/json_text.h"
#include "policy/manifest.h"
#include "policy/yaml_ctx.h"
#include "trust/sbom.h"
#include "trust/signing.h"

namespace aion::app {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Indented JSON, so written manifests and SBOMs diff and review well.
void pretty(std::ostream& os, const json::value& v, int indent = 0) {
  std::string pad(static_cast<size_t>(indent) + 2, ' '), end(static_cast<size_t>(indent), ' ');
  if (auto* o = v.if_object(); o && !o->empty()) {
    os << "{\n";
    size_t i = 0;
    for (auto& [k, x] : *o) {
      os << pad << jsonText(json::string(k)) << ": ";
      pretty(os, x, indent + 2);
      os << (++i < o->size() ? ",\n" : "\n");
    }
    os << end << "}";
  } else if (auto* a = v.if_array(); a && !a->empty()) {
    os << "[\n";
    for (size_t i = 0; i < a->size(); ++i) {
      os << pad;
      pretty(os, (*a)[i], indent + 2);
      os << (i + 1 < a->size() ? ",\n" : "\n");
    }
    os << end << "]";
  } else {
    os << jsonText(v);
  }
}

std::string prettyString(const json::value& v) {
  std::ostringstream os;
  pretty(os, v);
  os << "\n";
  return os.str();
}

int keygen(const std::string& prefix, bool force) {
  fs::path key = prefix + ".key", pub = prefix + ".pub";
  if (!force && (fs::exists(key) || fs::exists(pub))) {
    std::cerr << "aiond module keygen: " << key.string() << " or " << pub.string()
              << " exists (use --force to replace)\n";
    return 1;
  }
  auto kp = trust::generateKeyPair();
  if (!kp) {
    std::cerr << "aiond module keygen: " << kp.error() << "\n";
    return 1;
  }
  if (key.has_parent_path()) fs::create_directories(key.parent_path());
  // Private key readable by the owner only, written before the public half.
  if (!writeFile(key, kp->privatePem, fs::perms::owner_read | fs::perms::owner_write) ||
      !writeFile(pub, kp->publicPem,
                 fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                     fs::perms::others_read)) {
    std::cerr << "aiond module keygen: cannot write " << key.string() << "\n";
    return 1;
  }
  auto k = trust::PublicKey::fromPem(kp->publicPem);
  std::cout << "wrote " << key.string() << " (private, 0600) and " << pub.string() << " ("
            << (k ? k->fingerprint() : "?") << ")\n";
  return 0;
}

struct SignArgs {
  std::string key, manifest, artifact, cargoMetadata, out;
};

int sign(const SignArgs& a) {
  auto err = [](const std::string& m) {
    std::cerr << "aiond module sign: " << m << "\n";
    return 1;
  };
  auto priv = readFile(a.key);
  if (!priv) return err("cannot read key " + a.key);
  policy::LoadErrors errors;
  policy::detail::FileCtx ctx{a.manifest, &errors};
  std::string raw;
  auto root = policy::detail::readYaml(a.manifest, ctx, 1 << 20, raw, false);
  if (!root) return err(errors.empty() ? "cannot read " + a.manifest : errors.front());
  auto tmpl = policy::detail::yamlToJson(*root);
  auto& m = tmpl.as_object();
  // Text stays text: `version: 1.0`, `ZIP: 01234` or `RATIO: 1.10` must not
  // come back as numbers (or different ones) in the signed manifest.
  for (const char* k : {"name", "version", "kind", "artifact", "description"})
    if (auto n = (*root)[k]; n.IsScalar()) m[k] = n.Scalar();
  if (auto cfg = (*root)["config"]; cfg.IsMap()) {
    json::object c;
    for (auto it = cfg.begin(); it != cfg.end(); ++it)
      c[it->first.Scalar()] = it->second.IsScalar() ? json::value(it->second.Scalar()) : nullptr;
    m["config"] = std::move(c);
  }
  auto* name = m.if_contains("name");
  auto* version = m.if_contains("version");
  if (!name || !name->is_string() || !version || !version->is_string())
    return err(a.manifest + ": name and version are required");
  // Copies: the object is modified below, which may move its values.
  const std::string sname(name->as_string()), sversion(version->as_string());
  fs::path manifestDir = fs::absolute(a.manifest).parent_path();
  fs::path artifact = a.artifact;
  if (artifact.empty()) {
    auto* art = m.if_contains("artifact");
    if (!art || !art->is_string()) return err("no --artifact and no artifact in the manifest");
    artifact = manifestDir / std::string(art->as_string());
  }
  auto bytes = readFile(artifact);
  if (!bytes) return err("cannot read artifact " + artifact.string());
  fs::path out = a.out.empty() ? fs::path(a.manifest) : fs::path(a.out);
  fs::path outDir = fs::absolute(out).parent_path();
  fs::create_directories(outDir);
  auto digest = sha256Hex(*bytes);
  auto sig = trust::signBlob(*priv, *bytes);
  if (!sig) return err(sig.error());
  auto pub = trust::publicPemOf(*priv);
  if (!pub) return err(pub.error());

  std::vector<trust::SbomComponent> comps;
  if (!a.cargoMetadata.empty()) {
    auto text = readFile(a.cargoMetadata);
    if (!text) return err("cannot read " + a.cargoMetadata);
    auto c = trust::componentsFromCargoMetadata(*text);
    if (!c) return err(a.cargoMetadata + ": " + c.error());
    comps = std::move(*c);
  }
  auto sbom = trust::makeCycloneDx(sname, sversion, digest, comps);
  fs::path sbomPath = outDir / (sname + ".cdx.json");
  if (!writeFile(sbomPath, prettyString(sbom),
                 fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                     fs::perms::others_read))
    return err("cannot write " + sbomPath.string());

  std::error_code ec;
  auto rel = fs::relative(fs::absolute(artifact), outDir, ec);
  m["artifact"] = (ec || rel.empty() ? fs::absolute(artifact) : rel).string();
  m["sha256"] = digest;
  m["sbom"] = sbomPath.filename().string();
  m["signature"] = json::object{{"value", *sig}, {"public_key", *pub}};
  if (!m.contains("manifest_version")) m["manifest_version"] = 1;
  if (!writeFile(out, prettyString(tmpl),
                 fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                     fs::perms::others_read))
    return err("cannot write " + out.string());
  // What was written must load as a manifest, or nothing is reported signed.
  if (auto check = policy::loadManifest(out); !check)
    return err("the written manifest does not load: " + check.error().front());
  auto k = trust::PublicKey::fromPem(*pub);
  std::cout << "signed " << sname << " " << sversion << " sha256:" << digest << " with "
            << (k ? k->fingerprint() : "?") << " -> " << out.string() << " (SBOM "
            << sbomPath.filename().string() << ", " << comps.size() << " components)\n";
  return 0;
}

std::expected<policy::TrustConfig, std::string> trustFrom(
    const std::vector<std::string>& keys, bool allowUnsigned,
    const std::function<std::expected<policy::TrustConfig, std::string>()>& fallback) {
  if (keys.empty()) {
    auto t = fallback();
    if (t && allowUnsigned) t->allowUnsigned = true;
    return t;
  }
  policy::TrustConfig t;
  t.allowUnsigned = allowUnsigned;
  for (auto& f : keys) {
    auto pem = readFile(f);
    if (!pem) return std::unexpected(f + ": cannot read");
    auto k = trust::PublicKey::fromPem(*pem);
    if (!k) return std::unexpected(f + ": " + k.error());
    t.keys.push_back(*k);
  }
  return t;
}

// verify prints one verdict line; inspect prints the parsed manifest too.
int verify(const std::string& path, const policy::TrustConfig& trust, bool inspect) {
  auto man = policy::loadManifest(path);
  if (!man) {
    for (auto& e : man.error()) std::cerr << e << "\n";
    std::cerr << "REFUSED " << path << ": manifest invalid (" << man.error().size()
              << " problem(s))\n";
    return 1;
  }
  auto& m = man->module;
  auto v = policy::verifyModule(m, man->signature, trust);
  using S = policy::Verification::State;
  if (inspect) {
    json::object o{{"name", m.name},
                   {"version", m.version},
                   {"kind", m.kind},
                   {"artifact", m.artifactPath},
                   {"sha256", m.sha256},
                   {"sbom", m.sbomPath},
                   {"intents", json::value_from(m.intents)},
                   {"limits",
                    {{"memoryMb", m.limits.memoryMb},
                     {"timeoutMs", m.limits.timeoutMs},
                     {"outputBytes", m.limits.outputBytes},
                     {"fuel", m.limits.fuel},
                     {"concurrency", m.limits.concurrency}}},
                   {"verification",
                    {{"status", v.state == S::kVerified   ? "verified"
                                : v.state == S::kUnsigned ? "unsigned"
                                                          : "refused"},
                     {"reason", v.reason},
                     {"signer", v.signer}}}};
    if (auto sb = readFile(m.sbomPath)) {
      boost::system::error_code ec;
      auto doc = json::parse(*sb, ec);
      if (!ec && doc.is_object() && doc.as_object().contains("components") &&
          doc.at("components").is_array())
        o["sbomComponents"] = doc.at("components").as_array().size();
    }
    pretty(std::cout, o);
    std::cout << "\n";
  }
  if (v.state == S::kRefused) {
    std::cerr << "REFUSED " << m.name << " " << m.version << ": " << v.reason << "\n";
    return 1;
  }
  if (!inspect) {
    if (v.state == S::kVerified)
      std::cout << "OK " << m.name << " " << m.version << ": sha256:" << m.sha256 << ", signed by "
                << v.signer << ", SBOM " << m.sbomPath << "\n";
    else
      std::cout << "OK (unsigned) " << m.name << " " << m.version << ": " << v.reason << "\n";
  }
  return 0;
}

}  // namespace

void addModuleCommands(CLI::App& cli, ModuleCli& state,
                       std::function<std::expected<policy::TrustConfig, std::string>()> trust) {
  auto* mod = cli.add_subcommand("module", "Module signing keys, signatures, SBOMs and manifests");
  mod->require_subcommand(1);

  auto* kg = mod->add_subcommand("keygen", "Write PREFIX.key (ECDSA P-256, 0600) and PREFIX.pub");
  auto prefix = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  kg->add_option("prefix", *prefix, "Path prefix of the key files")->required();
  kg->add_flag("--force", *force, "Replace existing files");
  kg->callback([&state, prefix, force, kg] {
    state.command = kg;
    state.exitCode = keygen(*prefix, *force);
  });

  auto* sg = mod->add_subcommand(
      "sign", "Sign an artifact (cosign sign-blob format), write its SBOM and the full manifest");
  auto sa = std::make_shared<SignArgs>();
  sg->add_option("--key", sa->key, "PEM private key (from keygen)")->required();
  sg->add_option("--manifest", sa->manifest, "Manifest template (YAML or JSON)")->required();
  sg->add_option("--artifact", sa->artifact, "Artifact (default: the manifest's artifact)");
  sg->add_option("--cargo-metadata", sa->cargoMetadata,
                 "`cargo metadata --format-version 1` output: dependencies for the SBOM");
  sg->add_option("--out", sa->out, "Manifest to write (default: overwrite --manifest)");
  sg->callback([&state, sa, sg] {
    state.command = sg;
    state.exitCode = sign(*sa);
  });

  for (bool inspect : {false, true}) {
    auto* vc = mod->add_subcommand(
        inspect ? "inspect" : "verify",
        inspect
            ? "Print a manifest as aiond reads it, with its verification"
            : "Verify a manifest: digest, signature by a trusted key, SBOM (exit 1 if refused)");
    auto path = std::make_shared<std::string>();
    auto keys = std::make_shared<std::vector<std::string>>();
    auto allow = std::make_shared<bool>(false);
    vc->add_option("manifest", *path, "Manifest file")->required();
    vc->add_option("--trusted-key", *keys,
                   "Trusted PEM public key (repeatable; default: AION_MODULE_TRUSTED_KEYS)");
    vc->add_flag("--allow-unsigned", *allow, "Accept an unsigned module");
    vc->callback([&state, path, keys, allow, vc, inspect, trust] {
      state.command = vc;
      auto t = trustFrom(*keys, *allow, trust);
      if (!t) {
        std::cerr << "aiond module: " << t.error() << "\n";
        state.exitCode = 2;
        return;
      }
      state.exitCode = verify(*path, *t, inspect);
    });
  }
}

}  // namespace aion::app
