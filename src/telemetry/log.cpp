#include "telemetry/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include "common/json_text.h"

namespace aion::telemetry {
namespace {

std::atomic<bool> gEvents{false};
std::shared_ptr<spdlog::logger> gEventLogger;

// {"ts":"2026-12-02T12:00:00.123Z","level":"info",
void appendHead(const spdlog::details::log_msg& m, std::string& out) {
  auto t = std::chrono::system_clock::to_time_t(m.time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(m.time.time_since_epoch()) % 1000;
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  out += R"({"ts":")";
  out += ts;
  out += R"(","level":")";
  auto lvl = spdlog::level::to_string_view(m.level);
  out.append(lvl.data(), lvl.size());
  out += "\",";
}

// An ordinary log line as {"ts","level","msg"}.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& m, spdlog::memory_buf_t& dest) override {
    std::string line;
    appendHead(m, line);
    line += R"("msg":)";
    appendJsonString(line, std::string_view(m.payload.data(), m.payload.size()));
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// An event: its payload is already a JSON object; the head goes in front.
class EventFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& m, spdlog::memory_buf_t& dest) override {
    std::string line;
    appendHead(m, line);
    std::string_view body(m.payload.data(), m.payload.size());
    line.append(body.substr(1));  // the object's fields, after its '{'
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<EventFormatter>();
  }
};

}  // namespace

void setupLogging(LogFormat format, spdlog::level::level_enum level) {
  if (format == LogFormat::kText) {
    auto logger = spdlog::stderr_color_mt("aiond");
    spdlog::set_default_logger(logger);
    spdlog::set_level(level);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
    return;
  }
  auto logger = spdlog::stderr_logger_mt("aiond");
  logger->set_formatter(std::make_unique<JsonFormatter>());
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
  gEventLogger = spdlog::stderr_logger_mt("aiond.events");
  gEventLogger->set_formatter(std::make_unique<EventFormatter>());
  gEventLogger->set_level(level);
  gEvents = level <= spdlog::level::info;
}

bool eventsOn() {
  return gEvents.load(std::memory_order_relaxed);
}

void logEvent(std::string_view name, const boost::json::object& fields) {
  if (!eventsOn()) return;
  std::string body = R"({"event":)";
  appendJsonString(body, name);
  for (auto& [k, v] : fields) {
    body += ',';
    appendJsonString(body, k);
    body += ':';
    appendJson(body, v);
  }
  body += '}';
  gEventLogger->log(spdlog::level::info, spdlog::string_view_t(body));
}

}  // namespace aion::telemetry
