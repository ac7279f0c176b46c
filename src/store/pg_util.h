#pragma once
// libpq helpers shared by the PostgreSQL store and its cluster half
// (store/pg_store.h): results, parameters, connecting, running statements,
// reading task rows.
#include <libpq-fe.h>

#include <boost/json/value.hpp>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/json_text.h"
#include "store/task.h"

namespace aion::store::pg {
namespace json = boost::json;

//! `msg` on one line: libpq ends messages with newlines and may span several.
std::string oneLine(const char* msg);

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

std::unexpected<Error> pgError(std::string_view what, const std::string& msg);
//! Runs one statement; an error carries the server's message.
Result<PgResult> exec(PGconn* c, std::string_view what, const std::string& sql,
                      const Params& p = {});
//! Runs SQL without parameters (several statements allowed).
Status execScript(PGconn* c, std::string_view what, const char* sql);
//! Connects with a bounded connect_timeout; errors never quote the password.
//! `keepalive`: TCP keepalives find a silently dead peer within ~11 s (for a
//! connection that only listens and would otherwise never notice).
Result<PGconn*> connect(const std::string& dsn, bool keepalive = false);
//! Reconnects a connection the server or network dropped.
Status ensureConnected(PGconn* c);
//! Runs a read on `c`, reconnecting first if the connection broke. Reads
//! change nothing, so one that failed on a connection the server dropped
//! runs again on a new one.
Result<PgResult> read(PGconn* c, std::string_view what, const std::string& sql,
                      const Params& p = {});

json::value parseOrNull(const PgResult& r, int row, int col);
//! The columns readTask expects, in its order.
extern const char* const kTaskCols;
Task readTask(const PgResult& r, int row);

}  // namespace aion::store::pg
