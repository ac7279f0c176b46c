// The Cluster half of PgTaskStore (store/cluster.h): plane leases, claims of
// tasks whose owner is gone, cancels across planes, the NOTIFY/LISTEN that
// carries committed events and cancels to other planes, and the shared
// budget ledger.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <tuple>

#include "common/thread_name.h"
#include "store/pg_store.h"
#include "store/pg_util.h"

namespace aion::store {
using namespace pg;  // NOLINT: the libpq helpers are this file's vocabulary

namespace {

// Leases compare against the database's clock, never a host's: planes on
// hosts whose clocks disagree still agree on whose lease ran out.
constexpr const char* kNowMs = "(extract(epoch from clock_timestamp())*1000)::bigint";
constexpr const char* kActive = "('queued','routed','running')";
constexpr const char* kEventsChannel = "aion_events";
constexpr const char* kCancelChannel = "aion_cancel";
constexpr const char* kTakenChannel = "aion_taken";
// NOTIFY payloads must stay under 8000 bytes.
constexpr size_t kPayloadMax = 7000;

std::string usageColumn(const std::string& kind) {
  return kind == "key" ? "key_id" : "tenant";
}

//! `scopes` in the one order every transaction locks them: no deadlocks.
std::vector<LedgerScope> lockOrder(std::vector<LedgerScope> scopes) {
  std::sort(scopes.begin(), scopes.end(), [](const LedgerScope& a, const LedgerScope& b) {
    return std::tie(a.kind, a.id, a.period, a.periodStartMs) <
           std::tie(b.kind, b.id, b.period, b.periodStartMs);
  });
  return scopes;
}

//! kTaskCols, each qualified with `table` (an UPDATE … FROM names two tables).
std::string taskColsOf(std::string_view table) {
  std::string cols;
  for (std::string_view rest = kTaskCols; !rest.empty();) {
    auto comma = rest.find(',');
    cols += std::string(cols.empty() ? "" : ",") + std::string(table) + "." +
            std::string(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
  }
  return cols;
}

//! Runs `body` in a transaction on `c`; rolls back when it fails.
template <typename T, typename F>
Result<T> transaction(PGconn* c, F body) {
  if (auto st = ensureConnected(c); !st) return std::unexpected(st.error());
  if (auto st = execScript(c, "begin", "BEGIN"); !st) return std::unexpected(st.error());
  Result<T> out = body();
  if (!out) {
    execScript(c, "rollback", "ROLLBACK");
    return out;
  }
  PgResult r(PQexec(c, "COMMIT"));
  if (!r.ok() || r.command() != "COMMIT")
    return pgError("commit", r.ok() ? "the transaction was rolled back" : r.error(c));
  return out;
}

}  // namespace

// ---- notifications ---------------------------------------------------------

Status PgTaskStore::notifyCommitted(const std::vector<Pending>& batch,
                                    const std::vector<size_t>& into, size_t from, size_t to) {
  // "<plane>\n<task> <seq>\n…": the listener skips its own plane's.
  std::string head = opts_.planeId + "\n", payload = head;
  auto send = [&]() -> Status {
    if (payload.size() == head.size()) return {};
    auto r = exec(writer_, "notify", "SELECT pg_notify($1,$2)",
                  Params().add(kEventsChannel).add(payload));
    payload = head;
    if (!r) return std::unexpected(r.error());
    return {};
  };
  for (size_t i = from; i < to; ++i) {
    if (into[i] != i || batch[i].w.events.empty()) continue;
    payload += batch[i].w.taskId + " " + std::to_string(batch[i].w.events.back().seq) + "\n";
    if (payload.size() > kPayloadMax)
      if (auto st = send(); !st) return st;
  }
  return send();
}

void PgTaskStore::listen(Listener l) {
  if (listenThread_.joinable()) return;
  listener_ = std::move(l);
  if (::pipe(wakeFd_) != 0) {
    spdlog::error("store: cannot make the listener's wake-up pipe; cross-plane events off");
    return;
  }
  listenThread_ = std::thread([this] {
    nameThisThread("aion-pg-listen");
    listenLoop();
  });
}

void PgTaskStore::unlisten() {
  if (!listenThread_.joinable()) return;
  char one = 1;
  (void)!::write(wakeFd_[1], &one, 1);
  listenThread_.join();
}

void PgTaskStore::listenLoop() {
  PGconn* c = nullptr;
  auto backoff = std::chrono::milliseconds(100);
  // Waits up to `d` for the destructor's wake-up; true: stop.
  auto stopped = [this](std::chrono::milliseconds d) {
    pollfd p{wakeFd_[0], POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(d.count())) > 0;
  };
  auto deliver = [this](std::string_view channel, std::string_view payload) {
    auto nl = payload.find('\n');
    std::string_view plane = payload.substr(0, nl);
    std::string_view rest = nl == std::string_view::npos ? "" : payload.substr(nl + 1);
    if (channel == kCancelChannel || channel == kTakenChannel) {
      auto& to = channel == kCancelChannel ? listener_.cancel : listener_.taken;
      if (plane == opts_.planeId && to) to(std::string(rest));
      return;
    }
    if (plane == opts_.planeId || !listener_.committed) return;
    while (!rest.empty()) {
      auto end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      rest = end == std::string_view::npos ? "" : rest.substr(end + 1);
      auto sp = line.find(' ');
      if (sp == std::string_view::npos) continue;
      int64_t seq = 0;
      std::from_chars(line.data() + sp + 1, line.data() + line.size(), seq);
      listener_.committed(std::string(line.substr(0, sp)), seq);
    }
  };
  for (;;) {
    if (!c || PQstatus(c) != CONNECTION_OK) {
      if (c) PQfinish(std::exchange(c, nullptr));
      auto r = connect(opts_.dsn, /*keepalive=*/true);
      if (r) {
        c = *r;
        if (auto st = execScript(c, "listen",
                                 "LISTEN aion_events; LISTEN aion_cancel; LISTEN aion_taken");
            !st) {
          spdlog::warn("store: LISTEN failed: {}", st.error().message);
          PQfinish(std::exchange(c, nullptr));
        }
      }
      if (!c) {
        if (stopped(backoff)) break;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        continue;
      }
      backoff = std::chrono::milliseconds(100);
      // Whatever was sent while nobody listened is in the store.
      if (listener_.resync) listener_.resync();
    }
    pollfd fds[2] = {{PQsocket(c), POLLIN, 0}, {wakeFd_[0], POLLIN, 0}};
    int n = ::poll(fds, 2, 1000);
    if (n > 0 && fds[1].revents) break;
    if (n > 0 && fds[0].revents && !PQconsumeInput(c)) continue;  // broken: reconnect
    while (PGnotify* note = PQnotifies(c)) {
      deliver(note->relname, note->extra ? note->extra : "");
      PQfreemem(note);
    }
  }
  if (c) PQfinish(c);
}

// ---- leases and claims -----------------------------------------------------

Result<std::vector<std::string>> PgTaskStore::renew() {
  Reader r(idle_);
  auto up =
      read(r.get(), "renew lease",
           std::string("INSERT INTO control_planes(id,lease_until_ms,started_ms) VALUES($1,") +
               kNowMs + "+$2," + kNowMs +
               ") ON CONFLICT(id) DO UPDATE SET lease_until_ms=EXCLUDED.lease_until_ms",
           Params().add(opts_.planeId).add(static_cast<int64_t>(opts_.lease.count())));
  if (!up) return std::unexpected(up.error());
  // A plane without a live lease counts as gone whether its row is there or
  // not: rows of planes gone for a day go, so that ids that come and go (one
  // per pod) do not pile up.
  auto forget = read(r.get(), "forget planes gone for a day",
                     std::string("DELETE FROM control_planes WHERE id<>$1 AND "
                                 "GREATEST(lease_until_ms,started_ms)<") +
                         kNowMs + "-86400000",
                     Params().add(opts_.planeId));
  if (!forget) return std::unexpected(forget.error());
  auto res = read(r.get(), "cancels asked elsewhere",
                  std::string("SELECT id FROM tasks WHERE owner=$1 AND cancel_requested AND "
                              "status IN ") +
                      kActive,
                  Params().add(opts_.planeId));
  if (!res) return std::unexpected(res.error());
  std::vector<std::string> out;
  for (int i = 0; i < res->rows(); ++i) out.push_back(res->text(i, 0));
  return out;
}

Result<std::vector<Task>> PgTaskStore::claim(bool ownToo) {
  Reader r(idle_);
  // A plane is gone when it has no lease row or its lease ran out.
  std::string gone = std::string("NOT EXISTS (SELECT 1 FROM control_planes p WHERE p.id=") +
                     "%s AND p.lease_until_ms>=" + kNowMs + ")";
  auto goneOf = [&](const char* col) {
    std::string g = gone;
    g.replace(g.find("%s"), 2, col);
    return g;
  };
  std::string whose = ownToo ? "(t.owner=$1 OR " + goneOf("t.owner") + ")"
                             : "(t.owner<>$1 AND " + goneOf("t.owner") + ")";
  std::string cols = taskColsOf("tasks");
  // SKIP LOCKED: a row another plane is claiming right now is its own.
  auto res = read(r.get(), "claim tasks",
                  std::string("WITH gone AS (SELECT t.id AS gid FROM tasks t WHERE t.status IN ") +
                      kActive + " AND " + whose +
                      " ORDER BY t.id FOR UPDATE OF t SKIP LOCKED) UPDATE tasks SET owner=$1 "
                      "FROM gone WHERE tasks.id=gone.gid RETURNING " +
                      cols,
                  Params().add(opts_.planeId));
  if (!res) return std::unexpected(res.error());
  std::vector<Task> out;
  for (int i = 0; i < res->rows(); ++i) out.push_back(readTask(*res, i));
  std::sort(out.begin(), out.end(), [](const Task& a, const Task& b) { return a.id < b.id; });
  // Budget reservations of gone planes: their calls will never settle.
  std::string whoseRes = ownToo ? "(b.plane=$1 OR " + goneOf("b.plane") + ")"
                                : "(b.plane<>$1 AND " + goneOf("b.plane") + ")";
  auto freed = read(r.get(), "release reservations",
                    "WITH r AS (DELETE FROM budget_reservations b WHERE " + whoseRes +
                        " RETURNING kind,scope_id,period,period_start_ms,amount_nusd), s AS "
                        "(SELECT kind,scope_id,period,period_start_ms,SUM(amount_nusd) AS amt "
                        "FROM r GROUP BY 1,2,3,4) UPDATE budget_accounts a SET "
                        "reserved_nusd=a.reserved_nusd-s.amt FROM s WHERE a.kind=s.kind AND "
                        "a.scope_id=s.scope_id AND a.period=s.period AND "
                        "a.period_start_ms=s.period_start_ms",
                    Params().add(opts_.planeId));
  if (!freed) spdlog::warn("store: {}", freed.error().message);
  return out;
}

Result<std::vector<Task>> PgTaskStore::take(size_t limit, std::chrono::milliseconds queuedFor) {
  if (limit == 0) return std::vector<Task>();
  Reader r(idle_);
  // Only queued tasks: a start is a write, and a write by the old owner
  // fails once the row names another (PgTaskStore::apply), so a task is
  // either started by its old owner or taken, never both. The old owner is
  // told so that it drops the task from its queue. A task moves once
  // (taken_ms): no ping-pong, and a take that locks a row another take just
  // committed re-checks its condition on the new row and skips it.
  auto res = read(
      r.get(), "take queued tasks",
      std::string("WITH q AS (SELECT t.id AS qid,t.owner AS prev FROM tasks t WHERE "
                  "t.status IN ('routed','queued') AND NOT t.cancel_requested AND t.taken_ms=0 AND "
                  "t.owner<>$1 AND t.created_ms<=") +
          kNowMs +
          "-$2 ORDER BY t.created_ms,t.id LIMIT $3 FOR UPDATE OF t SKIP LOCKED), u AS "
          "(UPDATE tasks SET owner=$1,taken_ms=" +
          kNowMs + " FROM q WHERE tasks.id=q.qid RETURNING " + taskColsOf("tasks") +
          ",q.prev) SELECT " + kTaskCols + ",pg_notify('" + kTakenChannel +
          "',prev||chr(10)||id) FROM u",
      Params()
          .add(opts_.planeId)
          .add(static_cast<int64_t>(queuedFor.count()))
          .add(static_cast<int64_t>(limit)));
  if (!res) return std::unexpected(res.error());
  std::vector<Task> out;
  for (int i = 0; i < res->rows(); ++i) out.push_back(readTask(*res, i));
  std::sort(out.begin(), out.end(),
            [](const Task& a, const Task& b) { return a.createdMs < b.createdMs; });
  return out;
}

Result<std::optional<Task>> PgTaskStore::requestCancel(const std::string& taskId) {
  Reader r(idle_);
  auto res = read(r.get(), "request cancel",
                  std::string("WITH u AS (UPDATE tasks SET cancel_requested=true WHERE id=$1 AND "
                              "status IN ") +
                      kActive + " RETURNING " + kTaskCols + ",owner) SELECT " + kTaskCols +
                      ",pg_notify($2,owner||chr(10)||id) FROM u",
                  Params().add(taskId).add(kCancelChannel));
  if (!res) return std::unexpected(res.error());
  if (res->rows() == 0) return std::optional<Task>();
  return std::optional<Task>(readTask(*res, 0));
}

void PgTaskStore::release() {
  Reader r(idle_);
  auto res =
      read(r.get(), "release lease", "UPDATE control_planes SET lease_until_ms=0 WHERE id=$1",
           Params().add(opts_.planeId));
  if (!res) spdlog::warn("store: {}", res.error().message);
}

// ---- the shared budget ledger -----------------------------------------------

Result<std::optional<LedgerRefusal>> PgTaskStore::reserve(const std::string& reservationId,
                                                          const std::vector<LedgerScope>& scopes,
                                                          int64_t nanoUsd) {
  if (scopes.empty()) return std::optional<LedgerRefusal>();
  auto ordered = lockOrder(scopes);
  Reader r(idle_);
  PGconn* c = r.get();
  return transaction<std::optional<LedgerRefusal>>(
      c, [&]() -> Result<std::optional<LedgerRefusal>> {
        auto key = [](const LedgerScope& s) {
          return Params().add(s.kind).add(s.id).add(s.period).add(s.periodStartMs);
        };
        constexpr const char* kWhere =
            " WHERE kind=$1 AND scope_id=$2 AND period=$3 AND period_start_ms=$4";
        std::vector<std::pair<int64_t, int64_t>> figures;
        for (auto& s : ordered) {
          // A new account starts from the usage records of its period.
          auto in = exec(c, "open budget account",
                         "INSERT INTO budget_accounts(kind,scope_id,period,period_start_ms,"
                         "spent_nusd) SELECT $1,$2,$3,$4,COALESCE(SUM(cost_nusd),0)::bigint FROM "
                         "usage WHERE " +
                             usageColumn(s.kind) + "=$2 AND ts_ms>=$4 ON CONFLICT DO NOTHING",
                         key(s));
          if (!in) return std::unexpected(in.error());
          auto row = exec(c, "lock budget account",
                          std::string("SELECT spent_nusd,reserved_nusd FROM budget_accounts") +
                              kWhere + " FOR UPDATE",
                          key(s));
          if (!row) return std::unexpected(row.error());
          figures.emplace_back(row->i64(0, 0), row->i64(0, 1));
        }
        for (size_t i = 0; i < ordered.size(); ++i) {
          auto [spent, reserved] = figures[i];
          if (spent + reserved + nanoUsd > ordered[i].capNanoUsd)
            return std::optional<LedgerRefusal>(LedgerRefusal{ordered[i], spent, reserved});
        }
        for (auto& s : ordered) {
          auto up = exec(
              c, "reserve",
              std::string("UPDATE budget_accounts SET reserved_nusd=reserved_nusd+$5") + kWhere,
              key(s).add(nanoUsd));
          if (!up) return std::unexpected(up.error());
          auto ins = exec(c, "record reservation",
                          "INSERT INTO budget_reservations(kind,scope_id,period,period_start_ms,"
                          "amount_nusd,id,plane) VALUES($1,$2,$3,$4,$5,$6,$7)",
                          key(s).add(nanoUsd).add(reservationId).add(opts_.planeId));
          if (!ins) return std::unexpected(ins.error());
        }
        return std::optional<LedgerRefusal>();
      });
}

Status PgTaskStore::settle(const std::string& reservationId, int64_t spentNanoUsd) {
  Reader r(idle_);
  // One statement: the reservation goes and its spend lands together.
  auto res = read(r.get(), "settle",
                  "WITH r AS (DELETE FROM budget_reservations WHERE id=$1 RETURNING "
                  "kind,scope_id,period,period_start_ms,amount_nusd) UPDATE budget_accounts a SET "
                  "reserved_nusd=a.reserved_nusd-r.amount_nusd,spent_nusd=a.spent_nusd+$2 FROM r "
                  "WHERE a.kind=r.kind AND a.scope_id=r.scope_id AND a.period=r.period AND "
                  "a.period_start_ms=r.period_start_ms",
                  Params().add(reservationId).add(spentNanoUsd));
  if (!res) return std::unexpected(res.error());
  return {};
}

Result<std::pair<int64_t, int64_t>> PgTaskStore::spent(const LedgerScope& s) {
  Reader r(idle_);
  auto res = read(r.get(), "budget account",
                  "SELECT spent_nusd,reserved_nusd FROM budget_accounts WHERE kind=$1 AND "
                  "scope_id=$2 AND period=$3 AND period_start_ms=$4",
                  Params().add(s.kind).add(s.id).add(s.period).add(s.periodStartMs));
  if (!res) return std::unexpected(res.error());
  if (res->rows() == 0) return std::pair<int64_t, int64_t>{0, 0};
  return std::pair{res->i64(0, 0), res->i64(0, 1)};
}

}  // namespace aion::store
