// The one event-follow path: history from the bus while a task is active,
// the store after it retired, live events pushed, in order and gap-free.
#include "events/bus_follower.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <future>

#include "common/ids.h"
#include "store/sqlite_store.h"
#include "temp_dir.h"

namespace aion::events {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

store::Event ev(const std::string& id, int64_t seq, std::string type = "delta") {
  return {id, seq, std::move(type), 1, json::object{{"n", seq}}};
}

struct FollowerTest : ::testing::Test {
  testing::TempDir dir;
  std::unique_ptr<store::SqliteTaskStore> db;
  EventBus bus;
  asio::io_context io;
  store::Task task;

  void SetUp() override {
    auto s = store::SqliteTaskStore::open(dir.path() / "aion.db");
    ASSERT_TRUE(s);
    db = std::move(*s);
    task.id = newTaskId();
    task.tenant = "default";
    task.status = store::TaskStatus::kRunning;
  }
  void storeEvents(std::vector<store::Event> evs) {
    std::promise<Status> p;
    store::Write w{.taskId = task.id, .events = std::move(evs)};
    if (!created) w.create = task;
    created = true;
    db->write(std::move(w), [&p](const Status& st, store::Write&) { p.set_value(st); });
    ASSERT_TRUE(p.get_future().get());
  }
  bool created = false;

  //! Opens a follower after `after` and reads until `done` or `batches` batches.
  std::vector<int64_t> follow(int64_t after, std::function<void()> whileOpen = {},
                              std::chrono::milliseconds wait = 2s) {
    std::vector<int64_t> seqs;
    asio::co_spawn(
        asio::make_strand(io),
        [&]() -> asio::awaitable<void> {
          auto f = co_await BusFollower::open(bus, *db, task, after);
          if (whileOpen) whileOpen();
          for (int i = 0; i < 20 && !f->finished(); ++i) {
            auto evs = co_await f->next(wait);
            EXPECT_TRUE(evs);
            if (!evs || evs->empty()) break;
            for (auto& e : *evs) seqs.push_back(e.seq);
          }
        },
        asio::detached);
    io.run();
    io.restart();
    return seqs;
  }
};

TEST_F(FollowerTest, ActiveTaskReplaysFromTheBusThenFollowsLive) {
  bus.track(task.id, 0);
  for (int64_t s = 1; s <= 3; ++s) bus.publish(ev(task.id, s));
  auto seqs = follow(1, [&] {
    // published while the follower is open: pushed to it, in order
    std::thread([&] {
      std::this_thread::sleep_for(20ms);
      bus.publish(ev(task.id, 4));
      bus.publish(ev(task.id, 5, "done"));
    }).detach();
  });
  EXPECT_EQ(seqs, (std::vector<int64_t>{2, 3, 4, 5}));
}

TEST_F(FollowerTest, RetiredTaskReplaysFromTheStoreAndEndsAtDone) {
  storeEvents({ev(task.id, 1), ev(task.id, 2), ev(task.id, 3, "done")});
  task.status = store::TaskStatus::kSucceeded;
  task.lastSeq = 3;
  EXPECT_EQ(follow(0), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(follow(2), (std::vector<int64_t>{3}));
  EXPECT_TRUE(follow(3).empty());  // resumed at the end: finished at once, no wait
}

TEST_F(FollowerTest, StoreReplayAndLiveEventsJoinWithoutGapsOrRepeats) {
  // A recovered task: seqs 1-2 in the store, the bus tracks from 2 on.
  storeEvents({ev(task.id, 1), ev(task.id, 2)});
  bus.track(task.id, 2);
  auto seqs = follow(0, [&] {
    // Committed and published: 3 reaches the store before the follower reads
    // it, and is published too; it must come once.
    storeEvents({ev(task.id, 3)});
    bus.publish(ev(task.id, 3));
    std::thread([&] {
      std::this_thread::sleep_for(20ms);
      storeEvents({ev(task.id, 4, "done")});
      bus.publish(ev(task.id, 4, "done"));
    }).detach();
  });
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST_F(FollowerTest, NothingNewIsAnEmptyBatchAfterTheWaitAndInterruptEndsItEarly) {
  bus.track(task.id, 0);
  std::vector<size_t> sizes;
  asio::co_spawn(
      asio::make_strand(io),
      [&]() -> asio::awaitable<void> {
        auto f = co_await BusFollower::open(bus, *db, task, 0);
        auto a = co_await f->next(30ms);
        sizes.push_back(a->size());
        auto* raw = f.get();
        asio::post(co_await asio::this_coro::executor, [raw] { raw->interrupt(); });
        auto b = co_await f->next(std::chrono::hours(1));  // returns at once
        sizes.push_back(b->size());
        EXPECT_FALSE(f->finished());
      },
      asio::detached);
  io.run();
  EXPECT_EQ(sizes, (std::vector<size_t>{0, 0}));
}

TEST(EventBus, SubscribeHandsOverHistoryAtomicallyAndRetireDropsIt) {
  EventBus bus;
  bus.track("t", 0);
  bus.publish(ev("t", 1));
  std::vector<int64_t> live;
  auto j = bus.subscribe("t", 0, [&](const store::Event& e) { live.push_back(e.seq); });
  ASSERT_TRUE(j.history);
  ASSERT_EQ(j.history->size(), 1u);
  bus.publish(ev("t", 2));
  EXPECT_EQ(live, std::vector<int64_t>{2});
  bus.retire("t");
  auto late = bus.subscribe("t", 0, [](const store::Event&) {});
  EXPECT_FALSE(late.history);  // read the store
  j.sub.reset();
  bus.publish(ev("t", 3));
  EXPECT_EQ(live, std::vector<int64_t>{2});  // unsubscribed: never called again
}

}  // namespace
}  // namespace aion::events
