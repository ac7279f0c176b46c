#pragma once
// The ControlApi of a control plane in another process (aiond --role
// gateway): aion.internal.v1.Control over gRPC's callback API. No call blocks
// a thread: each suspends its coroutine until gRPC's callback, and every call
// has a deadline. Models and readiness come from a Watch stream kept open in
// the background (reconnected with backoff), so the synchronous parts of the
// interface answer from memory.
#include <grpcpp/grpcpp.h>

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "aion/internal/v1/control.grpc.pb.h"
#include "control/control_api.h"

namespace aion::control::rpc {

struct ClientOptions {
  std::string target;  // host:port of the control role (AION_CONTROL_GRPC)
  std::shared_ptr<grpc::ChannelCredentials> creds;
  std::chrono::milliseconds callTimeout{10000};  // each unary call's deadline
  //! IndexDocuments' deadline (callTimeout if longer): embedding a full
  //! request (100 documents of 50 kB) takes longer than any other call.
  std::chrono::milliseconds indexTimeout{120000};
  std::chrono::milliseconds openTimeout{10000};  // until a Follow stream is open
};

class RemoteControl final : public ControlApi {
 public:
  RemoteControl(ClientOptions o, std::function<boost::asio::any_io_executor()> nextIo);
  ~RemoteControl() override;

  //! Opens the Watch stream. Until its first snapshot, readiness() is not
  //! ready and model() fails with kUnavailable.
  void start();
  //! Ends the Watch stream; calls in flight finish by their deadlines.
  void stop();

  Awaitable submit(SubmitRequest req) override;
  Awaitable get(Principal who, std::string id) override;
  boost::asio::awaitable<Result<store::TaskPage>> list(Principal who, store::ListQuery q) override;
  Awaitable cancel(Principal who, std::string id, std::string reason) override;
  boost::asio::awaitable<Result<std::unique_ptr<events::Follower>>> follow(
      Principal who, std::string id, int64_t afterSeq) override;
  //! One SubmitFollow call: the submission and its first events in one round trip.
  boost::asio::awaitable<Result<Attached>> submitAttached(SubmitRequest req) override;
  std::vector<ModelEntry> models() override;
  Result<ModelEntry> model(const std::string& name, const std::string& intent) override;
  std::pair<bool, boost::json::object> readiness() override;
  boost::asio::awaitable<Result<IndexedDocuments>> indexDocuments(IndexRequest req) override;
  boost::asio::awaitable<Result<CollectionList>> listCollections(Principal who) override;
  boost::asio::awaitable<Status> deleteCollection(Principal who, std::string collection) override;

  struct Shared;  // what gRPC's callbacks may outlive this object with

 private:
  //! One unary call with its deadline (`timeout`, else callTimeout);
  //! `traceparent`, when given, goes as gRPC metadata too.
  template <typename Resp, typename Req, typename Start>
  boost::asio::awaitable<Result<Resp>> call(Req req, Start start, std::string traceparent = {},
                                            std::chrono::milliseconds timeout = {});

  ClientOptions o_;
  std::function<boost::asio::any_io_executor()> nextIo_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<aion::internal::v1::Control::Stub> stub_;
  std::shared_ptr<Shared> shared_;
};

//! The channel credentials for AION_INTERNAL_TLS_* (all three set), else
//! insecure ones.
std::shared_ptr<grpc::ChannelCredentials> clientCredentials(const std::string& certPem,
                                                            const std::string& keyPem,
                                                            const std::string& caPem);

}  // namespace aion::control::rpc
