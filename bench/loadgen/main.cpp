// aion_loadgen: the load generator and instant upstream of bench/gateway.py.
// Prints one JSON line per load run; asserts nothing (bench/README.md).
//
//   aion_loadgen upstream [--port P] [--threads N]
//   aion_loadgen proxy --upstream-port P [--port P] [--threads N]
//   aion_loadgen http --url http://127.0.0.1:P/path [--method POST] [--body-file F]
//                     [--header 'K: V']... [--conns C] [--duration S] [--warmup S] [--rate R]
//                     [--report-every S]
//   aion_loadgen grpc --target 127.0.0.1:P --api-key K [--text-file F]
//                     [--conns C] [--duration S] [--warmup S] [--rate R]
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>

#include "grpc_caller.h"
#include "http_caller.h"
#include "load.h"
#include "proxy.h"
#include "upstream.h"

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void addPlanOptions(CLI::App* cmd, aion::bench::LoadPlan& plan) {
  cmd->add_option("--conns", plan.conns, "connections, one thread each")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--duration", plan.durationS, "seconds recorded")
      ->check(CLI::Range(0.1, 86400.0));
  cmd->add_option("--warmup", plan.warmupS, "seconds run before recording")
      ->check(CLI::Range(0.0, 600.0));
  cmd->add_option("--rate", plan.rate, "requests/s (open loop); 0: as fast as possible")
      ->check(CLI::Range(0.0, 1e7));
  cmd->add_option("--report-every", plan.reportEveryS,
                  "seconds: also print one JSON line per window while running (soak)")
      ->check(CLI::Range(0.0, 3600.0));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace aion::bench;
  CLI::App app{"aion_loadgen: load generator and instant upstream for bench/gateway.py"};
  app.require_subcommand(1);

  UpstreamOptions up;
  auto* upCmd = app.add_subcommand("upstream", "instant OpenAI-compatible upstream");
  upCmd->add_option("--port", up.port, "port on 127.0.0.1 (0: any)");
  upCmd->add_option("--threads", up.threads, "I/O threads")->check(CLI::Range(1, 64));

  ProxyOptions px;
  auto* pxCmd = app.add_subcommand("proxy", "bare C++ pass-through proxy (the floor under aiond)");
  pxCmd->add_option("--upstream-port", px.upstreamPort, "the upstream's port on 127.0.0.1")
      ->required();
  pxCmd->add_option("--port", px.port, "port on 127.0.0.1 (0: any)");
  pxCmd->add_option("--threads", px.threads, "I/O threads")->check(CLI::Range(1, 64));

  LoadPlan httpPlan;
  std::string url, method = "GET", bodyFile;
  std::vector<std::string> headers;
  auto* httpCmd = app.add_subcommand("http", "load an HTTP endpoint");
  httpCmd->add_option("--url", url, "http://host:port/path")->required();
  httpCmd->add_option("--method", method, "GET, POST, ...");
  httpCmd->add_option("--body-file", bodyFile, "request body");
  httpCmd->add_option("--header", headers, "'Name: value', repeatable");
  addPlanOptions(httpCmd, httpPlan);

  LoadPlan grpcPlan;
  GrpcTarget grpcTarget;
  std::string textFile;
  auto* grpcCmd = app.add_subcommand("grpc", "load aion.v1.AionTasks/Submit");
  grpcCmd->add_option("--target", grpcTarget.address, "host:port")->required();
  grpcCmd->add_option("--api-key", grpcTarget.apiKey, "sent as x-api-key")->required();
  grpcCmd->add_option("--intent", grpcTarget.intent, "task intent");
  grpcCmd->add_option("--text-file", textFile, "params.text (default: a short sentence)");
  addPlanOptions(grpcCmd, grpcPlan);

  CLI11_PARSE(app, argc, argv);
  try {
    if (upCmd->parsed()) return runUpstream(up);
    if (pxCmd->parsed()) return runProxy(px);
    boost::json::object report;
    if (httpCmd->parsed()) {
      HttpTarget t = parseHttpUrl(url);
      t.method = method;
      if (!bodyFile.empty()) t.body = readFile(bodyFile);
      for (auto& h : headers) {
        auto colon = h.find(':');
        if (colon == std::string::npos) throw std::runtime_error("header without ':': " + h);
        auto value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        t.headers.emplace_back(h.substr(0, colon), value);
      }
      report = runLoad(httpPlan, [&](int) { return makeHttpCaller(t); });
    } else {
      grpcTarget.text = textFile.empty() ? "A short text to summarize." : readFile(textFile);
      report = runLoad(grpcPlan, [&](int i) { return makeGrpcCaller(grpcTarget, i); });
    }
    std::cout << boost::json::serialize(report) << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "aion_loadgen: " << e.what() << "\n";
    return 1;
  }
}
