#pragma once
// Operator state about modules that outlives a restart: modules registered
// over the control API (artifact + manifest + SBOM, verified before stored)
// and the disabled set. Lives under AION_DATA_DIR/modules.
#include <boost/json/object.hpp>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>

#include "common/error.h"
#include "policy/loader.h"

namespace aion::control {

class ModuleRegistry {
 public:
  //! `root` holds registry/<name>/ folders and disabled.json.
  static Result<std::unique_ptr<ModuleRegistry>> open(const std::filesystem::path& root);

  std::filesystem::path registryDir() const { return root_ / "registry"; }

  std::set<std::string> disabled() const;
  //! Persists the change before returning (atomic rename).
  Status setEnabled(const std::string& name, bool enabled);

  //! A verified module staged for installation; install() or drop it.
  struct Staged {
    std::string name;
    std::string version;
    std::filesystem::path dir;
  };
  //! Writes the upload to a staging folder and verifies it exactly as the
  //! loader will (digest, signature by a trusted key, SBOM). Body:
  //! {manifest: {...}, artifact: base64, sbom: {...}}; manifest.signature is
  //! {value, public_key?} or {bundle: {...sigstore bundle JSON...}}.
  //! kInvalidRequest for a malformed upload, kModuleRefused when
  //! verification fails. Nothing is left behind on failure.
  Result<Staged> stage(const boost::json::object& body, const policy::TrustConfig& trust);
  //! Moves a staged module into place, replacing an older registration;
  //! returns a token for rollback().
  Result<std::filesystem::path> install(const Staged& s);
  //! Undoes install(): restores the previous registration, if any.
  void rollback(const Staged& s, const std::filesystem::path& previous);
  //! Removes the previous registration kept by install().
  void commit(const std::filesystem::path& previous);

 private:
  explicit ModuleRegistry(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
  mutable std::mutex mu_;
  std::set<std::string> disabled_;  // mirrors disabled.json
};

}  // namespace aion::control
