#include "control/retrieval.h"

#include <boost/json.hpp>

#include "common/json_text.h"

namespace aion::control {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr size_t kEmbedBatch = 256;  // the embed module's most inputs per call
constexpr int kEmbedTimeoutMs = 30000;

json::object matchJson(const vector::Match& m) {
  return {{"docId", m.point.docId},
          {"chunk", m.point.chunk},
          {"text", m.point.text},
          {"score", m.score},
          {"metadata", m.point.metadata}};
}

//! The text a chat task asks about: params.context.query, else the last
//! user message (its text parts), else params.text.
std::string questionOf(const json::object& params, const json::object& ctx) {
  if (auto* q = ctx.if_contains("query"); q && q->is_string()) return std::string(q->as_string());
  if (auto* ms = params.if_contains("messages"); ms && ms->is_array()) {
    const auto& arr = ms->as_array();
    for (auto it = arr.rbegin(); it != arr.rend(); ++it) {
      const auto* m = it->if_object();
      if (!m) continue;
      auto* role = m->if_contains("role");
      if (!role || !role->is_string() || role->as_string() != "user") continue;
      auto* c = m->if_contains("content");
      if (c && c->is_string()) return std::string(c->as_string());
      std::string joined;
      if (c && c->is_array())
        for (auto& part : c->as_array())
          if (auto* po = part.if_object())
            if (auto* t = po->if_contains("text"); t && t->is_string())
              joined += (joined.empty() ? "" : "\n") + std::string(t->as_string());
      if (!joined.empty()) return joined;
    }
  }
  if (auto* t = params.if_contains("text"); t && t->is_string()) return std::string(t->as_string());
  return {};
}

}  // namespace

Result<std::vector<std::vector<float>>> embeddingsOf(const json::value& out, size_t expect) {
  const json::value* e = out.is_object() ? out.as_object().if_contains("embeddings") : nullptr;
  if (!e || !e->is_array() || e->as_array().size() != expect)
    return fail(ErrorCode::kModuleFailed,
                "the embedding module did not return " + std::to_string(expect) + " embeddings");
  std::vector<std::vector<float>> vs;
  for (auto& v : e->as_array()) {
    if (!v.is_array() || v.as_array().empty())
      return fail(ErrorCode::kModuleFailed, "the embedding module returned an empty vector");
    std::vector<float> f;
    f.reserve(v.as_array().size());
    for (auto& x : v.as_array()) {
      if (!x.is_number())
        return fail(ErrorCode::kModuleFailed, "the embedding module returned a non-number");
      f.push_back(static_cast<float>(x.to_number<double>()));
    }
    if (!vs.empty() && f.size() != vs.front().size())
      return fail(ErrorCode::kModuleFailed, "the embedding module returned vectors of two sizes");
    vs.push_back(std::move(f));
  }
  return vs;
}

asio::awaitable<Result<std::vector<std::vector<float>>>> Retrieval::embed(
    std::string module, std::vector<std::string> texts, int timeoutMs,
    const std::atomic<bool>* cancel) {
  std::vector<std::vector<float>> all;
  for (size_t i = 0; i < texts.size(); i += kEmbedBatch) {
    json::array batch;
    size_t end = std::min(texts.size(), i + kEmbedBatch);
    for (size_t j = i; j < end; ++j) batch.emplace_back(texts[j]);
    json::object in{{"input", std::move(batch)}};
    std::string input = jsonText(in);
    modhost::CallOptions opts{.timeoutMs = timeoutMs, .cancel = cancel};
    auto call = co_await d_.modules.callAsync(module, std::move(input), opts, d_.moduleExec);
    if (!call) co_return std::unexpected(call.error());
    auto vs = embeddingsOf(call->output, end - i);
    if (!vs) co_return std::unexpected(vs.error());
    for (auto& v : *vs) all.push_back(std::move(v));
  }
  co_return all;
}

asio::awaitable<Result<IndexedDocuments>> Retrieval::addDocuments(std::string tenant,
                                                                  std::string collection,
                                                                  std::vector<Document> docs) {
  auto ps = d_.policies.current();
  if (ps->vectorModule.empty())
    co_return fail(ErrorCode::kUnavailable,
                   "no intent in intents.yml uses vectors, so no embedding module is configured "
                   "(vectors: {mode: search, module: embed})");
  std::string module = ps->vectorModule;
  if (indexing_.fetch_add(1) >= limits_.maxConcurrent) {
    indexing_.fetch_sub(1);
    co_return fail(ErrorCode::kUnavailable,
                   "too many indexing requests at once (" + std::to_string(limits_.maxConcurrent) +
                       "); retry shortly",
                   json::object{{"retryAfterSeconds", 1}});
  }
  struct Release {
    std::atomic<int>& n;
    ~Release() { n.fetch_sub(1); }
  } release{indexing_};
  std::vector<vector::Point> points;
  std::vector<std::string> texts, ids;
  for (auto& d : docs) {
    auto pieces = chunkText(d.text, limits_.chunkBytes);
    for (size_t c = 0; c < pieces.size(); ++c) {
      vector::Point p;
      p.docId = d.id;
      p.chunk = static_cast<int>(c);
      p.id = vector::pointId(d.id, p.chunk);
      p.text = pieces[c];
      p.metadata = d.metadata;
      texts.push_back(pieces[c]);
      points.push_back(std::move(p));
    }
    ids.push_back(d.id);
  }
  auto vs = co_await embed(module, std::move(texts), kEmbedTimeoutMs, nullptr);
  if (!vs) co_return std::unexpected(vs.error());
  int dim = static_cast<int>(vs->front().size());
  for (size_t i = 0; i < points.size(); ++i) points[i].vector = std::move((*vs)[i]);
  size_t chunks = points.size();
  if (auto st = co_await d_.index.ensureCollection(tenant, collection, dim); !st)
    co_return std::unexpected(st.error());
  if (auto st = co_await d_.index.deleteDocuments(tenant, collection, ids); !st)
    co_return std::unexpected(st.error());
  if (auto st = co_await d_.index.upsert(tenant, collection, std::move(points)); !st)
    co_return std::unexpected(st.error());
  co_return IndexedDocuments{.collection = std::move(collection),
                             .documents = std::move(ids),
                             .chunks = chunks,
                             .dim = dim,
                             .embedModule = std::move(module),
                             .engine = d_.index.engine()};
}

asio::awaitable<Result<CollectionList>> Retrieval::collections(std::string tenant) {
  auto list = co_await d_.index.listCollections(std::move(tenant));
  if (!list) co_return std::unexpected(list.error());
  CollectionList out{.items = {}, .engine = d_.index.engine()};
  for (auto& c : *list)
    out.items.push_back(CollectionSummary{.name = c.name, .dim = c.dim, .chunks = c.points});
  co_return out;
}

asio::awaitable<Status> Retrieval::dropCollection(std::string tenant, std::string collection) {
  auto gone = co_await d_.index.deleteCollection(std::move(tenant), collection);
  if (!gone) co_return std::unexpected(gone.error());
  if (!*gone)
    co_return fail(ErrorCode::kNotFound, "collection '" + collection + "' does not exist");
  co_return Status{};
}

Result<Retrieval::Target> Retrieval::targetOf(const json::object& spec, const std::string& field) {
  const json::value* c = spec.if_contains("collection");
  if (!c || !c->is_string())
    return fail(ErrorCode::kInvalidParams, field + ".collection: is required");
  Target t;
  t.collection = c->as_string();
  t.field = field + ".collection";
  if (auto ok = checkCollectionName(t.collection); !ok)
    return fail(ErrorCode::kInvalidParams, t.field + ": " + ok.error().message);
  if (auto* k = spec.if_contains("top_k"); k && k->is_int64())
    t.topK = static_cast<int>(k->as_int64());
  return t;
}

asio::awaitable<Result<std::vector<vector::Match>>> Retrieval::nearest(std::string tenant,
                                                                       Target target,
                                                                       std::vector<float> query) {
  auto hits = co_await d_.index.search(tenant, target.collection, std::move(query), target.topK);
  if (!hits && (hits.error().code == ErrorCode::kNotFound ||
                hits.error().code == ErrorCode::kInvalidRequest))
    co_return fail(ErrorCode::kInvalidParams, target.field + ": " + hits.error().message);
  co_return hits;
}

std::string Retrieval::searchInput(const json::value& params) {
  json::array in;
  if (auto* p = params.if_object())
    if (auto* q = p->if_contains("query"); q && q->is_string()) in.emplace_back(q->as_string());
  return jsonText(json::object{{"input", std::move(in)}});
}

asio::awaitable<Result<json::value>> Retrieval::answerSearch(store::Task task,
                                                             json::value embedded) {
  const auto* p = task.params.if_object();
  auto target = targetOf(p ? *p : json::object(), "params");
  if (!target) co_return std::unexpected(target.error());
  auto vs = embeddingsOf(embedded, 1);
  if (!vs) co_return std::unexpected(vs.error());
  auto hits = co_await nearest(task.tenant, *target, std::move(vs->front()));
  if (!hits) co_return std::unexpected(hits.error());
  std::string collection = target->collection;
  json::array matches;
  for (auto& m : *hits) matches.push_back(matchJson(m));
  json::object out{{"collection", collection},
                   {"query", p->at("query")},
                   {"matches", std::move(matches)},
                   {"engine", d_.index.engine()}};
  if (auto* model = embedded.is_object() ? embedded.as_object().if_contains("model") : nullptr)
    out["embedModel"] = *model;
  co_return json::value(std::move(out));
}

asio::awaitable<Result<std::optional<Retrieval::Context>>> Retrieval::withContext(
    store::Task task, int timeoutMs, const std::atomic<bool>* cancel) {
  using Out = std::optional<Context>;
  auto* params = task.params.if_object();
  const json::value* cv = params ? params->if_contains("context") : nullptr;
  if (!cv) co_return Out{};
  auto ps = d_.policies.current();
  const auto* intent = ps->intent(task.intent);
  if (!intent || intent->vectors != policy::VectorMode::kContext)
    co_return fail(ErrorCode::kInvalidParams,
                   "params.context: intent '" + task.intent + "' does not use vectors");
  if (!cv->is_object())
    co_return fail(ErrorCode::kInvalidParams, "params.context: must be an object");
  const auto& ctx = cv->as_object();
  auto target = targetOf(ctx, "params.context");
  if (!target) co_return std::unexpected(target.error());
  std::string collection = target->collection;
  std::string question = questionOf(*params, ctx);
  if (trimSpace(question).empty())
    co_return fail(ErrorCode::kInvalidParams,
                   "params.context: no question to retrieve for (no user message, text or "
                   "context.query)");
  std::vector<std::string> texts{question};
  auto vs = co_await embed(intent->vectorModule, std::move(texts), timeoutMs, cancel);
  if (!vs) co_return std::unexpected(vs.error());
  auto hits = co_await nearest(task.tenant, *target, std::move(vs->front()));
  if (!hits) co_return std::unexpected(hits.error());
  std::string block = "Context retrieved from collection '" + collection +
                      "' (use it to answer when it is relevant):";
  json::array used;
  for (size_t i = 0; i < hits->size(); ++i) {
    const auto& m = (*hits)[i];
    block += "\n\n[" + std::to_string(i + 1) + "] (document " + m.point.docId + ") " + m.point.text;
    used.push_back(
        json::object{{"docId", m.point.docId}, {"chunk", m.point.chunk}, {"score", m.score}});
  }
  json::object next = *params;
  next.erase("context");
  if (auto* ms = next.if_contains("messages"); ms && ms->is_array()) {
    auto& arr = ms->as_array();
    arr.insert(arr.begin(), json::object{{"role", "system"}, {"content", block}});
  } else if (auto* t = next.if_contains("text"); t && t->is_string()) {
    *t = block + "\n\n" + std::string(t->as_string());
  }
  Context out;
  out.params = std::move(next);
  out.used = {{"collection", collection},
              {"query", question},
              {"matches", std::move(used)},
              {"engine", d_.index.engine()}};
  co_return Out{std::move(out)};
}

}  // namespace aion::control
