#include "queue/lanes.hpp"

namespace warmpool {

const char* to_string(Lane lane) { return lane == Lane::High ? "high" : "normal"; }

Lanes::Lanes(Settings settings) {
  high_.capacity = settings.high_capacity;
  normal_.capacity = settings.normal_capacity;
  for (int i = 0; i < settings.high_threads; ++i) threads_.emplace_back([this] { work(high_); });
  for (int i = 0; i < settings.normal_threads; ++i) threads_.emplace_back([this] { work(normal_); });
}

Lanes::~Lanes() { stop(); }

bool Lanes::submit(Lane lane, Clock::time_point deadline, std::function<void()> run,
                   std::function<void()> expired) {
  std::lock_guard lock(mu_);
  Queue& q = queue(lane);
  if (stopping_ || q.tasks.size() >= q.capacity) {
    ++q.stats.rejected;
    return false;
  }
  q.tasks.push_back(Task{deadline, std::move(run), std::move(expired)});
  q.ready.notify_one();
  return true;
}

Lanes::Stats Lanes::stats(Lane lane) const {
  std::lock_guard lock(mu_);
  Stats s = queue(lane).stats;
  s.queued = queue(lane).tasks.size();
  return s;
}

void Lanes::work(Queue& q) {
  std::unique_lock lock(mu_);
  for (;;) {
    q.ready.wait(lock, [&] { return stopping_ || !q.tasks.empty(); });
    if (q.tasks.empty()) return;  // stopping and drained
    Task task = std::move(q.tasks.front());
    q.tasks.pop_front();
    const bool late = stopping_ || Clock::now() > task.deadline;
    ++q.stats.running;
    lock.unlock();
    try {
      if (late) {
        if (task.expired) task.expired();
      } else {
        task.run();
      }
    } catch (...) {
      // Tasks report their own failures; a stray exception must not kill the lane.
    }
    lock.lock();
    --q.stats.running;
    ++(late ? q.stats.expired : q.stats.completed);
  }
}

void Lanes::stop() noexcept {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    high_.ready.notify_all();
    normal_.ready.notify_all();
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

}  // namespace warmpool
