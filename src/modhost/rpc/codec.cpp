#include "modhost/rpc/codec.h"

#include <boost/json.hpp>

#include "common/digest.h"
#include "common/json_text.h"

namespace aion::modhost::rpc {
namespace json = boost::json;
namespace fs = std::filesystem;
namespace pb = aion::internal::v1;

Status toSpec(const policy::Module& m, pb::ModuleSpec* out) {
  auto bytes = readFile(m.artifactPath);
  if (!bytes)
    return fail(ErrorCode::kModuleRefused, "modules." + m.name + ": cannot read " + m.artifactPath);
  std::string digest = sha256Hex(*bytes);
  const std::string& want = !m.verification.sha256.empty() ? m.verification.sha256 : m.sha256;
  if (!want.empty() && want != digest)
    return fail(ErrorCode::kModuleRefused,
                "modules." + m.name + ": artifact changed since it was verified");
  out->set_name(m.name);
  out->set_version(m.version);
  out->set_kind(m.kind);
  out->set_sha256(digest);
  out->set_artifact(std::move(*bytes));
  for (auto& i : m.intents) out->add_intents(i);
  auto* l = out->mutable_limits();
  l->set_memory_mb(m.limits.memoryMb);
  l->set_timeout_ms(m.limits.timeoutMs);
  l->set_output_bytes(m.limits.outputBytes);
  l->set_fuel(m.limits.fuel);
  l->set_concurrency(m.limits.concurrency);
  l->set_cpu_ms(m.limits.cpuMs);
  l->set_max_files(m.limits.maxFiles);
  l->set_max_procs(m.limits.maxProcs);
  out->set_gpu(m.resources.gpu == policy::GpuNeed::kRequired   ? "required"
               : m.resources.gpu == policy::GpuNeed::kOptional ? "optional"
                                                               : "none");
  out->set_gpu_memory_mb(m.resources.gpuMemoryMb);
  for (auto& [k, v] : m.env) (*out->mutable_env())[k] = v;
  if (m.inputSchema) out->set_input_schema_json(jsonText(m.inputSchema->raw()));
  if (m.outputSchema) out->set_output_schema_json(jsonText(m.outputSchema->raw()));
  out->set_verification(
      m.verification.state == policy::Verification::State::kVerified ? "verified" : "unsigned");
  out->set_signer(m.verification.signer);
  out->set_source(m.source);
  return {};
}

Result<policy::Module> fromSpec(const pb::ModuleSpec& s, const fs::path& dir) {
  std::string where = "modules." + s.name();
  if (s.kind() != "wasm" && s.kind() != "subprocess")
    return fail(ErrorCode::kInvalidRequest, where + ": unknown kind '" + s.kind() + "'");
  if (sha256Hex(s.artifact()) != s.sha256())
    return fail(ErrorCode::kModuleRefused, where + ": artifact bytes do not match their digest");
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::path path = dir / s.sha256();
  if (!fs::exists(path, ec)) {
    fs::path tmp = dir / (s.sha256() + ".tmp");
    if (!writeFile(tmp, s.artifact(), static_cast<fs::perms>(0755), true) ||
        (fs::rename(tmp, path, ec), ec))
      return fail(ErrorCode::kUnavailable,
                  where + ": cannot store the artifact in " + dir.string());
  }
  policy::Module m;
  m.name = s.name();
  m.version = s.version();
  m.kind = s.kind();
  m.artifactPath = path.string();
  m.sha256 = s.sha256();
  m.intents = {s.intents().begin(), s.intents().end()};
  const auto& l = s.limits();
  m.limits = {.memoryMb = l.memory_mb(),
              .timeoutMs = l.timeout_ms(),
              .outputBytes = l.output_bytes(),
              .fuel = l.fuel(),
              .concurrency = l.concurrency(),
              .cpuMs = l.cpu_ms(),
              .maxFiles = l.max_files(),
              .maxProcs = l.max_procs()};
  m.resources.gpu = s.gpu() == "required"   ? policy::GpuNeed::kRequired
                    : s.gpu() == "optional" ? policy::GpuNeed::kOptional
                                            : policy::GpuNeed::kNone;
  m.resources.gpuMemoryMb = s.gpu_memory_mb();
  m.env = {s.env().begin(), s.env().end()};
  for (auto [text, slot] : {std::pair{&s.input_schema_json(), &m.inputSchema},
                            std::pair{&s.output_schema_json(), &m.outputSchema}}) {
    if (text->empty()) continue;
    boost::system::error_code jec;
    auto v = json::parse(*text, jec);
    if (jec) return fail(ErrorCode::kInvalidRequest, where + ": bad schema JSON");
    *slot = policy::JsonSchema(std::move(v));
  }
  m.verification.state = s.verification() == "verified" ? policy::Verification::State::kVerified
                                                        : policy::Verification::State::kUnsigned;
  m.verification.reason = s.verification() == "verified" ? "" : "unsigned";
  m.verification.signer = s.signer();
  m.verification.sha256 = s.sha256();
  m.source = s.source();
  return m;
}

}  // namespace aion::modhost::rpc
