#include "queue/lanes.hpp"

#include "base/logging.hpp"

namespace warmpool {

const char* to_string(Lane lane) { return lane == Lane::High ? "high" : "normal"; }

Lanes::Lanes(Settings settings, WaitObserver on_wait, const SteadyClock& steady)
    : on_wait_(std::move(on_wait)), steady_(steady) {
  high_.capacity = settings.high_capacity;
  normal_.capacity = settings.normal_capacity;
  for (int i = 0; i < settings.high_threads; ++i) threads_.emplace_back([this] { work(Lane::High); });
  for (int i = 0; i < settings.normal_threads; ++i) threads_.emplace_back([this] { work(Lane::Normal); });
}

Lanes::~Lanes() { stop(); }

bool Lanes::submit(Lane lane, time_point deadline, std::function<void()> run,
                   std::function<void()> expired) {
  std::lock_guard lock(mu_);
  Queue& q = queue(lane);
  if (stopping_ || q.tasks.size() >= q.capacity) {
    ++q.stats.rejected;
    return false;
  }
  q.tasks.push_back(
      Task{deadline, steady_.now(), logging::request_id(), std::move(run), std::move(expired)});
  q.ready.notify_one();
  return true;
}

Lanes::Stats Lanes::stats(Lane lane) const {
  std::lock_guard lock(mu_);
  Stats s = queue(lane).stats;
  s.queued = queue(lane).tasks.size();
  return s;
}

void Lanes::work(Lane lane) {
  Queue& q = queue(lane);
  // At stop the high lane still runs what it holds: a release in flight
  // finishes its reset instead of leaving the instance for the next start.
  const bool drain = lane == Lane::High;
  std::unique_lock lock(mu_);
  for (;;) {
    q.ready.wait(lock, [&] { return stopping_ || !q.tasks.empty(); });
    if (q.tasks.empty()) return;  // stopping and drained
    Task task = std::move(q.tasks.front());
    q.tasks.pop_front();
    const auto now = steady_.now();
    const bool late = (stopping_ && !drain) || now > task.deadline;
    ++q.stats.running;
    lock.unlock();
    if (on_wait_) on_wait_(lane, now - task.queued_at);
    logging::RequestScope scope(std::move(task.request_id));
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
