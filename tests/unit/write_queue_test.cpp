#include "store/write_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

namespace aion::store {
namespace {
using namespace std::chrono_literals;

// The writer's backlog decides whether a call may still be written behind
// (Orchestrator::admit): it must count a write behind only from the end of
// its window, also while that write's batch commits. Counted from when it was
// queued, every call arriving during a commit found the writer "behind" and
// waited for a durable commit instead.

// A queue whose commits wait until `release` is set; `started` is set when
// the first one begins.
struct Gate {
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  bool first = true;
  WriteQueue::Commit commit() {
    return [this](std::vector<WriteQueue::Pending>& batch, const std::vector<size_t>&) {
      if (first) {
        first = false;
        started.set_value();
      }
      released.wait();
      for (auto& p : batch)
        if (p.done) p.done(Status{}, p.w);
    };
  }
};

TEST(WriteQueue, WritesBehindCountOnlyPastTheirWindowWhileTheyCommit) {
  Gate gate;
  WriteQueue::Options opts;
  opts.behindWindow = 400ms;
  WriteQueue q(opts, gate.commit());
  q.push(Write{.taskId = "t1", .durability = Durability::kBehind}, nullptr);
  EXPECT_EQ(q.backlog(), 0ms);  // waiting for company, on purpose
  gate.started.get_future().wait();
  // Committing now, 400 ms after it was queued: it was due only just now.
  EXPECT_LT(q.backlog(), 300ms);
  std::this_thread::sleep_for(100ms);
  EXPECT_GE(q.backlog(), 100ms);  // a slow commit still counts
  gate.release.set_value();
  q.flush();
  EXPECT_EQ(q.backlog(), 0ms);
}

TEST(WriteQueue, DurableWritesCountFromWhenTheyWereQueued) {
  Gate gate;
  WriteQueue::Options opts;
  opts.behindWindow = 10s;
  WriteQueue q(opts, gate.commit());
  q.push(Write{.taskId = "t1"}, nullptr);  // durable: goes at once
  gate.started.get_future().wait();
  std::this_thread::sleep_for(100ms);
  EXPECT_GE(q.backlog(), 100ms);
  gate.release.set_value();
  q.flush();
  EXPECT_EQ(q.backlog(), 0ms);
}

// Only a batch no caller waits for may yield the writer's core (GiveWay):
// one durable or committed write makes the writer the request path.
TEST(GiveWay, OnlyBatchesOfWritesBehindYield) {
  auto batch = [](std::initializer_list<Durability> ds) {
    std::vector<WriteQueue::Pending> b;
    for (auto d : ds) b.push_back({Write{.taskId = "t", .durability = d}, nullptr, {}});
    return b;
  };
  EXPECT_TRUE(GiveWay::behindOnly(batch({Durability::kBehind, Durability::kBehind})));
  EXPECT_FALSE(GiveWay::behindOnly(batch({Durability::kBehind, Durability::kDurable})));
  EXPECT_FALSE(GiveWay::behindOnly(batch({Durability::kCommitted})));
}

}  // namespace
}  // namespace aion::store
