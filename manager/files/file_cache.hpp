// A cache of files fetched from http(s) URLs into a directory of the data
// volume, for instances to load (the earlier system's start files). One file
// per URL, named from its SHA-256, so a second request for a URL is answered
// from the cache without a fetch.
//
// Bounds: a size cap and a deadline per fetch; http and https only, no
// redirects; and never the manager itself or its workers: the address curl
// connects to is checked before the request is sent (so a name that
// resolves to loopback is caught too), lest the cache become a way in.
//
// Errors: FetchError, whose message says which bound or check refused it
// ("the file is larger than 16777216 bytes", ...).
// Thread-safe: fetches run at once; each writes a temporary file and renames
// it into place, so a reader sees a whole file or none.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace warmpool::files {

class FetchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FetchLimits {
  std::size_t max_bytes = 16u << 20;
  std::chrono::milliseconds timeout{10000};
};

// Where a fetch must not connect: the manager's HTTP port and the workers'
// port range, on a loopback address or on one of `own_hosts` (the listen
// and worker hosts); on any address when `any_host` (a wildcard listen host).
struct Forbidden {
  std::vector<std::string> own_hosts;
  bool any_host = false;
  int manager_port = 0;
  int worker_port_first = 0;
  int worker_port_last = -1;
};

struct CachedFile {
  std::string url;
  std::string filename;  // a name inside the cache directory
};

// Empty when `url` is an http or https URL with a host; else why not.
std::string url_problem(const std::string& url);
// Whether connecting to ip:port would reach the manager or a worker.
bool refused_address(const Forbidden& forbidden, const std::string& ip, long port);
// The cache's file name for `url`: 32 hex digits of its SHA-256, and the
// extension of its path when it is short and plain (".pkt").
std::string cache_name(const std::string& url);

class FileCache {
 public:
  // Creates `dir` when missing. Throws std::filesystem::filesystem_error.
  FileCache(std::filesystem::path dir, FetchLimits limits, Forbidden forbidden);

  // The cached copy of `url`, fetched first when absent. Throws FetchError.
  CachedFile fetch(const std::string& url);
  // Every cached file, by file name.
  std::vector<CachedFile> list() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  void download(const std::string& url, const std::filesystem::path& into);

  std::filesystem::path dir_;
  FetchLimits limits_;
  Forbidden forbidden_;
};

}  // namespace warmpool::files
