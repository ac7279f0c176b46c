#include "store/pg_store.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/ids.h"
#include "common/json_text.h"
#include "store/outbox.h"
#include "store/pg_util.h"

namespace aion::store {
namespace json = boost::json;
using namespace pg;  // NOLINT: the libpq helpers are this file's vocabulary
namespace {

// Version 1: the tables of SQLite's schema version 4, with PostgreSQL types.
// JSON stays text so values read back exactly as written (jsonb would
// reorder keys). Ids compare bytewise (COLLATE "C") as in SQLite: list()
// pages by id order whatever the database's locale.
constexpr const char* kMigration1 = R"sql(
CREATE TABLE tasks(
  id TEXT COLLATE "C" PRIMARY KEY,
  tenant TEXT NOT NULL,
  key_id TEXT NOT NULL,
  intent TEXT NOT NULL,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  route TEXT,
  result TEXT,
  error TEXT,
  cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
  cost_estimated BOOLEAN NOT NULL DEFAULT false,
  attempts INTEGER NOT NULL DEFAULT 0,
  cancel_requested BOOLEAN NOT NULL DEFAULT false,
  created_ms BIGINT NOT NULL,
  started_ms BIGINT NOT NULL DEFAULT 0,
  finished_ms BIGINT NOT NULL DEFAULT 0,
  deadline_ms BIGINT NOT NULL DEFAULT 0,
  last_seq BIGINT NOT NULL DEFAULT 0,
  surface TEXT NOT NULL DEFAULT '',
  upstream_us BIGINT NOT NULL DEFAULT 0,
  overhead_us BIGINT NOT NULL DEFAULT 0,
  trace_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tasks_tenant_id ON tasks(tenant, id);
CREATE INDEX tasks_active ON tasks(status) WHERE status IN ('queued','routed','running');
CREATE TABLE events(
  task_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  type TEXT NOT NULL,
  ts_ms BIGINT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY(task_id, seq)
);
CREATE TABLE usage(
  id TEXT PRIMARY KEY,
  task_id TEXT NOT NULL,
  ts_ms BIGINT NOT NULL,
  day TEXT COLLATE "C" NOT NULL,
  tenant TEXT COLLATE "C" NOT NULL,
  key_id TEXT COLLATE "C" NOT NULL,
  intent TEXT COLLATE "C" NOT NULL,
  provider TEXT COLLATE "C" NOT NULL,
  model TEXT COLLATE "C" NOT NULL,
  prompt_tokens BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  cost_nusd BIGINT NOT NULL,
  estimated BOOLEAN NOT NULL
);
CREATE INDEX usage_tenant_ts ON usage(tenant, ts_ms);
CREATE INDEX usage_key_ts ON usage(key_id, ts_ms);
CREATE INDEX usage_day ON usage(day);
CREATE TABLE outbox(
  id BIGSERIAL PRIMARY KEY,
  topic TEXT NOT NULL,
  key TEXT NOT NULL,
  payload TEXT NOT NULL
);
)sql";

constexpr const char* kMigration2 = R"sql(
ALTER TABLE tasks ADD COLUMN trace_state TEXT NOT NULL DEFAULT '';
)sql";

// Version 3: several control planes on one database (store/cluster.h). Each
// task names the plane that owns it ('' for rows from before: claimed by
// whichever plane starts first); each plane has a lease it renews; budgets
// are a ledger shared by the planes: spend and reservations per scope and
// period, changed under row locks.
constexpr const char* kMigration3 = R"sql(
ALTER TABLE tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX tasks_owner_active ON tasks(owner) WHERE status IN ('queued','routed','running');
CREATE TABLE control_planes(
  id TEXT PRIMARY KEY,
  lease_until_ms BIGINT NOT NULL,
  started_ms BIGINT NOT NULL
);
CREATE TABLE budget_accounts(
  kind TEXT NOT NULL,
  scope_id TEXT NOT NULL,
  period TEXT NOT NULL,
  period_start_ms BIGINT NOT NULL,
  spent_nusd BIGINT NOT NULL DEFAULT 0,
  reserved_nusd BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY(kind, scope_id, period, period_start_ms)
);
CREATE TABLE budget_reservations(
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  scope_id TEXT NOT NULL,
  period TEXT NOT NULL,
  period_start_ms BIGINT NOT NULL,
  amount_nusd BIGINT NOT NULL,
  plane TEXT NOT NULL,
  PRIMARY KEY(id, kind, scope_id, period)
);
CREATE INDEX budget_reservations_plane ON budget_reservations(plane);
)sql";

// Version 4: a live plane may take a task queued on a busy peer, once
// (Cluster::take). taken_ms marks it: the take's condition turns false the
// moment a peer took the row, so two concurrent takes cannot both match it.
constexpr const char* kMigration4 = R"sql(
ALTER TABLE tasks ADD COLUMN taken_ms BIGINT NOT NULL DEFAULT 0;
)sql";

// Version 5: a list filtered by status is a range of this index, newest
// first; without it, it read every task of the tenant to find the few with
// that status. Succeeded tasks, most of them, stay out (as in SQLite).
constexpr const char* kMigration5 = R"sql(
CREATE INDEX tasks_tenant_status_id ON tasks(tenant, status, id) WHERE status <> 'succeeded';
)sql";

// Index i holds the migration to version i + 1.
constexpr const char* kMigrations[] = {kMigration1, kMigration2, kMigration3, kMigration4,
                                       kMigration5};
static_assert(std::size(kMigrations) == PgTaskStore::kSchemaVersion);

// The outbox relay's lock (PgTaskStore::outbox): held by one plane at a time.
constexpr int64_t kRelayLock = 7240315589013;

// Any fixed key: every aiond migrating the same database waits for the first.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7240315589012)";

Status migrate(PGconn* c) {
  if (auto st = execScript(c, "migrate", "BEGIN"); !st) return st;
  auto run = [&]() -> Status {
    if (auto r = exec(c, "migration lock", kMigrationLock); !r) return std::unexpected(r.error());
    if (auto st = execScript(c, "migrate",
                             "CREATE TABLE IF NOT EXISTS schema_migrations("
                             "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL "
                             "DEFAULT now())");
        !st)
      return st;
    auto v =
        exec(c, "read schema version", "SELECT COALESCE(MAX(version),0) FROM schema_migrations");
    if (!v) return std::unexpected(v.error());
    int64_t version = v->i64(0, 0);
    if (version > PgTaskStore::kSchemaVersion)
      return fail(ErrorCode::kUnavailable,
                  "store: the PostgreSQL schema has version " + std::to_string(version) +
                      "; this aiond knows up to " + std::to_string(PgTaskStore::kSchemaVersion));
    for (int64_t next = version + 1; next <= PgTaskStore::kSchemaVersion; ++next) {
      if (auto st = execScript(c, "migrate", kMigrations[next - 1]); !st) return st;
      if (auto r = exec(c, "migrate", "INSERT INTO schema_migrations(version) VALUES($1)",
                        Params().add(next));
          !r)
        return std::unexpected(r.error());
    }
    return execScript(c, "commit migration", "COMMIT");
  };
  auto st = run();
  if (!st) execScript(c, "rollback", "ROLLBACK");
  return st;
}

}  // namespace

PgTaskStore::PgTaskStore(Options opts)
    : opts_(std::move(opts)), readPool_(static_cast<size_t>(std::max(1, opts_.readers))) {}

Result<std::unique_ptr<PgTaskStore>> PgTaskStore::open(Options opts) {
  std::unique_ptr<PgTaskStore> s(new PgTaskStore(std::move(opts)));
  auto w = connect(s->opts_.dsn);
  if (!w) return std::unexpected(w.error());
  s->writer_ = *w;
  if (auto st = migrate(s->writer_); !st) return std::unexpected(st.error());
  if (s->opts_.exclusive)
    if (auto st = s->lockExclusive(); !st) return std::unexpected(st.error());
  for (int i = 0; i < std::max(1, s->opts_.readers); ++i) {
    auto r = connect(s->opts_.dsn);
    if (!r) return std::unexpected(r.error());
    s->readers_.push_back(*r);
  }
  for (auto* c : s->readers_) s->idle_.add(c);
  s->writes_ = std::make_unique<WriteQueue>(
      WriteQueue::Options{.behindWindow = s->opts_.behindWindow,
                          .behindMax = s->opts_.behindMax,
                          .maxBatch = s->opts_.maxBatch,
                          .onCommit = s->opts_.onCommit},
      [p = s.get()](std::vector<Pending>& batch, const std::vector<size_t>& into) {
        p->commit(batch, into);
      });
  return s;
}

Status PgTaskStore::lockExclusive() {
  // A plane restarted right after kill -9 may find its previous session
  // still closing: wait for it a little before calling the id taken.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (;;) {
    auto r =
        exec(writer_, "control-plane lock", "SELECT pg_try_advisory_lock(72403155, hashtext($1))",
             Params().add(opts_.planeId));
    if (!r) return std::unexpected(r.error());
    if (r->text(0, 0) == "t") return {};
    if (std::chrono::steady_clock::now() > until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return fail(ErrorCode::kConflict,
              "store: another control plane with id '" + opts_.planeId +
                  "' is using this PostgreSQL database (give each control plane its own "
                  "AION_CONTROL_PLANE_ID)");
}

PgTaskStore::~PgTaskStore() {
  writes_.reset();  // commits what is queued
  unlisten();
  for (int fd : wakeFd_)
    if (fd >= 0) ::close(fd);
  readPool_.join();
  if (writer_) PQfinish(writer_);
  for (auto* c : readers_) PQfinish(c);
  if (relayConn_) PQfinish(relayConn_);  // lets the relay lock go: a peer relays next
}

// ---- writes -----------------------------------------------------------

void PgTaskStore::commit(std::vector<Pending>& batch, const std::vector<size_t>& into) {
  bool durable = false;
  for (auto& p : batch) durable = durable || p.w.durability == Durability::kDurable;
  PGconn* c = writer_;
  bool commitLost = false;  // the outcome of the last COMMIT is unknown
  bool down = false;        // the server cannot be reached: no write can commit
  auto begin = [&]() -> Status {
    bool reconnect = PQstatus(c) != CONNECTION_OK;
    if (auto st = ensureConnected(c); !st) return st;
    // A new session lost the lock: take it again or write nothing.
    if (reconnect && opts_.exclusive)
      if (auto st = lockExclusive(); !st) return st;
    return execScript(c, "begin", "BEGIN");
  };
  auto run = [&](size_t from, size_t to) -> Status {
    // A connection the server dropped while idle shows at BEGIN: nothing was
    // sent yet, so reconnecting and beginning again is safe.
    Status began = begin();
    if (!began && PQstatus(c) == CONNECTION_BAD) began = begin();
    if (!began) {
      down = PQstatus(c) == CONNECTION_BAD;
      return began;
    }
    // Not durable: visible at once, on disk with the next durable commit.
    Status st = durable ? Status{} : execScript(c, "begin", "SET LOCAL synchronous_commit TO off");
    for (size_t i = from; st && i < to; ++i)
      if (into[i] == i) st = apply(batch[i].w);
    if (st) st = notifyCommitted(batch, into, from, to);
    if (!st) {
      execScript(c, "rollback", "ROLLBACK");
      return st;
    }
    PgResult r(PQexec(c, "COMMIT"));
    // COMMIT of a transaction the server aborted answers ROLLBACK, not an error.
    if (!r.ok() || r.command() != "COMMIT") {
      // A connection lost at COMMIT leaves the outcome unknown: retrying the
      // writes one by one could apply them twice.
      if (PQstatus(c) == CONNECTION_BAD) commitLost = true;
      return pgError("commit", r.ok() ? "the transaction was rolled back" : r.error(c));
    }
    return {};
  };
  std::vector<Status> results(batch.size());
  if (auto st = run(0, batch.size()); !st) {
    // One bad write must not fail the others: apply each on its own.
    // Unless the server is gone (each retry would wait to reconnect) or the
    // batch may have committed.
    if (batch.size() == 1 || commitLost || down) {
      for (auto& r : results) r = st;
    } else {
      Status gone;  // the failure that showed the server gone
      for (size_t i = 0; i < batch.size(); ++i) {
        if (into[i] != i) {
          results[i] = results[into[i]];
        } else if (down) {
          results[i] = gone;
        } else {
          results[i] = run(i, i + 1);
          if (down) gone = results[i];
        }
      }
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!results[i] && into[i] == i)
      spdlog::error("store: write for task {} failed: {}", batch[i].w.taskId,
                    results[i].error().message);
    if (batch[i].done) batch[i].done(results[i], batch[i].w);
  }
}

Status PgTaskStore::apply(const Write& w) {
  PGconn* c = writer_;
  int64_t lastSeq = w.events.empty() ? 0 : w.events.back().seq;
  if (w.create) {
    const Task& t = *w.create;
    Params p;
    p.add(t.id).add(t.tenant).add(t.keyId).add(t.intent).add(jsonText(t.params));
    p.add(statusName(t.status)).addJson(t.route).addJson(t.result).addJson(t.error);
    p.add(t.costUsd).add(t.costEstimated).add(t.attempts).add(t.cancelRequested);
    p.add(t.createdMs).add(t.startedMs).add(t.finishedMs).add(t.deadlineMs);
    p.add(std::max(t.lastSeq, lastSeq)).add(t.surface).add(t.upstreamUs).add(t.overheadUs);
    p.add(t.traceId).add(t.traceState).add(opts_.planeId);
    auto r = exec(c, "insert task",
                  std::string("INSERT INTO tasks(") + kTaskCols +
                      ",owner) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,"
                      "$18,$19,$20,$21,$22,$23,$24)",
                  p);
    if (!r) return std::unexpected(r.error());
    lastSeq = 0;  // set above
  }
  if (w.update || lastSeq) {
    static const TaskUpdate kNone;
    const TaskUpdate& u = w.update ? *w.update : kNone;
    // Only the shape of the SQL depends on which fields are set; every
    // value travels as a parameter.
    Params p;
    std::string sql = "UPDATE tasks SET id=id";
    auto set = [&](const char* col, const auto& v) {
      sql += std::string(",") + col + "=" + p.next();
      p.add(v);
    };
    auto setJson = [&](const char* col, const json::value& v) {
      sql += std::string(",") + col + "=" + p.next();
      p.addJson(v);
    };
    if (u.status) set("status", statusName(*u.status));
    if (u.route) setJson("route", *u.route);
    if (u.result) setJson("result", *u.result);
    if (u.error) setJson("error", *u.error);
    if (u.startedMs) set("started_ms", *u.startedMs);
    if (u.finishedMs) set("finished_ms", *u.finishedMs);
    if (u.attempts) set("attempts", *u.attempts);
    if (u.costUsd) set("cost_usd", *u.costUsd);
    if (u.costEstimated) set("cost_estimated", *u.costEstimated);
    if (u.cancelRequested) set("cancel_requested", *u.cancelRequested);
    if (u.upstreamUs) set("upstream_us", *u.upstreamUs);
    if (u.overheadUs) set("overhead_us", *u.overheadUs);
    if (lastSeq) {
      sql += ",last_seq=GREATEST(last_seq," + p.next() + "::bigint)";
      p.add(lastSeq);
    }
    // Only the owner changes a task: a plane whose lease lapsed and whose
    // tasks a peer claimed cannot write over the peer's run.
    sql += " WHERE id=" + p.next();
    p.add(w.taskId);
    sql += " AND owner=" + p.next();
    p.add(opts_.planeId);
    auto r = exec(c, "update task", sql, p);
    if (!r) return std::unexpected(r.error());
    if (r->affected() != 1)
      return fail(ErrorCode::kNotFound, "store: no task '" + w.taskId +
                                            "' owned by control plane '" + opts_.planeId +
                                            "' to update");
  }
  if (opts_.outbox) {
    const std::string ins = "INSERT INTO outbox(topic,key,payload) VALUES($1,$2,$3)";
    for (auto& e : w.events)
      if (auto r = exec(c, "insert outbox event", ins,
                        Params().add(kTaskEventsTopic).add(e.taskId).add(outboxPayload(e)));
          !r)
        return std::unexpected(r.error());
    for (auto& u : w.usage)
      if (auto r = exec(c, "insert outbox usage", ins,
                        Params().add(kUsageTopic).add(u.taskId).add(outboxPayload(u)));
          !r)
        return std::unexpected(r.error());
  }
  if (w.trimOutboxTo) {
    auto r =
        exec(c, "trim outbox", "DELETE FROM outbox WHERE id<=$1", Params().add(*w.trimOutboxTo));
    if (!r) return std::unexpected(r.error());
  }
  if (w.purge) {
    // SKIP LOCKED: planes that purge at once share the work instead of
    // waiting on each other's rows.
    auto r = exec(c, "purge tasks",
                  "WITH gone AS (DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE id<$1 "
                  "AND status NOT IN ('queued','routed','running') AND finished_ms<$2 ORDER BY id "
                  "LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id), ev AS (DELETE FROM events e "
                  "USING gone WHERE e.task_id=gone.id) SELECT id FROM gone ORDER BY id",
                  Params()
                      .add(taskIdsBefore(w.purge->beforeMs))
                      .add(w.purge->beforeMs)
                      .add(static_cast<int64_t>(w.purge->limit)));
    if (!r) return std::unexpected(r.error());
    w.purge->deleted->clear();
    for (int i = 0; i < r->rows(); ++i) w.purge->deleted->push_back(r->text(i, 0));
  }
  for (auto& e : w.events) {
    auto r = exec(c, "insert event",
                  "INSERT INTO events(task_id,seq,type,ts_ms,data) VALUES($1,$2,$3,$4,$5)",
                  Params().add(e.taskId).add(e.seq).add(e.type).add(e.tsMs).add(jsonText(e.data)));
    if (!r) return std::unexpected(r.error());
  }
  for (auto& u : w.usage) {
    Params p;
    p.add(u.id).add(u.taskId).add(u.tsMs).add(utcDay(u.tsMs)).add(u.tenant).add(u.keyId);
    p.add(u.intent).add(u.provider).add(u.model).add(u.promptTokens).add(u.completionTokens);
    p.add(u.costNanoUsd).add(u.estimated);
    auto r = exec(c, "insert usage",
                  "INSERT INTO usage(id,task_id,ts_ms,day,tenant,key_id,intent,provider,model,"
                  "prompt_tokens,completion_tokens,cost_nusd,estimated) "
                  "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (id) DO NOTHING",
                  p);
    if (!r) return std::unexpected(r.error());
  }
  return {};
}

// ---- reads ------------------------------------------------------------

Result<std::optional<Task>> PgTaskStore::get(const std::string& id) {
  Reader r(idle_);
  auto res = read(r.get(), "get task",
                  std::string("SELECT ") + kTaskCols + " FROM tasks WHERE id=$1", Params().add(id));
  if (!res) return std::unexpected(res.error());
  if (res->rows() == 0) return std::optional<Task>();
  return std::optional<Task>(readTask(*res, 0));
}

Result<TaskPage> PgTaskStore::list(const ListQuery& q) {
  Params p;
  std::string sql = std::string("SELECT ") + kTaskCols + " FROM tasks WHERE true";
  if (!q.tenant.empty()) p.clause(sql, " AND tenant=", q.tenant);
  if (q.status) {
    p.clause(sql, " AND status=", statusName(*q.status));
    // The partial index's condition, named: a generic plan cannot infer it.
    if (*q.status != TaskStatus::kSucceeded) sql += " AND status<>'succeeded'";
  }
  if (!q.intent.empty()) p.clause(sql, " AND intent=", q.intent);
  if (!q.afterId.empty()) p.clause(sql, " AND id<", q.afterId);
  sql += " ORDER BY id DESC LIMIT " + p.next();
  p.add(static_cast<int64_t>(q.limit) + 1);
  Reader r(idle_);
  auto res = read(r.get(), "list", sql, p);
  if (!res) return std::unexpected(res.error());
  TaskPage page;
  for (int i = 0; i < res->rows(); ++i) page.items.push_back(readTask(*res, i));
  if (static_cast<int>(page.items.size()) > q.limit) {
    page.items.pop_back();
    page.nextCursor = page.items.back().id;
  }
  return page;
}

Result<std::vector<Event>> PgTaskStore::events(const std::string& taskId, int64_t afterSeq,
                                               int limit) {
  Reader r(idle_);
  auto res = read(r.get(), "events",
                  "SELECT seq,type,ts_ms,data FROM events WHERE task_id=$1 AND seq>$2 "
                  "ORDER BY seq LIMIT $3",
                  Params().add(taskId).add(afterSeq).add(limit));
  if (!res) return std::unexpected(res.error());
  std::vector<Event> out;
  for (int i = 0; i < res->rows(); ++i)
    out.push_back(
        Event{taskId, res->i64(i, 0), res->text(i, 1), res->i64(i, 2), parseOrNull(*res, i, 3)});
  return out;
}

Result<std::vector<Task>> PgTaskStore::unfinished() {
  Reader r(idle_);
  auto res = read(r.get(), "unfinished",
                  std::string("SELECT ") + kTaskCols +
                      " FROM tasks WHERE status IN ('queued','routed','running') ORDER BY id");
  if (!res) return std::unexpected(res.error());
  std::vector<Task> out;
  for (int i = 0; i < res->rows(); ++i) out.push_back(readTask(*res, i));
  return out;
}

Result<std::vector<UsageRow>> PgTaskStore::usage(const UsageQuery& q) {
  static const std::map<std::string, std::string> kCols{
      {"tenant", "tenant"},     {"key", "key_id"},  {"intent", "intent"},
      {"provider", "provider"}, {"model", "model"}, {"day", "day"}};
  Params p;
  std::string where = " WHERE true";
  for (auto& [k, v] : q.filters) {
    auto it = kCols.find(k);
    if (it == kCols.end()) return fail(ErrorCode::kInvalidRequest, "unknown filter '" + k + "'");
    where += " AND " + it->second + "=" + p.next();
    p.add(v);
  }
  if (!q.fromDay.empty()) p.clause(where, " AND day>=", q.fromDay);
  if (!q.toDay.empty()) p.clause(where, " AND day<=", q.toDay);
  std::string cols;
  for (auto& g : q.groupBy) {
    auto it = kCols.find(g);
    if (it == kCols.end()) return fail(ErrorCode::kInvalidRequest, "unknown group '" + g + "'");
    cols += it->second + ",";
  }
  std::string sql = "SELECT " + cols +
                    "COUNT(*),SUM(prompt_tokens)::bigint,SUM(completion_tokens)::bigint,"
                    "SUM(cost_nusd)::bigint,COUNT(*) FILTER (WHERE estimated) FROM usage" +
                    where;
  if (!cols.empty()) {
    cols.pop_back();
    sql += " GROUP BY " + cols + " ORDER BY " + cols;
  }
  Reader r(idle_);
  auto res = read(r.get(), "usage", sql, p);
  if (!res) return std::unexpected(res.error());
  std::vector<UsageRow> out;
  for (int i = 0; i < res->rows(); ++i) {
    UsageRow row;
    int c = 0;
    for (auto& g : q.groupBy) row.group[g] = res->text(i, c++);
    row.calls = res->i64(i, c);
    if (row.calls == 0) continue;  // an aggregate over no rows
    row.promptTokens = res->i64(i, c + 1);
    row.completionTokens = res->i64(i, c + 2);
    row.costNanoUsd = res->i64(i, c + 3);
    row.estimatedCalls = res->i64(i, c + 4);
    out.push_back(std::move(row));
  }
  return out;
}

Result<SpendTotals> PgTaskStore::spendSince(int64_t sinceMs) {
  Reader r(idle_);
  SpendTotals out;
  for (auto [col, into] : {std::pair{"tenant", &out.byTenant}, std::pair{"key_id", &out.byKey}}) {
    auto res = read(r.get(), "sum usage",
                    std::string("SELECT ") + col +
                        ",SUM(cost_nusd)::bigint FROM usage WHERE ts_ms>=$1 GROUP BY " + col,
                    Params().add(sinceMs));
    if (!res) return std::unexpected(res.error());
    for (int i = 0; i < res->rows(); ++i) (*into)[res->text(i, 0)] = res->i64(i, 1);
  }
  return out;
}

Result<std::vector<OutboxRecord>> PgTaskStore::outbox(int64_t afterId, int limit) {
  // One plane relays the shared outbox: the one whose relay connection holds
  // the relay lock, a session advisory lock. Two relays never overlap (each
  // would send every record), and the lock goes with the session, so when
  // that plane dies or its connection breaks a peer's next poll takes over.
  // Records the old relay sent but had not trimmed yet (at most about a
  // second's) are sent again then: at least once across a relay's crash.
  if (!relayConn_ || PQstatus(relayConn_) != CONNECTION_OK) {
    if (relayConn_) PQfinish(std::exchange(relayConn_, nullptr));
    relayHeld_ = false;
    auto c = connect(opts_.dsn, /*keepalive=*/true);
    if (!c) return std::unexpected(c.error());
    relayConn_ = *c;
  }
  if (!relayHeld_) {
    auto got = exec(relayConn_, "take the relay lock", "SELECT pg_try_advisory_lock($1)",
                    Params().add(kRelayLock));
    if (!got) return std::unexpected(got.error());
    if (got->text(0, 0) != "t") return std::vector<OutboxRecord>();  // a peer relays
    relayHeld_ = true;
  }
  auto res = exec(relayConn_, "read outbox",
                  "SELECT o.id,o.topic,o.key,o.payload,t.tenant,t.intent,t.trace_id,t.trace_state "
                  "FROM outbox o "
                  "LEFT JOIN tasks t ON t.id=o.key WHERE o.id>$1 ORDER BY o.id LIMIT $2",
                  Params().add(afterId).add(limit));
  if (!res) return std::unexpected(res.error());
  std::vector<OutboxRecord> out;
  for (int i = 0; i < res->rows(); ++i)
    out.push_back(OutboxRecord{res->i64(i, 0), res->text(i, 1), res->text(i, 2), res->text(i, 3),
                               res->text(i, 4), res->text(i, 5), res->text(i, 6), res->text(i, 7)});
  return out;
}

Status PgTaskStore::ping() {
  Reader r(idle_);
  auto res = read(r.get(), "ping", "SELECT 1");
  if (!res) return std::unexpected(res.error());
  return {};
}

}  // namespace aion::store
