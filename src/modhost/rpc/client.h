#pragma once
// The ModuleHost of a module host in another process (aiond --role
// modhost), for the control role: aion.internal.v1.ModuleHost over gRPC.
// callAsync() awaits the network on the caller's coroutine (gRPC's callback
// API; no thread blocks) with a deadline of the call's timeout plus a margin,
// and cancels the RPC when the task is canceled. load() and describe() are
// for policy loads and listings, off the request path: load() blocks until
// the module host answers (bounded by a deadline). A module host that
// restarted has nothing loaded: the first call that finds it so loads the
// last policy set again and retries once.
#include <grpcpp/grpcpp.h>

#include <mutex>

#include "aion/internal/v1/modhost.grpc.pb.h"
#include "modhost/gpu.h"
#include "modhost/module_host.h"

namespace aion::modhost::rpc {

struct ClientOptions {
  std::string target;  // host:port (AION_MODHOST_GRPC)
  std::shared_ptr<grpc::ChannelCredentials> creds;
  std::chrono::milliseconds loadTimeout{60000};  // Load ships artifacts and compiles them
  std::chrono::milliseconds callMargin{2000};    // beyond a call's own timeout
};

class RemoteModuleHost final : public ModuleHost {
 public:
  explicit RemoteModuleHost(ClientOptions o);

  std::expected<void, std::vector<std::string>> load(const policy::PolicySet& set) override;
  Result<CallResult> call(const std::string& name, std::string_view input,
                          const CallOptions& opts) override;
  boost::asio::awaitable<Result<CallResult>> callAsync(std::string name, std::string input,
                                                       CallOptions opts,
                                                       boost::asio::any_io_executor pool) override;
  boost::json::array describe() const override;

  //! The module host's own description (sandbox, GPUs, subprocess refusal),
  //! asked at once; kUnavailable when it cannot be reached within `timeout`.
  struct Info {
    boost::json::value sandbox;
    std::string subprocessBlocked;
    std::vector<GpuDevice> gpus;
  };
  Result<Info> info(std::chrono::milliseconds timeout);

 private:
  std::string who() const { return "the module host at " + o_.target; }
  Status loadSpecs(const aion::internal::v1::LoadRequest& req);

  ClientOptions o_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<aion::internal::v1::ModuleHost::Stub> stub_;
  mutable std::mutex mu_;
  std::shared_ptr<const aion::internal::v1::LoadRequest> last_;  // the policy set's modules
  boost::json::array described_;
};

}  // namespace aion::modhost::rpc
