#include "control/module_registry.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <regex>

#include "common/digest.h"
#include "common/ids.h"
#include "common/json_text.h"
#include "policy/manifest.h"
#include "trust/signing.h"

namespace aion::control {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

void syncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Written to a temp file with its final mode, fsynced, renamed into place
// and the folder fsynced: after a crash the file is the old or the new one.
Status writeFileAtomic(const fs::path& p, std::string_view bytes, fs::perms perms) {
  auto tmp = p;
  tmp += ".tmp";
  std::error_code ec;
  if (!writeFile(tmp, bytes, perms, /*sync=*/true) || (fs::rename(tmp, p, ec), ec)) {
    fs::remove(tmp, ec);
    return fail(ErrorCode::kInternal, "cannot write " + p.string());
  }
  syncDir(p.parent_path());
  return {};
}

const std::regex kName("^[a-z0-9][a-z0-9._-]{0,63}$");

}  // namespace

Result<std::unique_ptr<ModuleRegistry>> ModuleRegistry::open(const fs::path& root) {
  std::error_code ec;
  fs::create_directories(root / "registry", ec);
  if (ec) return fail(ErrorCode::kInternal, "cannot create " + root.string() + ": " + ec.message());
  // Leftovers of an upload cut short by a crash: a staged upload is dropped;
  // a previous registration set aside by install() goes back if its
  // replacement never arrived.
  for (auto& d : fs::directory_iterator(root, ec)) {
    auto f = d.path().filename().string();
    if (f.rfind(".staging-", 0) == 0) {
      fs::remove_all(d.path(), ec);
    } else if (f.rfind(".previous-", 0) == 0) {
      auto cut = f.rfind("-req_");
      auto name = cut == std::string::npos ? "" : f.substr(10, cut - 10);
      auto target = root / "registry" / name;
      if (!name.empty() && !fs::exists(target, ec))
        fs::rename(d.path(), target, ec);
      else
        fs::remove_all(d.path(), ec);
    }
  }
  std::unique_ptr<ModuleRegistry> r(new ModuleRegistry(root));
  // Fails closed: a damaged file must not silently re-enable what an
  // operator switched off.
  auto path = root / "disabled.json";
  if (fs::exists(path, ec)) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    boost::system::error_code jec;
    auto v = json::parse(text, jec);
    bool ok = !jec && v.is_array();
    for (auto& x : ok ? v.as_array() : json::array{}) {
      ok = ok && x.is_string();
      if (x.is_string()) r->disabled_.insert(std::string(x.as_string()));
    }
    if (!ok)
      return fail(ErrorCode::kInternal,
                  path.string() +
                      " is damaged (expected a JSON list of module names); fix or "
                      "remove it to start");
  }
  return r;
}

std::set<std::string> ModuleRegistry::disabled() const {
  std::lock_guard lock(mu_);
  return disabled_;
}

Status ModuleRegistry::setEnabled(const std::string& name, bool enabled) {
  std::lock_guard lock(mu_);
  auto set = disabled_;
  if (enabled)
    set.erase(name);
  else
    set.insert(name);
  json::array a;
  for (auto& n : set) a.push_back(json::string(n));
  auto st = writeFileAtomic(root_ / "disabled.json", jsonText(a),
                            fs::perms::owner_read | fs::perms::owner_write);
  if (st) disabled_ = std::move(set);
  return st;
}

Result<ModuleRegistry::Staged> ModuleRegistry::stage(const json::object& body,
                                                     const policy::TrustConfig& trust) {
  auto bad = [](std::string m) { return fail(ErrorCode::kInvalidRequest, std::move(m)); };
  for (auto& [k, _] : body)
    if (k != "manifest" && k != "artifact" && k != "sbom")
      return bad("unknown field '" + std::string(k) + "' (use manifest, artifact, sbom)");
  auto* man = body.if_contains("manifest");
  if (!man || !man->is_object()) return bad("manifest must be an object");
  auto* art = body.if_contains("artifact");
  if (!art || !art->is_string()) return bad("artifact must be a base64 string");
  auto* sbom = body.if_contains("sbom");
  if (sbom && !sbom->is_object()) return bad("sbom must be a CycloneDX JSON object");
  json::object m = man->as_object();
  // An upload must not pull aiond's own environment (API keys, provider
  // credentials) into code its uploader chose: secrets are for modules an
  // operator lists in modules.yml.
  if (auto* sec = m.if_contains("secrets"); sec && !(sec->is_array() && sec->as_array().empty()))
    return bad(
        "manifest.secrets: registered modules may not declare secrets; list the module "
        "in modules.yml instead");
  auto* name = m.if_contains("name");
  if (!name || !name->is_string() || !std::regex_match(std::string(name->as_string()), kName))
    return bad("manifest.name must match [a-z0-9][a-z0-9._-]{0,63}");
  auto bytes = trust::base64Decode(art->as_string());
  if (!bytes || bytes->empty()) return bad("artifact is not base64");

  Staged st;
  st.name = std::string(name->as_string());
  st.dir = root_ / (".staging-" + newRequestId());
  std::error_code ec;
  fs::create_directories(st.dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "cannot create " + st.dir.string());
  auto cleanup = [&] { fs::remove_all(st.dir, ec); };
  // Paths inside the upload are ignored: files get fixed names here.
  m["artifact"] = "artifact";
  bool exec = m.contains("kind") && m["kind"].is_string() && m["kind"].as_string() == "subprocess";
  auto perms = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
               fs::perms::others_read |
               (exec ? fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec
                     : fs::perms::none);
  Status w = writeFileAtomic(st.dir / "artifact", *bytes, perms);
  if (w && sbom) {
    m["sbom"] = "sbom.cdx.json";
    w = writeFileAtomic(st.dir / "sbom.cdx.json", jsonText(*sbom),
                        fs::perms::owner_read | fs::perms::owner_write);
  } else if (w) {
    m.erase("sbom");
  }
  if (auto* sig = m.if_contains("signature"); w && sig && sig->is_object()) {
    auto& so = sig->as_object();
    if (auto* b = so.if_contains("bundle"); b && b->is_object()) {
      w = writeFileAtomic(st.dir / "bundle.json", jsonText(*b),
                          fs::perms::owner_read | fs::perms::owner_write);
      so["bundle"] = "bundle.json";
    } else if (b) {
      cleanup();
      return bad("manifest.signature.bundle must be the bundle JSON object");
    }
    if (auto* k = so.if_contains("public_key");
        k && (!k->is_string() || k->as_string().find("-----BEGIN") == json::string::npos)) {
      cleanup();
      return bad("manifest.signature.public_key must be an inline PEM public key");
    }
  }
  if (w)
    w = writeFileAtomic(st.dir / "manifest.json", jsonText(m),
                        fs::perms::owner_read | fs::perms::owner_write);
  if (!w) {
    cleanup();
    return std::unexpected(w.error());
  }
  auto loaded = policy::loadManifest(st.dir / "manifest.json");
  if (!loaded) {
    cleanup();
    json::array errs;
    for (auto& e : loaded.error()) {
      // Name fields, not the staging path.
      auto pos = e.find("manifest.json");
      errs.push_back(json::string(pos == std::string::npos ? e : e.substr(pos)));
    }
    return fail(ErrorCode::kInvalidRequest, "manifest invalid: " + std::string(errs[0].as_string()),
                {{"errors", errs}});
  }
  auto v = policy::verifyModule(loaded->module, loaded->signature, trust);
  if (v.state == policy::Verification::State::kRefused) {
    cleanup();
    return fail(ErrorCode::kModuleRefused, "module '" + st.name + "' refused: " + v.reason,
                {{"module", st.name}});
  }
  st.version = loaded->module.version;
  return st;
}

Result<fs::path> ModuleRegistry::install(const Staged& s) {
  std::lock_guard lock(mu_);
  std::error_code ec;
  auto target = registryDir() / s.name;
  fs::path previous;
  if (fs::exists(target, ec)) {
    previous = root_ / (".previous-" + s.name + "-" + newRequestId());
    fs::rename(target, previous, ec);
    if (ec) return fail(ErrorCode::kInternal, "cannot replace " + target.string());
  }
  fs::rename(s.dir, target, ec);
  if (ec) {
    if (!previous.empty()) fs::rename(previous, target, ec);
    return fail(ErrorCode::kInternal, "cannot install into " + target.string());
  }
  return previous;
}

void ModuleRegistry::rollback(const Staged& s, const fs::path& previous) {
  std::lock_guard lock(mu_);
  std::error_code ec;
  auto target = registryDir() / s.name;
  fs::remove_all(target, ec);
  if (!previous.empty()) fs::rename(previous, target, ec);
}

void ModuleRegistry::commit(const fs::path& previous) {
  std::error_code ec;
  if (!previous.empty()) fs::remove_all(previous, ec);
}

}  // namespace aion::control
