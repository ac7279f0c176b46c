#include "vector/qdrant_index.h"

#include <boost/json.hpp>

#include "common/json_text.h"

namespace aion::vector {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

//! Qdrant's own message from an error body {"status":{"error":"..."}}.
std::string qdrantMessage(const std::string& body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object())
    if (auto* st = v.as_object().if_contains("status"); st && st->is_object())
      if (auto* e = st->as_object().if_contains("error"); e && e->is_string())
        return std::string(e->as_string());
  return body.substr(0, 200);
}

json::array vectorJson(const std::vector<float>& v) {
  json::array a;
  a.reserve(v.size());
  for (float x : v) a.emplace_back(static_cast<double>(x));
  return a;
}

// Named: GCC 12 mis-compiles string literals turned into std::string inside
// a co_await full-expression (see control/orchestrator.cpp).
const std::string kNoBody;
const std::string kNoName;
const std::string kCollections = "/collections";

}  // namespace

std::string QdrantIndex::prefixOf(const std::string& tenant) {
  return "aion-" + hexOf(tenant) + "-";
}

QdrantIndex::QdrantIndex(Options opts)
    : opts_(std::move(opts)), http_(std::make_unique<providers::HttpClient>()) {}

VectorIndex::Async<json::value> QdrantIndex::call(const char* method, std::string target,
                                                  std::string body, const std::string& name) {
  providers::HttpRequest req;
  req.method = method;
  req.url = opts_.url;
  req.target = opts_.url.path + target;
  req.body = std::move(body);
  if (!req.body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  if (!opts_.apiKey.empty()) req.headers.emplace_back("api-key", opts_.apiKey);
  providers::BodySink none;
  std::stop_token never;
  auto resp = co_await http_->send(std::move(req), opts_.timeouts, std::move(none), never);
  if (!resp) {
    auto code =
        resp.error().code == ErrorCode::kTimeout ? ErrorCode::kTimeout : ErrorCode::kUnavailable;
    co_return fail(code, "qdrant at " + opts_.url.origin() + ": " + resp.error().message);
  }
  int st = resp->status;
  if (st == 404) co_return fail(ErrorCode::kNotFound, "collection '" + name + "' does not exist");
  if (st < 200 || st >= 300) {
    std::string why = qdrantMessage(resp->body);
    if (st == 400 || st == 422)
      co_return fail(ErrorCode::kInvalidRequest, "qdrant refused the request: " + why);
    if (st == 409) co_return fail(ErrorCode::kConflict, "qdrant: " + why);
    if (st == 401 || st == 403)
      co_return fail(ErrorCode::kUnavailable, "qdrant refused the api key (HTTP " +
                                                  std::to_string(st) +
                                                  "): check AION_CONTROL_QDRANT_API_KEY");
    co_return fail(ErrorCode::kUnavailable,
                   "qdrant answered HTTP " + std::to_string(st) + ": " + why);
  }
  boost::system::error_code ec;
  auto v = json::parse(resp->body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("result"))
    co_return fail(ErrorCode::kUnavailable, "qdrant: the answer is not {\"result\": ...}");
  co_return std::move(v.as_object()["result"]);
}

asio::awaitable<Status> QdrantIndex::probe() {
  auto r = co_await call("GET", kCollections, kNoBody, kNoName);
  if (!r) co_return std::unexpected(r.error());
  co_return Status{};
}

VectorIndex::Async<int> QdrantIndex::dimOf(const std::string& collection, const std::string& name) {
  std::string target = "/collections/" + collection;
  auto r = co_await call("GET", std::move(target), kNoBody, name);
  if (!r) co_return std::unexpected(r.error());
  // result.config.params.vectors.size (one unnamed vector per point).
  const json::value* v = &*r;
  for (const char* k : {"config", "params", "vectors", "size"}) {
    v = v->is_object() ? v->as_object().if_contains(k) : nullptr;
    if (!v) break;
  }
  if (!v || !v->is_int64())
    co_return fail(ErrorCode::kConflict,
                   "collection '" + name + "' exists in qdrant without one unnamed vector");
  co_return static_cast<int>(v->as_int64());
}

asio::awaitable<Status> QdrantIndex::ensureCollection(std::string tenant, std::string name,
                                                      int dim) {
  if (dim <= 0) co_return fail(ErrorCode::kInvalidRequest, "dimension must be positive");
  std::string c = prefixOf(tenant) + name;
  auto have = co_await dimOf(c, name);
  if (have && *have != dim)
    co_return fail(ErrorCode::kConflict, "collection '" + name + "' holds " +
                                             std::to_string(*have) + "-dimensional vectors, not " +
                                             std::to_string(dim));
  if (have) co_return Status{};
  if (have.error().code != ErrorCode::kNotFound) co_return std::unexpected(have.error());
  json::object body{{"vectors", {{"size", dim}, {"distance", "Cosine"}}}};
  std::string target = "/collections/" + c, text = jsonText(body);
  auto made = co_await call("PUT", std::move(target), std::move(text), name);
  if (made) co_return Status{};
  // Created meanwhile by another request: fine if it has our dimension.
  auto again = co_await dimOf(c, name);
  if (!again) co_return std::unexpected(made.error());
  if (*again != dim)
    co_return fail(ErrorCode::kConflict, "collection '" + name + "' holds " +
                                             std::to_string(*again) + "-dimensional vectors, not " +
                                             std::to_string(dim));
  co_return Status{};
}

asio::awaitable<Status> QdrantIndex::upsert(std::string tenant, std::string name,
                                            std::vector<Point> points) {
  std::string c = prefixOf(tenant) + name;
  for (size_t i = 0; i < points.size(); i += opts_.batch) {
    json::array batch;
    for (size_t j = i; j < std::min(points.size(), i + opts_.batch); ++j) {
      auto& p = points[j];
      batch.push_back(json::object{{"id", p.id},
                                   {"vector", vectorJson(p.vector)},
                                   {"payload",
                                    {{"tenant", tenant},
                                     {"doc_id", p.docId},
                                     {"chunk", p.chunk},
                                     {"text", p.text},
                                     {"metadata", p.metadata}}}});
    }
    json::object body{{"points", std::move(batch)}};
    std::string target = "/collections/" + c + "/points?wait=true", text = jsonText(body);
    auto r = co_await call("PUT", std::move(target), std::move(text), name);
    if (!r) co_return std::unexpected(r.error());
  }
  co_return Status{};
}

asio::awaitable<Status> QdrantIndex::deleteDocuments(std::string tenant, std::string name,
                                                     std::vector<std::string> docIds) {
  if (docIds.empty()) co_return Status{};
  json::array ids;
  for (auto& d : docIds) ids.emplace_back(d);
  json::object body{
      {"filter",
       {{"must", json::array{json::object{{"key", "doc_id"}, {"match", {{"any", ids}}}}}}}}};
  std::string target = "/collections/" + prefixOf(tenant) + name + "/points/delete?wait=true",
              text = jsonText(body);
  auto r = co_await call("POST", std::move(target), std::move(text), name);
  if (!r) co_return std::unexpected(r.error());
  co_return Status{};
}

VectorIndex::Async<std::vector<Match>> QdrantIndex::search(std::string tenant, std::string name,
                                                           std::vector<float> query, int limit) {
  json::object body{{"vector", vectorJson(query)}, {"limit", limit}, {"with_payload", true}};
  std::string target = "/collections/" + prefixOf(tenant) + name + "/points/search",
              text = jsonText(body);
  auto r = co_await call("POST", std::move(target), std::move(text), name);
  if (!r) co_return std::unexpected(r.error());
  if (!r->is_array())
    co_return fail(ErrorCode::kUnavailable, "qdrant: search result is not a list");
  std::vector<Match> out;
  for (auto& hit : r->as_array()) {
    const auto* o = hit.if_object();
    const json::value* score = o ? o->if_contains("score") : nullptr;
    const json::value* payload = o ? o->if_contains("payload") : nullptr;
    if (!score || !score->is_number() || !payload || !payload->is_object())
      co_return fail(ErrorCode::kUnavailable, "qdrant: a search hit lacks score or payload");
    const auto& p = payload->as_object();
    Match m;
    m.score = score->to_number<double>();
    if (auto* id = o->if_contains("id"))
      m.point.id = id->is_string() ? std::string(id->as_string()) : json::serialize(*id);
    if (auto* v = p.if_contains("doc_id"); v && v->is_string()) m.point.docId = v->as_string();
    if (auto* v = p.if_contains("chunk"); v && v->is_int64())
      m.point.chunk = static_cast<int>(v->as_int64());
    if (auto* v = p.if_contains("text"); v && v->is_string()) m.point.text = v->as_string();
    if (auto* v = p.if_contains("metadata"); v && v->is_object()) m.point.metadata = v->as_object();
    if (auto* v = p.if_contains("tenant"); v && v->is_string() && v->as_string() != tenant)
      continue;  // never another tenant's point, whatever the server holds
    out.push_back(std::move(m));
  }
  co_return out;
}

VectorIndex::Async<bool> QdrantIndex::deleteCollection(std::string tenant, std::string name) {
  std::string target = "/collections/" + prefixOf(tenant) + name;
  auto r = co_await call("DELETE", std::move(target), kNoBody, name);
  if (!r) {
    if (r.error().code == ErrorCode::kNotFound) co_return false;
    co_return std::unexpected(r.error());
  }
  co_return r->is_bool() && r->as_bool();
}

VectorIndex::Async<std::vector<CollectionInfo>> QdrantIndex::listCollections(std::string tenant) {
  auto r = co_await call("GET", kCollections, kNoBody, kNoName);
  if (!r) co_return std::unexpected(r.error());
  const json::value* cs = r->is_object() ? r->as_object().if_contains("collections") : nullptr;
  if (!cs || !cs->is_array())
    co_return fail(ErrorCode::kUnavailable, "qdrant: /collections lacks result.collections");
  std::string prefix = prefixOf(tenant);
  std::vector<CollectionInfo> out;
  for (auto& c : cs->as_array()) {
    const json::value* n = c.is_object() ? c.as_object().if_contains("name") : nullptr;
    if (!n || !n->is_string() || !n->as_string().starts_with(prefix)) continue;
    std::string full(n->as_string());
    CollectionInfo info;
    info.name = full.substr(prefix.size());
    std::string target = "/collections/" + full;
    auto detail = co_await call("GET", std::move(target), kNoBody, info.name);
    if (!detail) {
      if (detail.error().code == ErrorCode::kNotFound) continue;  // deleted meanwhile
      co_return std::unexpected(detail.error());
    }
    if (auto* o = detail->if_object()) {
      if (auto* pc = o->if_contains("points_count"); pc && pc->is_int64())
        info.points = static_cast<uint64_t>(pc->as_int64());
      const json::value* v = o->if_contains("config");
      for (const char* k : {"params", "vectors", "size"})
        v = v && v->is_object() ? v->as_object().if_contains(k) : nullptr;
      if (v && v->is_int64()) info.dim = static_cast<int>(v->as_int64());
    }
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  co_return out;
}

}  // namespace aion::vector
