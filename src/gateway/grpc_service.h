#pragma once
// Public gRPC API aion.v1.AionTasks (proto/aion/v1/tasks.proto) on the
// callback API, with server reflection so grpcurl works without .proto files.
// Handlers never block gRPC's threads: each RPC hops onto the gateway's I/O
// threads as a coroutine, passes the same admission chain as HTTP, and
// streams through the same follower as SSE and WebSocket.
#include <grpcpp/grpcpp.h>

#include <boost/asio/awaitable.hpp>
#include <memory>

#include "aion/v1/tasks.grpc.pb.h"
#include "gateway/gateway_http.h"
#include "telemetry/tracer.h"

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
  grpc::ServerWriteReactor<v1::Event>* Run(grpc::CallbackServerContext* ctx,
                                           const v1::SubmitRequest* req) override;

 private:
  //! Runs the admission chain, then `fn` on the I/O threads, inside the
  //! RPC's server span (`fn` gets the trace with that span as parent); `fn`
  //! returns the RPC's status.
  grpc::ServerUnaryReactor* unary(grpc::CallbackServerContext* ctx, const char* method,
                                  std::function<boost::asio::awaitable<grpc::Status>(
                                      const Principal&, const telemetry::TraceJoin&)>
                                      fn);

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
