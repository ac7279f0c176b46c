#pragma once
// aion.internal.v1.ModuleHost served over the in-process hosts (aiond --role
// modhost). Load stores the verified artifact bytes under the host's data
// dir by digest (checked again) and loads them; Call runs a module on the
// module threads and stops it when the caller cancels the RPC.
#include <grpcpp/grpcpp.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/value.hpp>
#include <filesystem>

#include "aion/internal/v1/modhost.grpc.pb.h"
#include "modhost/composite_host.h"
#include "telemetry/metrics.h"

namespace aion::modhost::rpc {

struct ServiceOptions {
  std::filesystem::path artifactDir;  // where Load writes artifacts (by sha256)
  boost::json::value sandbox;         // the subprocess sandbox's layers
  std::string subprocessBlocked;      // non-empty: subprocess modules are refused, with this reason
  telemetry::Metrics* metrics = nullptr;  // module calls counted here too (aion_module_calls_total)
};

class ModuleHostRpcService final : public aion::internal::v1::ModuleHost::CallbackService {
 public:
  ModuleHostRpcService(CompositeModuleHost& host, boost::asio::any_io_executor pool,
                       boost::asio::any_io_executor blocking, ServiceOptions o)
      : host_(host), pool_(std::move(pool)), blocking_(std::move(blocking)), o_(std::move(o)) {}

  grpc::ServerUnaryReactor* Load(grpc::CallbackServerContext* ctx,
                                 const aion::internal::v1::LoadRequest* req,
                                 aion::internal::v1::HostInfo* resp) override;
  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx,
                                 const aion::internal::v1::CallRequest* req,
                                 aion::internal::v1::CallReply* resp) override;
  grpc::ServerUnaryReactor* Describe(grpc::CallbackServerContext* ctx,
                                     const aion::internal::v1::DescribeRequest* req,
                                     aion::internal::v1::HostInfo* resp) override;

  //! True once a Load succeeded (readiness).
  bool loaded() const { return loaded_.load(); }

 private:
  void fillInfo(aion::internal::v1::HostInfo* out) const;

  CompositeModuleHost& host_;
  boost::asio::any_io_executor pool_;
  boost::asio::any_io_executor blocking_;
  ServiceOptions o_;
  std::atomic<bool> loaded_{false};
};

std::unique_ptr<grpc::Server> startModuleHostRpcServer(
    ModuleHostRpcService& service, const std::string& address, int& port,
    std::shared_ptr<grpc::ServerCredentials> creds);

}  // namespace aion::modhost::rpc
