#pragma once
// Public gRPC API aion.v1.AionTasks (proto/aion/v1/tasks.proto) on the
// callback API, with server reflection so grpcurl works without .proto files.
// Handlers never block gRPC's threads: control-plane calls run on the
// gateway's blocking pool and finish the RPC from there.
#include <grpcpp/grpcpp.h>

#include <memory>

#include "aion/v1/tasks.grpc.pb.h"
#include "gateway/gateway_http.h"

namespace aion::gateway {

class GrpcTasksService final : public aion::v1::AionTasks::CallbackService {
 public:
  GrpcTasksService(GatewayDeps d, GatewayOptions o) : d_(d), o_(o) {}

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* ctx, const v1::SubmitRequest* req,
                                   v1::SubmitResponse* resp) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetRequest* req,
                                v1::Task* resp) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const v1::ListRequest* req,
                                 v1::ListResponse* resp) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* ctx, const v1::CancelRequest* req,
                                   v1::Task* resp) override;
  grpc::ServerWriteReactor<v1::Event>* Stream(grpc::CallbackServerContext* ctx,
                                              const v1::StreamRequest* req) override;

 private:
  //! Authenticates and applies rate limits, then runs `fn` on the blocking
  //! pool; `fn` returns the RPC's status.
  grpc::ServerUnaryReactor* unary(grpc::CallbackServerContext* ctx,
                                  std::function<grpc::Status(const Principal&)> fn);
  Result<Principal> admit(grpc::CallbackServerContext* ctx);

  GatewayDeps d_;
  GatewayOptions o_;
};

//! The gRPC status for an aionOS error.
grpc::Status toGrpcStatus(const Error& e);

//! Starts the gRPC server with `creds` (insecure or TLS); returns the bound
//! port through `port`.
std::unique_ptr<grpc::Server> startGrpcServer(GrpcTasksService& service, const std::string& address,
                                              int& port,
                                              std::shared_ptr<grpc::ServerCredentials> creds);

}  // namespace aion::gateway
