#include "control/budget_book.h"

#include <spdlog/spdlog.h>

#include <boost/json/object.hpp>
#include <cstdio>

#include "common/async.h"

namespace aion::control {
using store::fromNanoUsd;
using Kind = BudgetScope::Kind;

namespace {

std::string money(int64_t nano) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", fromNanoUsd(nano));
  return buf;
}

//! kBudgetExceeded naming the scope and its figures.
std::unexpected<Error> refusal(const BudgetScope& sc, int64_t spent, int64_t reserved,
                               int64_t nanoUsd) {
  std::string who = (sc.kind == Kind::kTenant ? "tenant '" : "key '") + sc.id + "'";
  return fail(ErrorCode::kBudgetExceeded,
              who + " " + sc.period + " budget " + money(sc.capNanoUsd) + " USD: spent " +
                  money(spent) + ", reserved " + money(reserved) + ", this call needs up to " +
                  money(nanoUsd),
              {{"scope", sc.kind == Kind::kTenant ? "tenant" : "key"},
               {"period", sc.period},
               {"capUsd", fromNanoUsd(sc.capNanoUsd)},
               {"spentUsd", fromNanoUsd(spent)},
               {"reservedUsd", fromNanoUsd(reserved)},
               {"neededUsd", fromNanoUsd(nanoUsd)}});
}

}  // namespace

void BudgetBook::share(store::Cluster* ledger, boost::asio::any_io_executor exec) {
  ledger_ = ledger;
  ledgerExec_ = std::move(exec);
}

boost::asio::awaitable<Status> BudgetBook::reserveAsync(std::string reservationId,
                                                        std::string tenant, std::string keyId,
                                                        std::vector<BudgetScope> scopes,
                                                        int64_t nanoUsd, int64_t nowMs) {
  if (!ledger_ || scopes.empty())
    co_return reserve(reservationId, tenant, keyId, scopes, nanoUsd, nowMs);
  std::vector<store::LedgerScope> shared;
  for (auto& sc : scopes)
    shared.push_back({.kind = sc.kind == Kind::kTenant ? "tenant" : "key",
                      .id = sc.id,
                      .period = sc.period,
                      .periodStartMs = store::periodStartMs(sc.period, nowMs),
                      .capNanoUsd = sc.capNanoUsd});
  auto r = co_await offload(ledgerExec_, [&] {
    settleLeftovers();  // before the caps are checked: they free what they held
    return ledger_->reserve(reservationId, shared, nanoUsd);
  });
  if (!r) co_return std::unexpected(r.error());
  if (*r) {
    const auto& no = **r;
    for (auto& sc : scopes)
      if (sc.id == no.scope.id && sc.period == no.scope.period &&
          (sc.kind == Kind::kTenant) == (no.scope.kind == "tenant"))
        co_return refusal(sc, no.spentNanoUsd, no.reservedNanoUsd, nanoUsd);
  }
  // Mirrored here for the gauges; the caps were checked by the ledger.
  auto st = reserve(reservationId, tenant, keyId, {}, nanoUsd, nowMs);
  std::lock_guard lock(mu_);
  open_[reservationId].shared = true;
  co_return st;
}

boost::asio::awaitable<void> BudgetBook::settleAsync(std::string reservationId,
                                                     int64_t spentNanoUsd, int64_t nowMs) {
  bool shared;
  {
    std::lock_guard lock(mu_);
    auto it = open_.find(reservationId);
    shared = it != open_.end() && it->second.shared;
  }
  if (shared) {
    auto st = co_await offload(ledgerExec_, [&] {
      settleLeftovers();
      return ledger_->settle(reservationId, spentNanoUsd);
    });
    if (!st) {
      spdlog::error(
          "budget: settling {} in the shared ledger failed ({}); retried with the next "
          "ledger call",
          reservationId, st.error().message);
      std::lock_guard lock(mu_);
      unsettled_.emplace_back(reservationId, spentNanoUsd);
    }
  }
  settle(reservationId, spentNanoUsd, nowMs);
}

void BudgetBook::settleLeftovers() {
  std::vector<std::pair<std::string, int64_t>> again;
  {
    std::lock_guard lock(mu_);
    again.swap(unsettled_);
  }
  for (size_t i = 0; i < again.size(); ++i) {
    if (auto st = ledger_->settle(again[i].first, again[i].second); !st) {
      std::lock_guard lock(mu_);  // still away: keep this one and the rest, in order
      unsettled_.insert(unsettled_.begin(), again.begin() + static_cast<ptrdiff_t>(i), again.end());
      return;
    }
    spdlog::info("budget: settled {} in the shared ledger on retry", again[i].first);
  }
}

size_t BudgetBook::unsettled() const {
  std::lock_guard lock(mu_);
  return unsettled_.size();
}

Status BudgetBook::load(store::TaskStore& store, int64_t nowMs) {
  int64_t day = store::periodStartMs("day", nowMs), month = store::periodStartMs("month", nowMs);
  auto m = store.spendSince(month);
  if (!m) return std::unexpected(m.error());
  auto d = store.spendSince(day);
  if (!d) return std::unexpected(d.error());
  std::lock_guard lock(mu_);
  accounts_.clear();
  for (auto [kind, monthly, daily] : {std::tuple{Kind::kTenant, &m->byTenant, &d->byTenant},
                                      std::tuple{Kind::kKey, &m->byKey, &d->byKey}}) {
    for (auto& [id, nano] : *monthly) account(kind, id, nowMs).monthSpent = nano;
    for (auto& [id, nano] : *daily) account(kind, id, nowMs).daySpent = nano;
  }
  return {};
}

BudgetBook::Account& BudgetBook::account(Kind kind, const std::string& id, int64_t nowMs) {
  auto& a = accounts_[{kind, id}];
  int64_t day = store::periodStartMs("day", nowMs);
  if (a.dayStart != day) {
    if (a.dayStart) a.daySpent = 0;  // a new day (not the first touch)
    a.dayStart = day;
  }
  int64_t month = store::periodStartMs("month", nowMs);
  if (a.monthStart != month) {
    if (a.monthStart) a.monthSpent = 0;
    a.monthStart = month;
  }
  return a;
}

Status BudgetBook::reserve(const std::string& reservationId, const std::string& tenant,
                           const std::string& keyId, const std::vector<BudgetScope>& scopes,
                           int64_t nanoUsd, int64_t nowMs) {
  std::lock_guard lock(mu_);
  for (auto& sc : scopes) {
    auto& a = account(sc.kind, sc.id, nowMs);
    int64_t spent = sc.period == "month" ? a.monthSpent : a.daySpent;
    if (spent + a.reserved + nanoUsd <= sc.capNanoUsd) continue;
    return refusal(sc, spent, a.reserved, nanoUsd);
  }
  account(Kind::kTenant, tenant, nowMs).reserved += nanoUsd;
  account(Kind::kKey, keyId, nowMs).reserved += nanoUsd;
  open_[reservationId] = Reservation{tenant, keyId, nanoUsd};
  return {};
}

void BudgetBook::settle(const std::string& reservationId, int64_t spentNanoUsd, int64_t nowMs) {
  std::lock_guard lock(mu_);
  auto it = open_.find(reservationId);
  if (it == open_.end()) return;
  for (auto [kind, id] :
       {std::pair{Kind::kTenant, &it->second.tenant}, std::pair{Kind::kKey, &it->second.keyId}}) {
    auto& a = account(kind, *id, nowMs);
    a.reserved -= it->second.amount;
    a.daySpent += spentNanoUsd;
    a.monthSpent += spentNanoUsd;
  }
  open_.erase(it);
}

std::pair<int64_t, int64_t> BudgetBook::spent(const BudgetScope& scope, int64_t nowMs) {
  std::lock_guard lock(mu_);
  auto& a = account(scope.kind, scope.id, nowMs);
  return {scope.period == "month" ? a.monthSpent : a.daySpent, a.reserved};
}

std::vector<std::string> BudgetBook::ids(BudgetScope::Kind kind) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto& [k, _] : accounts_)
    if (k.first == kind) out.push_back(k.second);
  return out;
}

size_t BudgetBook::openReservations() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

}  // namespace aion::control
