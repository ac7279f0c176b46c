#include "store/document_task_store.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <utility>

#include "common/json_text.h"

namespace aion::store {
namespace json = boost::json;
namespace {

constexpr const char* kRefKey = "$aionDocument";

//! The inside of `v` when `v` is a reference, else null.
const json::object* asReference(const json::value& v) {
  auto* o = v.if_object();
  if (!o || o->size() != 1) return nullptr;
  auto it = o->find(kRefKey);
  return it == o->end() ? nullptr : it->value().if_object();
}

//! The values of one write replaced by references, to put back before its
//! `done` runs (the orchestrator publishes the write's events from it).
struct Saved {
  std::optional<json::value> createParams{}, createResult{}, updateResult{};
  std::vector<std::pair<size_t, json::value>> events{};
};

void restore(Write& w, Saved& s) {
  if (s.createParams && w.create) w.create->params = std::move(*s.createParams);
  if (s.createResult && w.create) w.create->result = std::move(*s.createResult);
  if (s.updateResult && w.update) w.update->result = std::move(*s.updateResult);
  for (auto& [i, data] : s.events)
    if (i < w.events.size()) w.events[i].data = std::move(data);
  s = Saved{};
}

}  // namespace

json::value DocumentTaskStore::reference(const std::string& taskId, const std::string& name) {
  return json::object{{kRefKey, json::object{{"task", taskId}, {"name", name}}}};
}

json::value DocumentTaskStore::eventReference(const std::string& taskId, int64_t seq) {
  return json::object{{kRefKey, json::object{{"task", taskId}, {"event", seq}}}};
}

DocumentTaskStore::DocumentTaskStore(std::unique_ptr<TaskStore> rows, Cluster* cluster,
                                     std::unique_ptr<DocumentStore> docs, Options opts)
    : rows_(std::move(rows)), cluster_(cluster), docs_(std::move(docs)), opts_(std::move(opts)) {
  // No window of its own: writes behind wait for company in the row store.
  WriteQueue::Options q;
  q.behindWindow = std::chrono::milliseconds(0);
  writes_ = std::make_unique<WriteQueue>(
      std::move(q), [this](std::vector<WriteQueue::Pending>& batch,
                           const std::vector<size_t>& into) { commit(batch, into); });
}

DocumentTaskStore::~DocumentTaskStore() {
  writes_.reset();  // the document thread hands what is queued to the row store
  rows_->flush();
}

template <typename F>
auto DocumentTaskStore::call(const char* op, F&& f) {
  auto began = std::chrono::steady_clock::now();
  auto r = f();
  if (opts_.onCall)
    opts_.onCall(op, r ? std::string("ok") : std::string(errorCodeName(r.error().code)),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  if (!r) spdlog::warn("documents ({}): {} failed: {}", docs_->engine(), op, r.error().message);
  return r;
}

void DocumentTaskStore::write(Write w, WriteDone done) {
  writes_->push(std::move(w), std::move(done));
}

void DocumentTaskStore::flush() {
  writes_->flush();
  rows_->flush();
}

Result<std::vector<std::string>> DocumentTaskStore::purgeFinished(int64_t beforeMs, int limit) {
  auto ids = TaskStore::purgeFinished(beforeMs, limit);
  if (!ids) return ids;
  size_t left = 0;
  for (auto& id : *ids)
    if (!call("remove", [&] { return docs_->remove(id); })) ++left;
  if (left)
    spdlog::warn("documents ({}): {} purged task(s) keep their documents", docs_->engine(), left);
  return ids;
}

std::chrono::milliseconds DocumentTaskStore::writeBacklog() const {
  return std::max(writes_->backlog(), rows_->writeBacklog());
}

void DocumentTaskStore::commit(std::vector<WriteQueue::Pending>& batch,
                               const std::vector<size_t>& into) {
  std::vector<TaskDocument> docs;
  std::vector<Event> events;
  std::vector<Saved> saved(batch.size());
  std::vector<Status> accepted(batch.size());
  // A value too long for a row becomes a document and a reference; one too
  // large for a document refuses its write alone.
  auto externalize = [&](json::value& v, const std::string& taskId, const char* name,
                         std::optional<json::value>& keep) -> Status {
    auto text = jsonText(v);
    if (text.size() <= opts_.inlineMaxBytes) return {};
    if (auto st = checkDocumentSize(taskId, name, text.size()); !st) return st;
    docs.push_back({taskId, name, std::move(text)});
    keep = std::exchange(v, reference(taskId, name));
    return {};
  };
  for (size_t i = 0; i < batch.size(); ++i) {
    if (into[i] != i) continue;  // folded into an earlier write of its task
    Write& w = batch[i].w;
    Saved& s = saved[i];
    size_t docs0 = docs.size(), events0 = events.size();
    Status st;
    if (w.create) {
      st = externalize(w.create->params, w.taskId, "params", s.createParams);
      if (st && !w.create->result.is_null())
        st = externalize(w.create->result, w.taskId, "result", s.createResult);
    }
    if (st && w.update && w.update->result && !w.update->result->is_null()) {
      std::optional<json::value> keep;
      st = externalize(*w.update->result, w.taskId, "result", keep);
      s.updateResult = std::move(keep);
    }
    for (size_t e = 0; st && e < w.events.size(); ++e) {
      auto& ev = w.events[e];
      events.push_back(ev);  // the history keeps every event whole
      auto bytes = jsonText(ev.data).size();
      if (bytes <= opts_.inlineMaxBytes) continue;
      st = checkDocumentSize(w.taskId, "event " + std::to_string(ev.seq), bytes);
      if (st) s.events.emplace_back(e, std::exchange(ev.data, eventReference(w.taskId, ev.seq)));
    }
    if (!st) {
      docs.resize(docs0);
      events.resize(events0);
      restore(w, s);
      accepted[i] = std::move(st);
    }
  }
  Status stored;
  if (!docs.empty()) stored = call("put", [&] { return docs_->put(docs); });
  if (stored && !events.empty())
    stored = call("append_events", [&] { return docs_->appendEvents(events); });
  for (size_t i = 0; i < batch.size(); ++i) {
    if (into[i] != i) continue;
    auto& p = batch[i];
    if (!accepted[i] || !stored) {
      restore(p.w, saved[i]);
      const Status& st = accepted[i] ? stored : accepted[i];
      if (p.done)
        p.done(st, p.w);
      else
        spdlog::error("documents: a write behind of task {} is lost: {}", p.w.taskId,
                      st.error().message);
      continue;
    }
    if (!p.done) {
      rows_->write(std::move(p.w), nullptr);
      continue;
    }
    rows_->write(std::move(p.w), [done = std::move(p.done), s = std::move(saved[i])](
                                     const Status& st, Write& w) mutable {
      restore(w, s);
      done(st, w);
    });
  }
}

Status DocumentTaskStore::resolve(Task& t) {
  for (auto* v : {&t.params, &t.result}) {
    auto* ref = asReference(*v);
    if (!ref) continue;
    auto* task = ref->if_contains("task");
    auto* name = ref->if_contains("name");
    if (!task || !name || !task->is_string() || !name->is_string() || task->as_string() != t.id)
      continue;  // not one of ours: a value that only looks like a reference
    std::string n(name->as_string());
    auto text = call("get", [&] { return docs_->get(t.id, n); });
    if (!text) return std::unexpected(text.error());
    if (!*text)
      return fail(ErrorCode::kUnavailable, "documents: the " + n + " of task " + t.id +
                                               " are missing from " + std::string(docs_->engine()));
    boost::system::error_code ec;
    auto parsed = json::parse(**text, ec);
    if (ec)
      return fail(ErrorCode::kInternal, "documents: the " + n + " of " + t.id + " are not JSON");
    *v = std::move(parsed);
  }
  return {};
}

Status DocumentTaskStore::resolve(std::vector<Task>& ts) {
  for (auto& t : ts)
    if (auto st = resolve(t); !st) return st;
  return {};
}

Status DocumentTaskStore::resolve(std::optional<Task>& t) {
  return t ? resolve(*t) : Status{};
}

template <typename T>
Result<T> DocumentTaskStore::resolved(Result<T> r) {
  if (r)
    if (auto st = resolve(*r); !st) return std::unexpected(st.error());
  return r;
}

Result<std::optional<Task>> DocumentTaskStore::get(const std::string& id) {
  return resolved(rows_->get(id));
}

Result<TaskPage> DocumentTaskStore::list(const ListQuery& q) {
  auto page = rows_->list(q);
  if (page)
    if (auto st = resolve(page->items); !st) return std::unexpected(st.error());
  return page;
}

Result<std::vector<Task>> DocumentTaskStore::unfinished() {
  return resolved(rows_->unfinished());
}

Result<std::vector<Task>> DocumentTaskStore::claim(bool ownToo) {
  return resolved(cluster_->claim(ownToo));
}

Result<std::vector<Task>> DocumentTaskStore::take(size_t limit,
                                                  std::chrono::milliseconds queuedFor) {
  return resolved(cluster_->take(limit, queuedFor));
}

Result<std::optional<Task>> DocumentTaskStore::requestCancel(const std::string& taskId) {
  return resolved(cluster_->requestCancel(taskId));
}

Result<std::vector<Event>> DocumentTaskStore::events(const std::string& taskId, int64_t afterSeq,
                                                     int limit) {
  auto evs = rows_->events(taskId, afterSeq, limit);
  if (!evs) return evs;
  for (auto& e : *evs) {
    auto* ref = asReference(e.data);
    auto* task = ref ? ref->if_contains("task") : nullptr;
    auto* seq = ref ? ref->if_contains("event") : nullptr;
    if (!task || !seq || !task->is_string() || task->as_string() != taskId || !seq->is_int64() ||
        seq->as_int64() != e.seq)
      continue;
    auto whole = call("events", [&] { return docs_->events(taskId, e.seq - 1, 1); });
    if (!whole) return std::unexpected(whole.error());
    if (whole->empty() || whole->front().seq != e.seq)
      return fail(ErrorCode::kUnavailable, "documents: event " + std::to_string(e.seq) +
                                               " of task " + taskId + " is missing from " +
                                               std::string(docs_->engine()));
    e.data = std::move(whole->front().data);
  }
  return evs;
}

Status DocumentTaskStore::ping() {
  if (auto st = rows_->ping(); !st) return st;
  return call("ping", [&] { return docs_->ping(); });
}

}  // namespace aion::store
