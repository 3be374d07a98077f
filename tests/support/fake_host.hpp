// Host usage a test sets by hand, in place of /proc.
#pragma once

#include <mutex>

#include "host/host.hpp"

namespace warmpool::test {

class FixedHostUsage final : public HostUsageSource {
 public:
  void set(double cpu, double memory) {
    std::lock_guard lock(mu_);
    usage_ = {cpu, memory};
  }
  HostUsage sample() override { return last(); }
  HostUsage last() const override {
    std::lock_guard lock(mu_);
    return usage_;
  }

 private:
  mutable std::mutex mu_;
  HostUsage usage_;
};

}  // namespace warmpool::test
