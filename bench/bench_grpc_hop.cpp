// What one internal gRPC hop pair costs on this machine, apart from aionOS's
// work: the control plane's own Get RPC (same generated code, same messages)
// between two processes on loopback, one call in flight, with a server that
// answers at once. Four ways, so the figure splits into gRPC itself and the
// thread hand-offs aionOS adds on each side (bench/README.md):
//   client: sync   the calling thread waits in gRPC (no hand-off)
//           io     a coroutine on an Asio io_context; gRPC's callback posts
//                  the reply back to it, as RemoteControl does
//   server: inline the callback answers on gRPC's thread
//           io     the callback co_spawns on an io_context, as the control
//                  plane's unary() does, which answers from there
//
// usage: bench_grpc_hop [--calls N]   (forks its own server; prints a table)
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "aion/internal/v1/control.grpc.pb.h"
#include "common/async.h"

namespace asio = boost::asio;
namespace pb = aion::internal::v1;
using Clock = std::chrono::steady_clock;

namespace {

// Answers Get with a small task at once; task_id "io" answers from an
// io_context thread instead of gRPC's.
class Server final : public pb::Control::CallbackService {
 public:
  Server() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~Server() override {
    guard_.reset();
    io_.stop();
    thread_.join();
  }

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const pb::TaskRequest* req,
                                pb::Task* resp) override {
    auto* reactor = ctx->DefaultReactor();
    if (req->task_id() != "io") {
      answer(*req, resp);
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    asio::co_spawn(
        io_,
        [reactor, req, resp]() -> asio::awaitable<void> {
          answer(*req, resp);
          reactor->Finish(grpc::Status::OK);
          co_return;
        },
        asio::detached);
    return reactor;
  }

 private:
  static void answer(const pb::TaskRequest& req, pb::Task* resp) {
    resp->set_id(req.task_id());
    resp->set_tenant(req.principal().tenant());
    resp->set_intent("summarize");
    resp->set_status("succeeded");
  }

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

pb::TaskRequest request(const char* server) {
  pb::TaskRequest r;
  r.mutable_principal()->set_key_id("bench");
  r.mutable_principal()->set_tenant("default");
  r.mutable_principal()->set_roles(1);
  r.set_task_id(server);
  return r;
}

std::vector<double> syncCalls(pb::Control::Stub& stub, const char* server, int n) {
  auto req = request(server);
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    pb::Task resp;
    auto t = Clock::now();
    auto st = stub.Get(&ctx, req, &resp);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    if (!st.ok()) {
      std::fprintf(stderr, "Get failed: %s\n", st.error_message().c_str());
      std::exit(1);
    }
  }
  return us;
}

std::vector<double> ioCalls(pb::Control::Stub& stub, const char* server, int n) {
  asio::io_context io(1);
  std::vector<double> us;
  auto req = request(server);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n; ++i) {
          grpc::ClientContext ctx;
          pb::Task resp;
          grpc::Status st;
          auto t = Clock::now();
          co_await aion::callbackAsync<>(asio::use_awaitable, [&](auto done) {
            stub.async()->Get(&ctx, &req, &resp, [&st, done](grpc::Status s) {
              st = std::move(s);
              done();
            });
          });
          us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
          if (!st.ok()) {
            std::fprintf(stderr, "Get failed: %s\n", st.error_message().c_str());
            std::exit(1);
          }
        }
      },
      asio::detached);
  io.run();
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 5000;
  bool detector = false;
  bool unixSocket = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
      calls = std::max(100, std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--absl-deadlock-detection") == 0)
      detector = true;  // as Debian's Abseil leaves it, and aiond before it turned it off
    else if (std::strcmp(argv[i], "--unix") == 0)
      unixSocket = true;  // a Unix-domain socket instead of loopback TCP
  }
  // As aiond does (src/app/main.cpp): Debian's Abseil has the detector on.
  if (!detector) absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  std::string sock = "/tmp/aion-hop-" + std::to_string(getpid()) + ".sock";
  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {  // the server: reports its port, serves until the parent kills it
    close(pipefd[0]);
    Server service;
    int port = 0;
    grpc::ServerBuilder b;
    b.AddListeningPort(unixSocket ? "unix:" + sock : "127.0.0.1:0",
                       grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&service);
    auto server = b.BuildAndStart();
    if (server && unixSocket) port = 1;  // a path has no port: any non-zero says it listens
    if (write(pipefd[1], &port, sizeof port) != sizeof port) _exit(1);
    pause();  // killed by the parent
    _exit(0);
  }
  close(pipefd[1]);
  int port = 0;
  if (read(pipefd[0], &port, sizeof port) != sizeof port || port == 0) {
    std::fprintf(stderr, "server did not start\n");
    return 1;
  }
  auto channel =
      grpc::CreateChannel(unixSocket ? "unix:" + sock : "127.0.0.1:" + std::to_string(port),
                          grpc::InsecureChannelCredentials());
  auto stub = pb::Control::NewStub(channel);
  syncCalls(*stub, "inline", 500);  // connect and warm up

  struct Row {
    const char* client;
    const char* server;
    std::vector<double> us;
  };
  std::vector<Row> rows;
  // Interleaved rounds, so that a noisy moment does not land on one row.
  const char* clients[] = {"sync", "io"};
  const char* servers[] = {"inline", "io"};
  for (auto* c : clients)
    for (auto* s : servers) rows.push_back({c, s, {}});
  for (int round = 0; round < 5; ++round)
    for (auto& r : rows) {
      auto us = std::strcmp(r.client, "sync") == 0 ? syncCalls(*stub, r.server, calls / 5)
                                                   : ioCalls(*stub, r.server, calls / 5);
      r.us.insert(r.us.end(), us.begin(), us.end());
    }
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  if (unixSocket) unlink(sock.c_str());

  double floor = pct(rows[0].us, .5);
  std::printf("%-8s %-8s %10s %10s %10s\n", "client", "server", "p50 us", "p99 us", "p50/floor");
  for (auto& r : rows)
    std::printf("%-8s %-8s %10.1f %10.1f %9.2fx\n", r.client, r.server, pct(r.us, .5),
                pct(r.us, .99), pct(r.us, .5) / floor);
  return 0;
}
