#pragma once
// A blocking gRPC client for aion.v1.AionTasks/Submit, for the load driver.
#include <memory>
#include <string>

#include "load.h"

namespace aion::bench {

struct GrpcTarget {
  std::string address;  // host:port
  std::string apiKey;
  std::string intent = "summarize";
  std::string text;  // params.text
};

//! Connection `index`: its own channel and TCP connection (channels do not
//! share a subchannel); waits until it is connected.
std::unique_ptr<Caller> makeGrpcCaller(const GrpcTarget& t, int index);

}  // namespace aion::bench
