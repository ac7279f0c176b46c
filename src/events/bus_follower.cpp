#include "events/bus_follower.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/async.h"

namespace aion::events {
namespace asio = boost::asio;

namespace {
constexpr int kReplayPage = 500;
}

BusFollower::BusFollower(store::TaskStore& store, std::string taskId, int64_t afterSeq,
                         std::shared_ptr<Inbox> inbox)
    : store_(store), taskId_(std::move(taskId)), last_(afterSeq), inbox_(std::move(inbox)) {}

BusFollower::~BusFollower() {
  sub_.reset();  // no listener call after this
}

asio::awaitable<std::unique_ptr<Follower>> BusFollower::open(EventBus& bus, store::TaskStore& store,
                                                             const store::Task& task,
                                                             int64_t afterSeq) {
  auto inbox = std::make_shared<Inbox>();
  inbox->timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  std::unique_ptr<BusFollower> f(new BusFollower(store, task.id, afterSeq, inbox));
  auto joined = bus.subscribe(task.id, afterSeq, [inbox](const store::Event& e) {
    std::lock_guard lock(inbox->mu);
    inbox->live.push_back(e);
    if (inbox->waiting) {
      inbox->waiting = false;
      asio::post(inbox->timer->get_executor(), [t = inbox->timer] { t->cancel(); });
    }
  });
  f->sub_ = std::move(joined.sub);
  if (joined.history) {
    f->ready_ = std::move(*joined.history);
  } else {
    f->replayFirst_ = true;
    // A finished task resumed at or past its last event: nothing will come.
    if (store::isTerminal(task.status) && afterSeq >= task.lastSeq) f->finished_ = true;
  }
  co_return std::unique_ptr<Follower>(std::move(f));
}

void BusFollower::take(std::vector<store::Event>& out, std::vector<store::Event> in) {
  for (auto& e : in) {
    if (finished_ || e.seq <= last_) continue;
    last_ = e.seq;
    if (e.type == "done") finished_ = true;
    out.push_back(std::move(e));
  }
}

asio::awaitable<Result<std::vector<store::Event>>> BusFollower::replay(int64_t upTo) {
  std::vector<store::Event> out;
  for (;;) {
    int64_t after = last_;
    auto page = co_await offload(store_.readExecutor(), [this, after] {
      return store_.events(taskId_, after, kReplayPage);
    });
    if (!page) co_return std::unexpected(page.error());
    bool full = static_cast<int>(page->size()) == kReplayPage;
    take(out, std::move(*page));
    if (!full || finished_ || (upTo && last_ >= upTo)) co_return out;
  }
}

asio::awaitable<Result<std::vector<store::Event>>> BusFollower::next(
    std::chrono::milliseconds wait) {
  std::vector<store::Event> out;
  if (finished_) co_return out;
  if (!ready_.empty()) {
    take(out, std::exchange(ready_, {}));
    co_return out;
  }
  if (replayFirst_) {
    replayFirst_ = false;
    auto r = co_await replay(0);
    if (!r || !r->empty()) co_return r;
  }
  bool waited = false;
  for (;;) {
    std::deque<store::Event> live;
    {
      std::lock_guard lock(inbox_->mu);
      live.swap(inbox_->live);
      inbox_->waiting = live.empty() && !waited;
    }
    if (!live.empty()) {
      // Markers (EventBus::announce): another control plane runs the task
      // and committed events up to their seq; they are read from the store.
      int64_t stored = 0;
      std::vector<store::Event> evs;
      for (auto& e : live) {
        if (e.type.empty())
          stored = std::max(stored, e.seq);
        else
          evs.push_back(std::move(e));
      }
      // A gap (should not happen: events are published after commit, and
      // the bus hands over history atomically): fill it from the store too.
      if (!evs.empty()) stored = std::max(stored, evs.front().seq - 1);
      if (stored > last_) {
        auto r = co_await replay(stored);
        if (!r) co_return r;
        out = std::move(*r);
      }
      take(out, std::move(evs));
      if (!out.empty() || waited) co_return out;
      continue;  // only repeats of what the replay returned: wait for more
    }
    if (waited) co_return out;
    inbox_->timer->expires_after(wait);
    co_await inbox_->timer->async_wait(asio::as_tuple(asio::use_awaitable));
    waited = true;
  }
}

}  // namespace aion::events
