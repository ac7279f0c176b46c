#include "store/pg_util.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <iterator>

namespace aion::store::pg {

std::string oneLine(const char* msg) {
  std::string s = msg ? msg : "";
  for (auto& ch : s)
    if (ch == '\n' || ch == '\t') ch = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s.empty() ? "unknown error" : s;
}

std::unexpected<Error> pgError(std::string_view what, const std::string& msg) {
  return fail(ErrorCode::kUnavailable, "store: " + std::string(what) + ": " + msg);
}

//! Runs one statement; an error carries the server's message.
Result<PgResult> exec(PGconn* c, std::string_view what, const std::string& sql, const Params& p) {
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

Result<PGconn*> connect(const std::string& dsn, bool keepalive) {
  auto password = dsnPassword(dsn);
  if (!password) return std::unexpected(password.error());
  // A bound on connecting unless the DSN sets its own (it comes later, so it wins).
  const char* keys[] = {"connect_timeout", "dbname", nullptr, nullptr, nullptr, nullptr};
  const char* vals[] = {"10", dsn.c_str(), nullptr, nullptr, nullptr, nullptr};
  if (keepalive) {
    // Before the DSN, so that it can still say otherwise.
    const char* k[] = {"connect_timeout", "keepalives_idle", "keepalives_interval",
                       "keepalives_count", "dbname"};
    const char* v[] = {"10", "5", "2", "3", dsn.c_str()};
    std::copy(std::begin(k), std::end(k), keys);
    std::copy(std::begin(v), std::end(v), vals);
  }
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

Result<PgResult> read(PGconn* c, std::string_view what, const std::string& sql, const Params& p) {
  if (auto st = ensureConnected(c); !st) return std::unexpected(st.error());
  auto r = exec(c, what, sql, p);
  if (r || PQstatus(c) != CONNECTION_BAD) return r;
  if (auto st = ensureConnected(c); !st) return std::unexpected(st.error());
  return exec(c, what, sql, p);
}

json::value parseOrNull(const PgResult& r, int row, int col) {
  if (r.isNull(row, col)) return nullptr;
  auto s = r.text(row, col);
  if (s.empty()) return nullptr;
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  return ec ? json::value(nullptr) : v;
}

const char* const kTaskCols =
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

}  // namespace aion::store::pg
