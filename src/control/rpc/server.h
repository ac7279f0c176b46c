#pragma once
// aion.internal.v1.Control served over a ControlService (aiond --role
// control): what gateways in other processes call. Handlers hop onto the
// control plane's I/O threads as coroutines; gRPC's threads never block.
#include <grpcpp/grpcpp.h>

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>

#include "aion/internal/v1/control.grpc.pb.h"
#include "control/control_service.h"

namespace aion::control::rpc {

class ControlRpcService final : public aion::internal::v1::Control::CallbackService {
 public:
  using Pb = aion::internal::v1::Control::CallbackService;
  ControlRpcService(ControlService& control, std::function<boost::asio::any_io_executor()> nextIo,
                    std::chrono::milliseconds watchEvery = std::chrono::milliseconds(1000))
      : control_(control), nextIo_(std::move(nextIo)), watchEvery_(watchEvery) {}

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* ctx,
                                   const aion::internal::v1::SubmitRequest* req,
                                   aion::internal::v1::Task* resp) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx,
                                const aion::internal::v1::TaskRequest* req,
                                aion::internal::v1::Task* resp) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx,
                                 const aion::internal::v1::ListRequest* req,
                                 aion::internal::v1::TaskPage* resp) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* ctx,
                                   const aion::internal::v1::CancelRequest* req,
                                   aion::internal::v1::Task* resp) override;
  grpc::ServerWriteReactor<aion::internal::v1::EventBatch>* Follow(
      grpc::CallbackServerContext* ctx, const aion::internal::v1::FollowRequest* req) override;
  grpc::ServerWriteReactor<aion::internal::v1::EventBatch>* SubmitFollow(
      grpc::CallbackServerContext* ctx, const aion::internal::v1::SubmitRequest* req) override;
  grpc::ServerWriteReactor<aion::internal::v1::Snapshot>* Watch(
      grpc::CallbackServerContext* ctx, const aion::internal::v1::WatchRequest* req) override;
  grpc::ServerUnaryReactor* IndexDocuments(grpc::CallbackServerContext* ctx,
                                           const aion::internal::v1::IndexDocumentsRequest* req,
                                           aion::internal::v1::IndexedDocuments* resp) override;
  grpc::ServerUnaryReactor* ListCollections(grpc::CallbackServerContext* ctx,
                                            const aion::internal::v1::ListCollectionsRequest* req,
                                            aion::internal::v1::CollectionList* resp) override;
  grpc::ServerUnaryReactor* DeleteCollection(grpc::CallbackServerContext* ctx,
                                             const aion::internal::v1::DeleteCollectionRequest* req,
                                             aion::internal::v1::CollectionDeleted* resp) override;

 private:
  ControlService& control_;
  std::function<boost::asio::any_io_executor()> nextIo_;
  std::chrono::milliseconds watchEvery_;  // how often a Watch stream checks for changes
};

//! Mutual TLS when all three PEMs are given (client certificates required
//! and verified against `caPem`), else insecure.
std::shared_ptr<grpc::ServerCredentials> serverCredentials(const std::string& certPem,
                                                           const std::string& keyPem,
                                                           const std::string& caPem);

//! Starts the server; `port` 0 picks one, returned through `port`.
std::unique_ptr<grpc::Server> startControlRpcServer(ControlRpcService& service,
                                                    const std::string& address, int& port,
                                                    std::shared_ptr<grpc::ServerCredentials> creds);

}  // namespace aion::control::rpc
