#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "control/control_service.h"

namespace aion::control {
namespace {

namespace json = boost::json;

TEST(TaskFeed, DeliversToTheTenantsFollowersOnly) {
  TaskFeed feed;
  std::vector<std::string> a, b;
  auto sa = feed.subscribe(
      "acme", [&](const json::object& t) { a.push_back(std::string(t.at("taskId").as_string())); });
  auto sb = feed.subscribe(
      "zeta", [&](const json::object& t) { b.push_back(std::string(t.at("taskId").as_string())); });
  feed.publish("acme", {{"taskId", "tsk_1"}});
  feed.publish("zeta", {{"taskId", "tsk_2"}});
  feed.publish("other", {{"taskId", "tsk_3"}});
  EXPECT_EQ(a, std::vector<std::string>{"tsk_1"});
  EXPECT_EQ(b, std::vector<std::string>{"tsk_2"});
  EXPECT_EQ(feed.followers(), 2u);
}

TEST(TaskFeed, AFollowerThatLeftIsNotCalled) {
  TaskFeed feed;
  int calls = 0;
  auto s = feed.subscribe("acme", [&](const json::object&) { ++calls; });
  feed.publish("acme", {});
  s.reset();
  feed.publish("acme", {});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(feed.followers(), 0u);
}

TEST(TaskFeed, PublishAndSubscribeFromManyThreads) {
  TaskFeed feed;
  std::atomic<int> seen{0};
  auto keep = feed.subscribe("t", [&](const json::object&) { ++seen; });
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 500; ++j) {
        auto s = feed.subscribe("t", [](const json::object&) {});
        feed.publish("t", {});
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.load(), 2000);
  EXPECT_EQ(feed.followers(), 1u);
}

}  // namespace
}  // namespace aion::control
