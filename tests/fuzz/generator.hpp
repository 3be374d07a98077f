// The fuzz test's requests: seeded (std::mt19937_64, one draw per choice,
// no std distributions, so a seed gives the same requests everywhere), built
// from the routes the server registers and the spec's schemas, so that a new
// route or field is fuzzed without a change here.
//
// Each request knows what the contract lets the server answer: `Reject` when
// it is bad input by the spec (malformed or oversized body, a value the
// schema refuses, an id no record has, a path or method no route serves, no
// valid token where one is needed, broken HTTP framing), else `Any`.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz/spec.hpp"

namespace warmpool::fuzz {

// A route the server serves, with what the spec says of it.
struct Route {
  std::string method;         // GET, POST, ...
  std::string pattern;        // the regex given to Server::route
  std::string path_template;  // "/allocations/{}"
  const nlohmann::json* operation = nullptr;
  std::vector<nlohmann::json> path_params;   // in path order
  std::vector<nlohmann::json> query_params;
  const nlohmann::json* body_schema = nullptr;  // null: no JSON request body
  bool body_required = false;
  std::vector<std::string> security;  // scheme names; empty: open

  std::string name() const { return method + " " + pattern; }
  // Whether `path` is one this route serves, and its parameters. Not with
  // std::regex: libstdc++ matches by recursion, one frame per character,
  // and a fuzzed path of 9 KB overflows a thread's stack under ASan.
  bool matches(const std::string& path, std::vector<std::string>& params) const;

  struct Piece {
    enum Kind { Literal, Segment, Digits } kind;
    std::string text;  // Literal
  };
  std::vector<Piece> pieces;  // the pattern, as route_to_template reads it
};

// Throws std::runtime_error for a route the spec does not describe.
std::vector<Route> describe_routes(const std::vector<std::pair<std::string, std::string>>& served,
                                   const Spec& spec);

// Ids of records that exist, for paths that name one.
struct Known {
  std::vector<std::string> allocation_ids;
  std::vector<std::string> current_allocation_ids;  // not ended: renew and release succeed
  std::vector<std::int64_t> instance_ids;
  std::vector<std::int64_t> live_instance_ids;  // not deleted
  std::vector<std::int64_t> job_ids;
  std::vector<std::string> docs_files;
};
struct Snapshot;
Known known_from(const Snapshot& snapshot, const std::vector<std::string>& docs_files);

enum class Auth { None, Api, Admin, Junk };
enum class Expect { Any, Reject };

struct Request {
  int server = 0;  // 0: no tokens configured; 1: --api-token and --admin-token set
  bool raw = false;
  std::string method;
  std::string target;  // path and query as sent
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Auth auth = Auth::None;
  std::string bytes;        // raw: everything sent
  bool half_close = false;  // raw: the write side is closed after sending
  bool incomplete = false;  // raw: the bytes are not a whole request (no answer is fine)
  bool has_range = false;
  std::vector<std::string> route_security;  // of the route it was made for

  // What the server should make of it.
  int route = -1;           // index into the routes, -1: no route serves it
  bool head = false;        // HEAD on a GET route: a GET without the body
  Expect expect = Expect::Any;
  std::vector<std::string> reject_reasons;
  std::vector<std::string> notes;  // how it was made

  std::string describe(std::size_t body_limit = 600) const;
};

// Percent-decoding as cpp-httplib decodes a path (%XX only; '+' stays).
std::string decode_path(const std::string& path);

class Generator {
 public:
  Generator(const std::vector<Route>& routes, const Spec& spec, std::size_t max_body_bytes,
            std::uint64_t seed);

  // A new request. The two servers' ports only fill the Host header of raw requests.
  Request next(const Known& known, const std::array<int, 2>& ports);

 private:
  std::uint64_t draw() { return rng_(); }
  std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(draw() % n) : 0; }
  bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }
  // An oddity, never in a clean request.
  bool odd(int percent) { return !clean_ && chance(percent); }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

  std::string path_value(const nlohmann::json& param, const Known& known, Request& r);
  std::string bad_id(const Known& known);
  std::string path_trick(const std::string& path, Request& r);
  std::string query(const Route& route, Request& r);
  std::string valid_value(const nlohmann::json& schema, int depth = 0);
  std::string body_for(const Route& route, Request& r);
  std::string mutate(const std::string& valid, const nlohmann::json& schema, Request& r);
  void add_auth(Request& r);
  void make_raw(Request& r, int port);
  void judge(Request& r, const Known& known);

  const std::vector<Route>& routes_;
  const Spec& spec_;
  const std::size_t max_body_;
  std::mt19937_64 rng_;
  // This request is well-formed throughout: a known record, a valid body,
  // the route's token. Some are, so that every route's success path is
  // reached within a short budget, not only by luck.
  bool clean_ = false;
};

}  // namespace warmpool::fuzz
