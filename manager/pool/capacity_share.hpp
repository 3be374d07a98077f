// Several pools share one --max-instances. The rule: every pool's floor
// (min_idle) is reserved for it; a pool grows beyond its floor only into
// capacity that no other pool's unmet floor needs. So one pool's burst may
// take every free place but the ones another pool needs to get back to its
// floor. When the floors together ask for more than is free, each pool may
// still fill its own floor (first come), and none grows beyond it.
//
// Pure functions over plain data, and one small thread-safe table of the
// floors that the pools read when they create.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "records/records.hpp"

namespace warmpool {

struct PoolShare {
  std::string name;
  int floor = 0;  // idle instances it keeps warm (min_idle)
  int live = 0;   // its instances that hold capacity (not deleted)
  int warm = 0;   // of those, idle or starting: what counts towards the floor
};

// How many more instances each pool may create now, by name.
std::map<std::string, int> share_capacity(const std::vector<PoolShare>& pools, int max_instances);

// The shares of the pools named in `floors`, counted from every pool's
// current instances. An instance of a pool not in `floors` holds capacity
// but reserves nothing.
std::vector<PoolShare> pool_shares(const std::vector<Instance>& instances,
                                   const std::map<std::string, int>& floors);

// The floor of each pool that shares the capacity. Thread-safe.
class PoolFloors {
 public:
  void set(const std::string& pool, int floor);
  void erase(const std::string& pool);
  std::map<std::string, int> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> floors_;  // GUARDED_BY(mu_)
};

}  // namespace warmpool
