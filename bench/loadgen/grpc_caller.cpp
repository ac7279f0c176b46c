#include "grpc_caller.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <stdexcept>

#include "aion/v1/tasks.grpc.pb.h"

namespace aion::bench {
namespace {

constexpr int kDeadlineS = 60;
constexpr const char* kCodeNames[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

class GrpcCaller final : public Caller {
 public:
  GrpcCaller(const GrpcTarget& t, int index) : apiKey_(t.apiKey) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("aion.bench.conn", index);  // a distinct channel, never a shared one
    channel_ = grpc::CreateCustomChannel(t.address, grpc::InsecureChannelCredentials(), args);
    if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5)))
      throw std::runtime_error("gRPC connect " + t.address + ": timed out");
    stub_ = v1::AionTasks::NewStub(channel_);
    req_.set_schema_version("1.0");
    req_.set_intent(t.intent);
    (*req_.mutable_params()->mutable_fields())["text"].set_string_value(t.text);
  }

  Outcome call() override {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", apiKey_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kDeadlineS));
    v1::SubmitResponse resp;
    grpc::Status st = stub_->Submit(&ctx, req_, &resp);
    return {static_cast<int>(st.error_code()), st.ok()};
  }

  std::string label(int code) const override {
    return code >= 0 && code < static_cast<int>(std::size(kCodeNames)) ? kCodeNames[code]
                                                                       : std::to_string(code);
  }

 private:
  std::string apiKey_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AionTasks::Stub> stub_;
  v1::SubmitRequest req_;
};

}  // namespace

std::unique_ptr<Caller> makeGrpcCaller(const GrpcTarget& t, int index) {
  return std::make_unique<GrpcCaller>(t, index);
}

}  // namespace aion::bench
