#include "providers/hub.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <fstream>

namespace aion::providers {
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string scrub(std::string msg, const std::string& secret) {
  if (secret.size() < 4) return msg;
  for (size_t at; (at = msg.find(secret)) != std::string::npos;)
    msg.replace(at, secret.size(), "[redacted]");
  return msg;
}

std::string outcomeOf(const Error& e) {
  if (auto* s = e.details.if_contains("providerStatus"); s && s->is_int64())
    return std::to_string(s->as_int64());
  return std::string(errorCodeName(e.code));
}

}  // namespace

ProviderHub::ProviderHub(EnvLookup env, telemetry::Metrics& metrics)
    : env_(std::move(env)), metrics_(metrics) {}

void ProviderHub::configure(const policy::PolicySet& ps) {
  auto snap = std::make_shared<Snapshot>();
  for (auto& [name, p] : ps.providers) {
    Resolved r;
    r.provider = p;
    std::string base = p.baseUrl;
    if (!p.baseUrlEnv.empty())
      if (auto v = env_(p.baseUrlEnv.c_str()); v && !v->empty()) base = *v;
    std::string credential;
    if (!p.credentialEnv.empty())
      if (auto v = env_(p.credentialEnv.c_str()); v) credential = trim(*v);
    if (credential.empty() && !p.credentialFile.empty()) {
      std::ifstream in(p.credentialFile);
      if (in) credential = trim(std::string(std::istreambuf_iterator<char>(in), {}));
    }
    bool wantsCredential = !p.credentialEnv.empty() || !p.credentialFile.empty();
    if (base.empty()) {
      r.reason = "base URL variable " + p.baseUrlEnv + " is not set";
    } else if (wantsCredential && credential.empty() && !p.credentialOptional) {
      r.reason = !p.credentialEnv.empty()
                     ? "credential variable " + p.credentialEnv + " is not set"
                     : "credential file " + p.credentialFile + " is missing or empty";
    } else if (auto u = parseUrl(base, p.kind == "ollama"); !u) {
      r.reason = "base URL" + (p.baseUrlEnv.empty() ? "" : " from " + p.baseUrlEnv) + ": " +
                 u.error().message;
    } else {
      Endpoint e;
      e.base = *u;
      e.credential = credential;
      e.apiVersion = p.apiVersion;
      if (p.kind == "azure") {
        e.protocol = Protocol::kAzure;
      } else if (p.kind == "ollama") {
        e.protocol = Protocol::kOllama;
      } else if (p.kind == "huggingface" && p.api == "tgi") {
        e.protocol = Protocol::kTgi;
      } else {
        e.protocol = Protocol::kOpenAi;
        // vLLM and HF serve the OpenAI API under /v1; accept base URLs with or without it.
        if (p.kind != "openai" && !e.base.path.ends_with("/v1")) e.base.path += "/v1";
      }
      r.endpoint = e;
    }
    snap->providers[name] = std::move(r);
  }
  for (auto& [name, m] : ps.models) {
    ModelEntry me{m, m.provider};
    if (!m.upstreamEnv.empty())
      if (auto v = env_(m.upstreamEnv.c_str()); v && !v->empty()) me.model.upstream = *v;
    snap->models[name] = std::move(me);
  }
  std::lock_guard lock(mu_);
  for (auto& [name, me] : snap->models)
    if (auto it = breakers_.find(me.provider + "/" + name); it != breakers_.end())
      it->second->setPolicy(snap->providers.at(me.provider).provider.breaker);
  snap_ = std::move(snap);
}

std::map<std::string, std::string> ProviderHub::unavailableProviders() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::string> out;
  for (auto& [name, r] : snap_->providers)
    if (!r.endpoint) out[name] = r.reason;
  return out;
}

std::map<std::string, std::string> ProviderHub::unavailableModels() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::string> out;
  auto now = Clock::now();
  // Per call on the request path: look at the breakers (keyed "provider/model";
  // provider names have no '/'), not build a key for every configured model.
  for (auto& [key, b] : breakers_) {
    auto why = b->openReason(now);
    if (!why) continue;
    auto slash = key.find('/');
    auto model = key.substr(slash + 1);
    if (auto it = snap_->models.find(model);
        it != snap_->models.end() && key.compare(0, slash, it->second.provider) == 0)
      out[model] = *why;
  }
  return out;
}

std::shared_ptr<CircuitBreaker> ProviderHub::breaker(const std::string& provider,
                                                     const std::string& model,
                                                     const policy::BreakerPolicy& p) {
  std::lock_guard lock(mu_);
  auto& b = breakers_[provider + "/" + model];
  if (!b) b = std::make_shared<CircuitBreaker>(p);
  return b;
}

template <typename R>
asio::awaitable<Result<R>> ProviderHub::withRetries(
    const Resolved& p, const std::string& model, const CallControl& ctl,
    std::function<asio::awaitable<Result<R>>(Timeouts, bool& progressed)> exchange) {
  const auto& pol = p.provider;
  auto br = breaker(pol.name, model, pol.breaker);
  for (int attempt = 0;; ++attempt) {
    auto now = Clock::now();
    if (!br->allow(now)) {
      co_return fail(ErrorCode::kUnavailable,
                     "provider '" + pol.name + "' model '" + model +
                         "': " + br->openReason(now).value_or("circuit open"));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(ctl.deadline - now);
    if (ctl.deadline != Clock::time_point::max() && left.count() <= 0)
      co_return fail(ErrorCode::kTimeout,
                     "task deadline reached before calling '" + pol.name + "'");
    Timeouts t{std::chrono::milliseconds(pol.timeouts.connectMs),
               std::chrono::milliseconds(pol.timeouts.readMs),
               std::chrono::milliseconds(pol.timeouts.totalMs)};
    if (ctl.deadline != Clock::time_point::max()) t.total = std::min(t.total, left);
    bool progressed = false;
    auto r = co_await exchange(t, progressed);
    double secs = std::chrono::duration<double>(Clock::now() - now).count();
    metrics_.providerCall(pol.name, model, r ? "ok" : outcomeOf(r.error()), secs);
    if (r) {
      br->success();
      co_return r;
    }
    Error e = r.error();
    e.message = scrub(e.message, p.endpoint->credential);
    if (e.code == ErrorCode::kCanceled) co_return std::unexpected(e);
    // The provider answered (4xx, 429): it is up, so the circuit stays closed.
    bool answered =
        e.details.contains("providerStatus") && e.details.at("providerStatus").as_int64() < 500;
    if (answered)
      br->success();
    else
      br->failure(Clock::now());
    bool retriable = e.details.contains("retriable") && !progressed;
    e.details.erase("retriable");
    e.details["attempts"] = attempt + 1;
    if (!retriable || attempt >= pol.retries.max) co_return std::unexpected(e);
    std::chrono::milliseconds delay;
    {
      std::lock_guard lock(mu_);
      delay = backoff(attempt, pol.retries, rng_);
    }
    if (auto* ra = e.details.if_contains("retryAfterMs"); ra && ra->is_int64())
      delay = std::chrono::milliseconds(ra->as_int64());
    if (Clock::now() + delay >= ctl.deadline) {
      e.message +=
          " (a retry after " + std::to_string(delay.count()) + " ms would pass the task deadline)";
      co_return std::unexpected(e);
    }
    if (ctl.onRetry)
      ctl.onRetry({{"provider", pol.name},
                   {"model", model},
                   {"retry", attempt + 1},
                   {"delayMs", delay.count()},
                   {"error", {{"code", errorCodeName(e.code)}, {"message", e.message}}}});
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    timer->expires_after(delay);
    {
      std::stop_callback wake(
          ctl.stop, [timer] { asio::post(timer->get_executor(), [timer] { timer->cancel(); }); });
      co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (ctl.stop.stop_requested()) co_return fail(ErrorCode::kCanceled, "canceled");
  }
}

namespace {

Error statusError(const std::string& provider, const HttpResponse& r) {
  auto msg = errorMessage(r.body);
  // 400/422: the provider refused what the caller asked for (a parameter,
  // the messages), so the caller gets a 400, not a 502.
  bool refused = r.status == 400 || r.status == 422;
  ErrorCode code = r.status == 429 ? ErrorCode::kRateLimited
                   : refused       ? ErrorCode::kInvalidRequest
                                   : ErrorCode::kProviderError;
  Error e(code, "provider '" + provider + "' answered " + std::to_string(r.status) + ": " + msg);
  e.details["providerStatus"] = r.status;
  if (refused)
    if (auto param = errorParam(r.body); !param.empty()) e.details["param"] = param;
  if (r.status == 408 || r.status == 429 || r.status >= 500) e.details["retriable"] = true;
  if (auto it = r.headers.find("retry-after"); it != r.headers.end())
    if (auto d = parseRetryAfter(it->second, std::chrono::system_clock::now())) {
      e.details["retryAfterMs"] = d->count();
      e.details["retryAfterSeconds"] = (d->count() + 999) / 1000;
    }
  return e;
}

// W3C trace context: the provider's spans, if it records any, join the task's trace.
void addTraceHeaders(HttpRequest& req, const CallControl& ctl) {
  if (ctl.traceparent.empty()) return;
  req.headers.emplace_back("traceparent", ctl.traceparent);
  if (!ctl.tracestate.empty()) req.headers.emplace_back("tracestate", ctl.tracestate);
}

Error transportError(const std::string& provider, Error e) {
  e.message = "provider '" + provider + "': " + e.message;
  if (e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kTimeout ||
      e.code == ErrorCode::kProviderError)
    e.details["retriable"] = true;
  return e;
}

}  // namespace

Result<ProviderHub::Target> ProviderHub::target(const std::string& model) const {
  Target to;
  {
    std::lock_guard lock(mu_);
    to.snap = snap_;
  }
  auto mit = to.snap->models.find(model);
  if (mit == to.snap->models.end())
    return fail(ErrorCode::kUnavailable, "model '" + model + "' is not in models.yml any more");
  to.provider = &to.snap->providers.at(mit->second.provider);
  if (!to.provider->endpoint)
    return fail(ErrorCode::kUnavailable,
                "provider '" + to.provider->provider.name + "': " + to.provider->reason);
  to.endpoint = *to.provider->endpoint;
  to.endpoint.model = mit->second.model.upstream;
  return to;
}

asio::awaitable<Result<ChatResult>> ProviderHub::chat(std::string model, ChatCall call,
                                                      DeltaSink onDelta, CallControl ctl) {
  auto to = target(model);
  if (!to) co_return std::unexpected(to.error());
  const Resolved& p = *to->provider;
  const Endpoint& ep = to->endpoint;
  // A route that cannot honour the call is not a provider failure: no
  // breaker count, no retry.
  if (auto st = checkChat(ep.protocol, call); !st) co_return std::unexpected(st.error());
  const std::string& pname = p.provider.name;
  std::function<asio::awaitable<Result<ChatResult>>(Timeouts, bool&)> exchange =
      [&](Timeouts t, bool& progressed) -> asio::awaitable<Result<ChatResult>> {
    auto req = chatRequest(ep, call);
    if (!req) co_return std::unexpected(req.error());
    addTraceHeaders(*req, ctl);
    auto dec = call.stream ? streamDecoder(ep.protocol, call) : nullptr;
    std::optional<Error> decodeErr;
    BodySink sink;
    if (dec) {
      sink = [&](std::string_view bytes) {
        auto s = dec->feed(bytes, [&](const Delta& d) {
          progressed = true;
          onDelta(d);
        });
        if (!s) decodeErr = s.error();
        return s.has_value();
      };
    }
    auto resp = co_await http_.send(std::move(*req), t, std::move(sink), ctl.stop);
    if (!resp) co_return std::unexpected(transportError(pname, resp.error()));
    if (resp->status >= 300) co_return std::unexpected(statusError(pname, *resp));
    if (decodeErr) {
      decodeErr->details["retriable"] = true;
      co_return std::unexpected(*decodeErr);
    }
    auto out = dec ? dec->finish(call) : parseChat(ep.protocol, resp->body, call);
    if (!out) {
      Error e = out.error();
      e.message = "provider '" + pname + "': " + e.message;
      e.details["retriable"] = true;
      co_return std::unexpected(e);
    }
    if (out->model.empty()) out->model = ep.model;
    co_return out;
  };
  co_return co_await withRetries<ChatResult>(p, model, ctl, std::move(exchange));
}

asio::awaitable<Result<EmbedResult>> ProviderHub::embed(std::string model,
                                                        std::vector<std::string> inputs,
                                                        CallControl ctl) {
  auto to = target(model);
  if (!to) co_return std::unexpected(to.error());
  const Resolved& p = *to->provider;
  const Endpoint& ep = to->endpoint;
  const std::string& pname = p.provider.name;
  std::function<asio::awaitable<Result<EmbedResult>>(Timeouts, bool&)> exchange =
      [&](Timeouts t, bool&) -> asio::awaitable<Result<EmbedResult>> {
    auto req = embedRequest(ep, inputs);
    if (!req) co_return std::unexpected(req.error());
    addTraceHeaders(*req, ctl);
    auto resp = co_await http_.send(std::move(*req), t, nullptr, ctl.stop);
    if (!resp) co_return std::unexpected(transportError(pname, resp.error()));
    if (resp->status >= 300) co_return std::unexpected(statusError(pname, *resp));
    auto out = parseEmbed(resp->body, inputs);
    if (out && out->model.empty()) out->model = ep.model;
    co_return out;
  };
  co_return co_await withRetries<EmbedResult>(p, model, ctl, std::move(exchange));
}

}  // namespace aion::providers
