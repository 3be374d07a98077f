// Several engines behind one pool: each engine's state, and where a new
// container goes. Pure decisions over plain data, no I/O; EngineSet
// (engine_set.hpp) observes the engines and applies them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/endpoint.hpp"

namespace warmpool::engine {

// up: answers, takes new containers. down: its last call or check failed
// (unreachable or timed out); its containers are neither handed out nor
// judged lost. draining: answers, but takes no new containers.
enum class EngineState { Up, Down, Draining };
const char* to_string(EngineState state);

// spread: the least loaded engine (instances / weight), ties to the one
// given first. pack: the first engine given that has room.
enum class Placement { Spread, Pack };
const char* to_string(Placement placement);
std::optional<Placement> placement_from(std::string_view name);

struct PlacementCandidate {
  std::string name;
  EngineState state = EngineState::Up;
  double weight = 1;  // > 0; spread gives an engine of weight 2 twice the instances of one of weight 1
  int capacity = 0;   // most containers on it; 0: no limit
  int instances = 0;  // containers on it now
};

// The engine a new container goes to: among the up engines with room
// (instances < capacity, or no capacity), by `placement`. nullopt when none
// may take it.
std::optional<std::string> place(const std::vector<PlacementCandidate>& engines, Placement placement);

// One --engine flag: NAME=ENDPOINT[,capacity=N][,weight=W][,cert-dir=DIR]
// [,ca=FILE][,cert=FILE][,key=FILE], or a bare ENDPOINT for the engine named
// "default".
struct EngineSpec {
  std::string name = "default";
  std::string endpoint;
  int capacity = 0;
  double weight = 1;
  // This engine's own TLS files (cert-dir= gives Docker's layout, ca=,
  // cert= and key= each win over it). Empty: the --engine-ca/-cert/-key
  // and --engine-cert-dir flags serve it.
  TlsFiles tls;
};

// An engine's name: 1 to 63 letters, digits, '-', '_' or '.'.
bool valid_engine_name(std::string_view name);

// Parses one --engine value. The endpoint itself is checked by
// parse_engine_endpoint, and whether the TLS files can be read by
// tls_file_problem. Throws std::invalid_argument naming the value and what
// is wrong: an empty or malformed name, an unknown option, a capacity that
// is not a whole number >= 0, a weight that is not a number > 0, an empty
// path.
EngineSpec parse_engine_spec(std::string_view text);

// Refuses (std::invalid_argument) two engines of one name.
void check_engine_names(const std::vector<EngineSpec>& specs);

}  // namespace warmpool::engine
