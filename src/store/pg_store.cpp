#include "store/pg_store.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <unordered_map>
#include <utility>

#include "common/json_text.h"
#include "store/outbox.h"

namespace aion::store {
namespace json = boost::json;
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

// Index i holds the migration to version i + 1.
constexpr const char* kMigrations[] = {kMigration1, kMigration2};
static_assert(std::size(kMigrations) == PgTaskStore::kSchemaVersion);

// Any fixed key: every aiond migrating the same database waits for the first.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7240315589012)";

// ---- libpq helpers -------------------------------------------------------

//! `msg` on one line: libpq ends messages with newlines and may span several.
std::string oneLine(const char* msg) {
  std::string s = msg ? msg : "";
  for (auto& ch : s)
    if (ch == '\n' || ch == '\t') ch = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s.empty() ? "unknown error" : s;
}

class PgResult {
 public:
  explicit PgResult(PGresult* r = nullptr) : r_(r) {}
  ~PgResult() { PQclear(r_); }
  PgResult(PgResult&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  PgResult& operator=(PgResult&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  int rows() const { return PQntuples(r_); }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), PQgetlength(r_, row, col));
  }
  bool isNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  int64_t i64(int row, int col) const {
    int64_t v = 0;
    const char* p = PQgetvalue(r_, row, col);
    std::from_chars(p, p + PQgetlength(r_, row, col), v);
    return v;
  }
  double dbl(int row, int col) const { return std::strtod(PQgetvalue(r_, row, col), nullptr); }
  bool boolean(int row, int col) const { return PQgetvalue(r_, row, col)[0] == 't'; }
  int64_t affected() const {
    int64_t v = 0;
    const char* p = PQcmdTuples(r_);
    std::from_chars(p, p + std::strlen(p), v);
    return v;
  }
  std::string_view command() const { return PQcmdStatus(r_); }
  bool ok() const {
    auto st = PQresultStatus(r_);
    return r_ && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
  }
  //! The server's message and detail on one line; `c`'s own error if none.
  std::string error(PGconn* c) const {
    const char* primary = r_ ? PQresultErrorField(r_, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    if (!primary) return oneLine(PQerrorMessage(c));
    std::string out = primary;
    if (const char* detail = PQresultErrorField(r_, PG_DIAG_MESSAGE_DETAIL))
      out += std::string(" (") + detail + ")";
    return oneLine(out.c_str());
  }

 private:
  PGresult* r_;
};

// Values sent as text beside the SQL ($1, $2, …): never spliced into it.
class Params {
 public:
  Params& add(std::string v) {
    vals_.push_back(std::move(v));
    null_.push_back(false);
    return *this;
  }
  Params& add(std::string_view v) { return add(std::string(v)); }
  Params& add(const char* v) { return add(std::string(v)); }
  Params& add(int64_t v) { return add(std::to_string(v)); }
  Params& add(int v) { return add(std::to_string(v)); }
  Params& add(bool v) { return add(std::string(v ? "t" : "f")); }
  Params& add(double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest exact form
    return add(std::string(buf, r.ptr));
  }
  //! JSON null becomes SQL NULL.
  Params& addJson(const json::value& v) {
    if (!v.is_null()) return add(jsonText(v));
    vals_.emplace_back();
    null_.push_back(true);
    return *this;
  }
  //! Appends `clause` and the parameter marker ($n) of `v` to `sql`, and `v` here.
  template <typename T>
  void clause(std::string& sql, std::string_view text, const T& v) {
    sql += text;
    sql += next();
    add(v);
  }
  //! The parameter marker ($n) of the next value added.
  std::string next() const { return "$" + std::to_string(vals_.size() + 1); }
  int size() const { return static_cast<int>(vals_.size()); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    for (size_t i = 0; i < vals_.size(); ++i) out.push_back(null_[i] ? nullptr : vals_[i].c_str());
    return out;
  }

 private:
  std::vector<std::string> vals_;
  std::vector<bool> null_;
};

std::unexpected<Error> pgError(std::string_view what, const std::string& msg) {
  return fail(ErrorCode::kUnavailable, "store: " + std::string(what) + ": " + msg);
}

//! Runs one statement; an error carries the server's message.
Result<PgResult> exec(PGconn* c, std::string_view what, const std::string& sql,
                      const Params& p = {}) {
  auto ptrs = p.pointers();
  PgResult r(PQexecParams(c, sql.c_str(), p.size(), nullptr, ptrs.data(), nullptr, nullptr, 0));
  if (!r.ok()) return pgError(what, r.error(c));
  return r;
}

//! Runs SQL without parameters (several statements allowed).
Status execScript(PGconn* c, std::string_view what, const char* sql) {
  PgResult r(PQexec(c, sql));
  if (!r.ok()) return pgError(what, r.error(c));
  return {};
}

// libpq's errors quote what they refuse, and in a DSN that does not parse that
// may be the password ("invalid percent-encoded token: \"...\"", or the whole
// URI): keep the reason, not the quoted text. A parsed password is masked too.
Result<std::string> dsnPassword(const std::string& dsn) {
  bool connString = dsn.find('=') != std::string::npos || dsn.starts_with("postgres://") ||
                    dsn.starts_with("postgresql://");
  if (!connString) return std::string();  // a bare database name
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (!opts) {
    std::string why = err ? oneLine(err) : "out of memory", kept;
    PQfreemem(err);
    bool quoted = false;
    for (char ch : why) {
      if (ch == '"' && !quoted) kept += "\"...\"";
      if (ch == '"')
        quoted = !quoted;
      else if (!quoted)
        kept += ch;
    }
    return pgError("cannot connect to PostgreSQL", "the connection string does not parse: " + kept);
  }
  std::string password;
  for (auto* o = opts; o->keyword; ++o)
    if (std::strcmp(o->keyword, "password") == 0 && o->val) password = o->val;
  PQconninfoFree(opts);
  return password;
}

std::string masked(std::string msg, const std::string& secret) {
  if (secret.size() < 4) return msg;  // libpq does not echo a parsed password; this is a backstop
  for (size_t at; (at = msg.find(secret)) != std::string::npos;)
    msg.replace(at, secret.size(), "***");
  return msg;
}

Result<PGconn*> connect(const std::string& dsn) {
  auto password = dsnPassword(dsn);
  if (!password) return std::unexpected(password.error());
  // A bound on connecting unless the DSN sets its own (it comes later, so it wins).
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* vals[] = {"10", dsn.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (!c) return pgError("cannot connect to PostgreSQL", "out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    auto e = pgError("cannot connect to PostgreSQL", masked(oneLine(PQerrorMessage(c)), *password));
    PQfinish(c);
    return e;
  }
  // Notices (e.g. "relation already exists, skipping") are not errors.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  return c;
}

//! Reconnects a connection the server or network dropped.
Status ensureConnected(PGconn* c) {
  if (PQstatus(c) == CONNECTION_OK) return {};
  PQreset(c);
  if (PQstatus(c) != CONNECTION_OK)
    return pgError("cannot reconnect to PostgreSQL", oneLine(PQerrorMessage(c)));
  return {};
}

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

json::value parseOrNull(const PgResult& r, int row, int col) {
  if (r.isNull(row, col)) return nullptr;
  auto s = r.text(row, col);
  if (s.empty()) return nullptr;
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  return ec ? json::value(nullptr) : v;
}

constexpr const char* kTaskCols =
    "id,tenant,key_id,intent,params,status,route,result,error,cost_usd,cost_estimated,attempts,"
    "cancel_requested,created_ms,started_ms,finished_ms,deadline_ms,last_seq,surface,upstream_us,"
    "overhead_us,trace_id,trace_state";

Task readTask(const PgResult& r, int row) {
  Task t;
  t.id = r.text(row, 0);
  t.tenant = r.text(row, 1);
  t.keyId = r.text(row, 2);
  t.intent = r.text(row, 3);
  t.params = parseOrNull(r, row, 4);
  t.status = parseStatus(r.text(row, 5)).value_or(TaskStatus::kFailed);
  t.route = parseOrNull(r, row, 6);
  t.result = parseOrNull(r, row, 7);
  t.error = parseOrNull(r, row, 8);
  t.costUsd = r.dbl(row, 9);
  t.costEstimated = r.boolean(row, 10);
  t.attempts = static_cast<int>(r.i64(row, 11));
  t.cancelRequested = r.boolean(row, 12);
  t.createdMs = r.i64(row, 13);
  t.startedMs = r.i64(row, 14);
  t.finishedMs = r.i64(row, 15);
  t.deadlineMs = r.i64(row, 16);
  t.lastSeq = r.i64(row, 17);
  t.surface = r.text(row, 18);
  t.upstreamUs = r.i64(row, 19);
  t.overheadUs = r.i64(row, 20);
  t.traceId = r.text(row, 21);
  t.traceState = r.text(row, 22);
  return t;
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
  s->idleReaders_ = s->readers_;
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
  auto r = exec(writer_, "control-plane lock", "SELECT pg_try_advisory_lock(7240315589013)");
  if (!r) return std::unexpected(r.error());
  if (r->text(0, 0) != "t")
    return fail(ErrorCode::kConflict,
                "store: another control plane is using this PostgreSQL database (one control "
                "plane per database: several at once need leases, not built yet)");
  return {};
}

PgTaskStore::~PgTaskStore() {
  writes_.reset();  // commits what is queued
  readPool_.join();
  if (writer_) PQfinish(writer_);
  for (auto* c : readers_) PQfinish(c);
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
    p.add(t.traceId).add(t.traceState);
    auto r = exec(c, "insert task",
                  std::string("INSERT INTO tasks(") + kTaskCols +
                      ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,"
                      "$19,$20,$21,$22,$23)",
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
    sql += " WHERE id=" + p.next();
    p.add(w.taskId);
    auto r = exec(c, "update task", sql, p);
    if (!r) return std::unexpected(r.error());
    if (r->affected() != 1)
      return fail(ErrorCode::kNotFound, "store: no task '" + w.taskId + "' to update");
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

PgTaskStore::Reader::Reader(PgTaskStore& s) : s_(s) {
  std::unique_lock lock(s_.rmu_);
  s_.rcv_.wait(lock, [&] { return !s_.idleReaders_.empty(); });
  c_ = s_.idleReaders_.back();
  s_.idleReaders_.pop_back();
}

PgTaskStore::Reader::~Reader() {
  {
    std::lock_guard lock(s_.rmu_);
    s_.idleReaders_.push_back(c_);
  }
  s_.rcv_.notify_one();
}

namespace {
//! Runs a read on `c`, reconnecting first if the connection broke.
//! Runs a read on `c`, reconnecting first if the connection broke. Reads
//! change nothing, so one that failed on a connection the server dropped
//! runs again on a new one.
Result<PgResult> read(PGconn* c, std::string_view what, const std::string& sql,
                      const Params& p = {}) {
  if (auto st = ensureConnected(c); !st) return std::unexpected(st.error());
  auto r = exec(c, what, sql, p);
  if (r || PQstatus(c) != CONNECTION_BAD) return r;
  if (auto st = ensureConnected(c); !st) return std::unexpected(st.error());
  return exec(c, what, sql, p);
}
}  // namespace

Result<std::optional<Task>> PgTaskStore::get(const std::string& id) {
  Reader r(*this);
  auto res = read(r.conn(), "get task",
                  std::string("SELECT ") + kTaskCols + " FROM tasks WHERE id=$1", Params().add(id));
  if (!res) return std::unexpected(res.error());
  if (res->rows() == 0) return std::optional<Task>();
  return std::optional<Task>(readTask(*res, 0));
}

Result<TaskPage> PgTaskStore::list(const ListQuery& q) {
  Params p;
  std::string sql = std::string("SELECT ") + kTaskCols + " FROM tasks WHERE true";
  if (!q.tenant.empty()) p.clause(sql, " AND tenant=", q.tenant);
  if (q.status) p.clause(sql, " AND status=", statusName(*q.status));
  if (!q.intent.empty()) p.clause(sql, " AND intent=", q.intent);
  if (!q.afterId.empty()) p.clause(sql, " AND id<", q.afterId);
  sql += " ORDER BY id DESC LIMIT " + p.next();
  p.add(static_cast<int64_t>(q.limit) + 1);
  Reader r(*this);
  auto res = read(r.conn(), "list", sql, p);
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
  Reader r(*this);
  auto res = read(r.conn(), "events",
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
  Reader r(*this);
  auto res = read(r.conn(), "unfinished",
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
  Reader r(*this);
  auto res = read(r.conn(), "usage", sql, p);
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
  Reader r(*this);
  SpendTotals out;
  for (auto [col, into] : {std::pair{"tenant", &out.byTenant}, std::pair{"key_id", &out.byKey}}) {
    auto res = read(r.conn(), "sum usage",
                    std::string("SELECT ") + col +
                        ",SUM(cost_nusd)::bigint FROM usage WHERE ts_ms>=$1 GROUP BY " + col,
                    Params().add(sinceMs));
    if (!res) return std::unexpected(res.error());
    for (int i = 0; i < res->rows(); ++i) (*into)[res->text(i, 0)] = res->i64(i, 1);
  }
  return out;
}

Result<std::vector<OutboxRecord>> PgTaskStore::outbox(int64_t afterId, int limit) {
  Reader r(*this);
  auto res = read(r.conn(), "read outbox",
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
  Reader r(*this);
  auto res = read(r.conn(), "ping", "SELECT 1");
  if (!res) return std::unexpected(res.error());
  return {};
}

}  // namespace aion::store
