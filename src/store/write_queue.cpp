#include "store/write_queue.h"

#include <sched.h>

#include <unordered_map>

#include "common/thread_name.h"

namespace aion::store {

WriteQueue::WriteQueue(Options opts, Commit commit)
    : opts_(std::move(opts)), commit_(std::move(commit)), thread_([this] { loop(); }) {}

WriteQueue::~WriteQueue() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WriteQueue::push(Write w, WriteDone done) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    bool behind = w.durability == Durability::kBehind;
    if (!behind) ++urgent_;
    ++queuedTotal_;
    // A write behind joins a queue whose deadline the writer already waits
    // for: waking it would only cost a context switch per write.
    wake = !behind || queue_.empty() || queue_.size() + 1 >= opts_.behindMax;
    queue_.push_back(Pending{std::move(w), std::move(done), std::chrono::steady_clock::now()});
  }
  if (wake) cv_.notify_one();
}

void WriteQueue::flush() {
  std::unique_lock lock(mu_);
  uint64_t target = queuedTotal_;
  flushing_ = true;
  cv_.notify_one();
  flushedCv_.wait(lock, [&] { return committedTotal_ >= target; });
  flushing_ = false;
}

std::chrono::milliseconds WriteQueue::backlog() const {
  std::lock_guard lock(mu_);
  auto oldest = committing_;
  if (oldest == std::chrono::steady_clock::time_point{} && !queue_.empty()) {
    // Writes behind wait on purpose; only their wait past the window counts.
    oldest = urgent_ ? queue_.front().queued : dueOf(queue_.front());
  }
  if (oldest == std::chrono::steady_clock::time_point{}) return {};
  auto age = std::chrono::steady_clock::now() - oldest;
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(age));
}

WriteQueue::Stats WriteQueue::stats() const {
  std::lock_guard lock(mu_);
  return {committedTotal_, transactions_, folded_};
}

void WriteQueue::loop() {
  nameThisThread("aion-store-wr");
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      for (;;) {
        if (queue_.empty()) {
          if (stopping_) return;
          cv_.wait(lock);
          continue;
        }
        // Writes behind wait for company (bounded); anything else goes now.
        auto due = dueOf(queue_.front());
        if (urgent_ || stopping_ || flushing_ || queue_.size() >= opts_.behindMax ||
            std::chrono::steady_clock::now() >= due)
          break;
        cv_.wait_until(lock, due);
      }
      size_t n = std::min(queue_.size(), opts_.maxBatch);
      // The backlog while this batch commits counts from when its earliest
      // write was due: a write behind waited its window on purpose.
      committing_ = std::chrono::steady_clock::now();
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        if (queue_.front().w.durability != Durability::kBehind) --urgent_;
        committing_ = std::min(committing_, dueOf(queue_.front()));
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    bool behindOnly = GiveWay::behindOnly(batch);
    auto into = foldWritesBehind(batch);
    uint64_t folded = 0;
    for (size_t i = 0; i < into.size(); ++i) folded += into[i] != i;
    auto began = std::chrono::steady_clock::now();
    commit_(batch, into);
    if (opts_.onCommit)
      opts_.onCommit(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count(),
          batch.size());
    {
      std::lock_guard lock(mu_);
      committedTotal_ += batch.size();
      folded_ += folded;
      ++transactions_;
      committing_ = {};
    }
    flushedCv_.notify_all();
    GiveWay giveWay(behindOnly);  // freeing a batch's JSON takes a millisecond too
    while (!batch.empty()) {
      batch.pop_back();
      giveWay();
    }
  }
}

bool GiveWay::behindOnly(const std::vector<WriteQueue::Pending>& batch) {
  for (auto& p : batch)
    if (p.w.durability != Durability::kBehind) return false;
  return true;
}

void GiveWay::operator()() {
  if (!on_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - since_ < slice_) return;
  since_ = now;
  // A yield to a request thread costs the writer tens of µs. On a busy
  // machine it costs a whole time slice, and a writer that keeps yielding
  // falls behind (calls then wait for durable commits instead of writing
  // behind: 8% fewer chat calls/s at 32 connections). So each GiveWay
  // gives away at most 1 ms: a batch has two, its commit and its freeing.
  if (given_ > std::chrono::milliseconds(1)) return;
  sched_yield();
  since_ = std::chrono::steady_clock::now();
  given_ += since_ - now;
}

std::vector<size_t> foldWritesBehind(std::vector<WriteQueue::Pending>& batch) {
  std::vector<size_t> into(batch.size());
  std::unordered_map<std::string_view, size_t> head;
  for (size_t i = 0; i < batch.size(); ++i) {
    into[i] = i;
    Write& w = batch[i].w;
    auto it = head.find(w.taskId);
    if (w.durability != Durability::kBehind || batch[i].done) {
      if (it != head.end()) head.erase(it);
      continue;
    }
    if (it == head.end() || w.create) {
      head[w.taskId] = i;
      continue;
    }
    Write& h = batch[it->second].w;
    if (w.update) {
      if (h.create)
        w.update->applyTo(*h.create);
      else if (h.update)
        h.update->mergeFrom(std::move(*w.update));
      else
        h.update = std::move(w.update);
    }
    std::move(w.events.begin(), w.events.end(), std::back_inserter(h.events));
    std::move(w.usage.begin(), w.usage.end(), std::back_inserter(h.usage));
    into[i] = it->second;
  }
  return into;
}

}  // namespace aion::store
