// The hot path: POST /allocations -> high lane -> claim -> prepare (unpause,
// reset, init, ping) -> commit.
#include <sys/random.h>

#include <atomic>
#include <future>

#include <spdlog/spdlog.h>

#include "base/sha256.hpp"
#include "base/text.hpp"
#include "metrics/metrics.hpp"
#include "pool/pool.hpp"

namespace warmpool {

namespace {

using engine::EngineError;

// `bits` random bits from the kernel, as hex: unguessable ids and tokens.
template <std::size_t bits>
std::string random_hex() {
  unsigned char bytes[bits / 8];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  return to_hex(bytes, sizeof bytes);
}

std::string sha256_hex(const std::string& text) {
  jobs::Sha256 digest;
  digest.update(text.data(), text.size());
  return digest.hex();
}

// What the record keeps of the session: digests and metadata only.
AllocationSession session_record(const SessionInit* init, const std::string& token) {
  AllocationSession s;
  if (init) {
    s.init_bytes = init->bytes;
    s.init_sha256 = init->sha256;
    s.metadata = init->metadata;
  }
  if (!token.empty()) s.token_sha256 = sha256_hex(token);
  return s;
}

}  // namespace

Allocation Pool::allocate(const AllocateRequest& request) {
  if (request.init && !settings().protocol.speaks_worker())
    throw std::invalid_argument("this pool's image does not speak the worker protocol: it takes no init");
  check_quota(request.client);
  const auto started = steady_.now();
  demand_.arrive(clock_.now_ms());
  bool waited = false;
  bool looking = false;  // counted in looking_: see wait_for_idle
  struct StopLooking {
    Pool& pool;
    bool& looking;
    ~StopLooking() {
      if (!looking) return;
      std::lock_guard lock(pool.mu_);
      --pool.looking_;
    }
  } stop_looking{*this, looking};
  for (;;) {
    HandOut attempt = hand_out_on_high_lane(request);
    if (attempt.allocation) {
      observe_hand_out(attempt.was, waited, started);
      // An idle one is gone, and demand has moved: the refill plans from
      // here. Asked only now, it lists the records once per hand-out, after
      // the commit, and not beside the hand-out's own listing. (A hand-out
      // that waits has asked for its instance already.)
      if (on_arrival) on_arrival();
      return *attempt.allocation;
    }
    waited = true;
    // Nothing idle. Without an engine no instance can come: say so now.
    if (auto down = engine_down())
      throw AllocateError(AllocateError::Kind::EngineDown,
                          "no idle instance, and the container engine is unreachable: " + *down);
    wait_for_idle(request, attempt.idle_generation, looking);
  }
}

// Makes sure instances are coming, then waits until one may have become idle
// (returns) or the deadline passes (throws AllocateError Timeout).
void Pool::wait_for_idle(const AllocateRequest& request, std::uint64_t seen_generation, bool& looking) {
  std::unique_lock lock(mu_);
  if (looking) --looking_;
  looking = false;
  ++waiting_;
  // From here on, an event that may free an instance wakes one waiter (not
  // all: then every freed instance was fought over by every waiter on the
  // high lane, 26 hand-out attempts per request with 200 clients on a pool
  // of 8). An event that came after this request looked but before it
  // counted as waiting woke nobody for it: then it looks again at once.
  bool changed = idle_generation_ != seen_generation;
  lock.unlock();
  try {
    request_instances_for_waiters();
  } catch (...) {
    // Counted for good, it would hold pi jobs back for good.
    lock.lock();
    --waiting_;
    wakeups_ = std::min(wakeups_, waiting_);
    throw;
  }
  lock.lock();
  bool poll_due = false;
  if (!changed) {
    auto until = request.deadline;
    if (settings().shared_store_poll.count() > 0)
      until = std::min(until, std::chrono::steady_clock::now() + settings().shared_store_poll);
    changed = idle_changed_.wait_until(lock, until, [&] { return wakeups_ > 0; });
    if (changed) --wakeups_;
    else poll_due = until < request.deadline;
  }
  --waiting_;
  wakeups_ = std::min(wakeups_, waiting_);  // none kept for waiters that have gone
  if (changed || poll_due) {
    // Between this wake-up and its claim, the request still waits: a pi job
    // that saw no waiter here could take the instance it was woken for.
    ++looking_;
    looking = true;
    return;
  }
  lock.unlock();
  std::string why = "no instance became available before the deadline";
  if (auto refusal = creation_refusal(store_.instances(Show::Current)))
    why += " (" + *refusal + ")";
  throw AllocateError(AllocateError::Kind::Timeout, why);
}

// The caller and its hand-out task agree on who decides the outcome: the
// caller may give up at its deadline only while the task has not begun to
// commit, and the task commits only if the caller has not given up.
struct Pool::HandOutCall {
  enum Stage { Running, Committing, Abandoned };
  std::promise<HandOut> result;
  std::atomic<int> stage{Running};
};

Pool::HandOut Pool::hand_out_on_high_lane(const AllocateRequest& request) {
  auto call = std::make_shared<HandOutCall>();
  auto future = call->result.get_future();
  const bool queued = lanes_.submit(
      Lane::High, request.deadline,
      [this, request, call] {
        try {
          call->result.set_value(try_hand_out(request, *call));
        } catch (...) {
          call->result.set_exception(std::current_exception());
        }
      },
      [call] {
        call->result.set_exception(std::make_exception_ptr(AllocateError(
            AllocateError::Kind::Timeout, "the request waited in the queue past its deadline")));
      });
  if (!queued) throw AllocateError(AllocateError::Kind::QueueFull, "the allocation queue is full");
  // An engine or worker call may outlast the request's deadline (a hung
  // engine answers nothing for its whole timeout): answer by the deadline and
  // leave the task to put its instance back.
  if (future.wait_until(request.deadline) == std::future_status::timeout) {
    int running = HandOutCall::Running;
    if (call->stage.compare_exchange_strong(running, HandOutCall::Abandoned)) {
      if (auto down = engine_down())
        throw AllocateError(AllocateError::Kind::EngineDown,
                            "the container engine is unreachable: " + *down);
      throw AllocateError(AllocateError::Kind::Timeout,
                          "the hand-out's health check did not finish before the deadline");
    }
    // It is committing: a database write away.
  }
  return future.get();
}

// On the high lane: idle instances, best first, until one passes its checks
// and is committed, or none is left idle.
Pool::HandOut Pool::try_hand_out(const AllocateRequest& request, HandOutCall& call) {
  // One token per request: an instance that failed with it went to recovery,
  // which wipes it; one put back idle is reset before its next hand-out.
  const std::string token =
      request.token && settings().protocol.speaks_worker() ? random_hex<256>() : std::string();
  const auto session_token = token.empty() ? std::nullopt : std::optional<std::string>(token);
  const std::string init_body = (request.init ? *request.init : SessionInit{}).worker_body(session_token);
  for (;;) {
    if (call.stage == HandOutCall::Abandoned)  // the caller has gone: try no more instances
      throw AllocateError(AllocateError::Kind::Timeout, "abandoned at the request's deadline");
    Claimed claimed = claim_idle();
    if (!claimed.instance) return HandOut{std::nullopt, claimed.idle_generation};
    const Instance& instance = *claimed.instance;
    struct Handed {  // handed out, or failed and gone to recovery: out of handing_out_ either way
      Pool& pool;
      std::int64_t id;
      ~Handed() {
        std::lock_guard lock(pool.mu_);
        pool.handing_out_.erase(id);
      }
    } handed{*this, instance.id};
    if (test_on_claim) test_on_claim(instance.id);
    if (!prepare(instance, init_body)) continue;  // it failed its checks and went to recovery
    if (auto allocation = commit(request, call, instance, token))
      return HandOut{std::move(allocation), 0, instance.state};
  }
}

// Claims the best idle instance and reads its record under the claim.
// Another manager on the same database may hold the best one: then the next.
// It may also have handed it out between the listing and the hold: the
// record read under the hold says so, and that one is skipped too.
Pool::Claimed Pool::claim_idle() {
  std::set<std::int64_t> taken_elsewhere;
  // Read once, before the first listing: whatever became idle since makes the
  // caller look again, also one skipped below as taken that is idle again by
  // a later listing.
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    generation = idle_generation_;
  }
  for (;;) {
    std::optional<std::int64_t> id;
    {
      // Listed outside the lock (the read under the hold catches a stale
      // listing).
      auto current = own_instances();
      std::lock_guard lock(mu_);
      std::set<std::int64_t> skip = claimed_;
      skip.insert(taken_elsewhere.begin(), taken_elsewhere.end());
      for (const auto& i : current)  // its engine is down, or it is being replaced
        if (is_idle(i.state) && (on_down_engine(i) || outdated(i))) skip.insert(i.id);
      id = pick_idle(current, skip);
      if (id) {
        claimed_.insert(*id);
        handing_out_.insert(*id);
      }
    }
    if (!id) return {std::nullopt, generation};
    taken_elsewhere.insert(*id);
    std::optional<Instance> instance;
    try {
      instance = store_.hold_instance(*id);
    } catch (...) {
      not_handing_out(*id);
      unclaim(*id);
      throw;
    }
    if (!instance) {  // held elsewhere
      std::lock_guard lock(mu_);
      claimed_.erase(*id);
      handing_out_.erase(*id);
      continue;
    }
    if (is_idle(instance->state)) return {std::move(instance), generation};
    not_handing_out(*id);
    unclaim(*id);
  }
}

void Pool::not_handing_out(std::int64_t id) {
  std::lock_guard lock(mu_);
  handing_out_.erase(id);
}

// Unpause (if paused), reset, init and ping, each with a deadline. True when
// the instance may be committed; false when it failed and went to recovery.
// Throws AllocateError when the engine, not the instance, is at fault, or
// when the worker refused the payload itself.
// REQUIRES: the claim on instance.id; kept on true, passed on otherwise.
bool Pool::prepare(const Instance& instance, const std::string& init_body) {
  const std::int64_t id = instance.id;
  if (instance.state == InstanceState::Paused) refuse_if_engine_hung(id);
  try {
    for (const HandOutStep step : hand_out_steps(settings().protocol, instance.state))
      run_step(step, instance, init_body);
    return true;
  } catch (const InitRefusedByWorker& e) {
    refuse_init(instance, e);
  } catch (const EngineError& e) {
    if (e.kind() == EngineError::Kind::Unreachable && on_down_engine(instance)) {
      unclaim(id);  // its engine went down (several engines): the next idle one, elsewhere
      return false;
    }
    if (e.kind() == EngineError::Kind::Unreachable) {
      note_if_unreachable(e);
      unclaim(id);
      throw AllocateError(AllocateError::Kind::EngineDown,
                          std::string("the container engine is unreachable: ") + e.what());
    }
    if (e.kind() == EngineError::Kind::Timeout) {
      judge_timeout(id, std::string("hand-out: ") + e.what());
      throw AllocateError(AllocateError::Kind::EngineDown,
                          std::string("the container engine did not answer in time: ") + e.what());
    }
    fail(id, std::string("hand-out: ") + e.what());
  } catch (const WorkerError& e) {
    fail(id, std::string("hand-out: ") + e.what());
  }
  return false;
}

void Pool::run_step(HandOutStep step, const Instance& instance, const std::string& init_body) {
  switch (step) {
    case HandOutStep::Unpause: return unpause_for_hand_out(instance);
    case HandOutStep::WorkerReset: return worker_.reset(instance.endpoint(), settings().reset_timeout);
    case HandOutStep::WorkerInit: return worker_.init(instance.endpoint(), init_body, settings().init_timeout);
    case HandOutStep::HealthCheck: return check_health(instance);
  }
}

void Pool::check_health(const Instance& instance) {
  const auto deadline = settings().ping_timeout;
  switch (settings().protocol.health) {
    case HealthCheck::Worker: return worker_.ping(instance.endpoint(), deadline);
    case HealthCheck::Http: return worker_.probe_http(instance.endpoint(), settings().protocol.health_path, deadline);
    case HealthCheck::Tcp: return worker_.probe_tcp(instance.endpoint(), deadline);
  }
}

// The worker refused the payload itself: the request is at fault, and every
// other instance would refuse it too. Wipe what it may have written and put
// it back; answer the client.
// REQUIRES: the claim on instance.id; released (or passed to recovery) here.
void Pool::refuse_init(const Instance& instance, const InitRefusedByWorker& e) {
  try {
    worker_.reset(instance.endpoint(), settings().reset_timeout);
  } catch (const WorkerError& reset_error) {
    fail(instance.id, std::string("hand-out: reset after a refused init: ") + reset_error.what());
    throw AllocateError(AllocateError::Kind::InitRefused, e.what());
  }
  put_back(instance);
  throw AllocateError(AllocateError::Kind::InitRefused, e.what());
}

// Unpausing needs the engine. One that refuses connections fails the call at
// once (and is back as soon as it answers); one that hangs would hold this
// thread for its whole timeout: do not ask it.
// REQUIRES: the claim on id; released when this throws.
void Pool::refuse_if_engine_hung(std::int64_t id) {
  std::unique_lock lock(mu_);
  if (!engine_hung_) return;
  const std::string why = engine_error_;
  lock.unlock();
  unclaim(id);
  throw AllocateError(AllocateError::Kind::EngineDown,
                      "every idle instance is paused, and the container engine does not answer: " + why);
}

void Pool::unpause_for_hand_out(const Instance& instance) {
  try {
    pauser_.unpause(instance.container_id);
  } catch (const EngineError& e) {
    // Not paused after all (an unpause whose answer was lost, someone
    // else's)? Then the reset and ping decide whether it serves. (Docker
    // 20.10 says so with a 500, newer engines with a 409.)
    if (e.kind() == EngineError::Kind::Unreachable || e.kind() == EngineError::Kind::Timeout ||
        pauser_.inspect(instance.container_id).status != engine::ContainerStatus::Running)
      throw;
  }
}

// Records the allocation, unless the caller has given up (the instance then
// goes back to the idle pool, running). nullopt when someone else moved the
// instance meanwhile: try the next one.
// REQUIRES: the claim on instance.id; released in every case.
std::optional<Allocation> Pool::commit(const AllocateRequest& request, HandOutCall& call,
                                       const Instance& instance, const std::string& token) {
  const std::int64_t id = instance.id;
  int running = HandOutCall::Running;
  if (steady_.now() > request.deadline ||
      !call.stage.compare_exchange_strong(running, HandOutCall::Committing)) {
    put_back(instance);  // the caller has given up; keep it for the next one
    throw AllocateError(AllocateError::Kind::Timeout,
                        "the health check finished after the request's deadline");
  }
  const std::int64_t now = clock_.now_ms();
  std::int64_t lease = request.lease_ms > 0 ? request.lease_ms : settings().default_lease_ms;
  lease = std::min(lease, settings().max_lease_ms);
  try {
    Allocation allocation = store_.allocate(id, random_hex<128>(), request.client, now, now + lease,
                                            session_record(request.init.get(), token), quotas());
    allocation.token = token;
    {
      std::lock_guard lock(mu_);
      claimed_.erase(id);  // allocated, not idle: no waiter to wake
    }
    let_go_in_store(id);
    return allocation;
  } catch (const OverQuota& e) {
    put_back(instance);  // a racing request of the same client took the last place
    if (metrics_) metrics_->count_quota_refusal(settings().name);
    throw AllocateError(request.client, settings().name, e.scope(), e.quota(), e.current());
  } catch (const StaleState&) {
    unclaim(id);  // moved by someone else meanwhile; try the next one
    if (steady_.now() > request.deadline)  // the caller is waiting on this commit
      throw AllocateError(AllocateError::Kind::Timeout, "no instance could be committed before the deadline");
    call.stage = HandOutCall::Running;
    return std::nullopt;
  } catch (...) {
    put_back(instance);  // the database refused the commit
    throw;
  }
}

// An engine call timed out on a claimed instance: either the engine hangs (no
// fault of the instance) or this container is stuck. Off the hot path, ask
// the engine something simple: if it answers, the instance is at fault.
// REQUIRES: the caller holds the claim on id; it passes to the judgement.
void Pool::judge_timeout(std::int64_t id, const std::string& error) {
  post_or_unclaim(id, [this, id, error] {
    if (engine_answers("")) fail(id, error);
    else unclaim(id);  // noted down; the scheduler's checks take it from here
  });
}

// A hand-out abandoned after its checks: the instance is healthy and running
// now. Record that; if the database refuses, pause it again, so that the
// container still matches its record and nothing needs recovering later.
// REQUIRES: the caller holds the claim on instance.id; this releases it.
void Pool::put_back(const Instance& instance) {
  if (instance.state == InstanceState::Paused) {
    try {
      store_.transition(instance.id, InstanceState::Ready, clock_.now_ms());
    } catch (const StoreError& e) {
      spdlog::warn("instance {}: cannot record it running ({}); pausing it again", instance.id, e.what());
      try {
        pauser_.pause(instance.container_id);
      } catch (const std::exception& pause_error) {
        spdlog::warn("instance {}: {}", instance.id, pause_error.what());  // the scheduler's check finds it
      }
    }
  }
  unclaim(instance.id);
  notify_idle();
}

void Pool::observe_hand_out(InstanceState was, bool waited, SteadyClock::time_point started) {
  if (!metrics_) return;
  const HandOutPath path = waited                          ? HandOutPath::Cold
                           : was == InstanceState::Paused ? HandOutPath::Paused
                                                          : HandOutPath::Running;
  metrics_->observe_hand_out(settings().name, path, std::chrono::duration<double>(steady_.now() - started).count());
}

}  // namespace warmpool
