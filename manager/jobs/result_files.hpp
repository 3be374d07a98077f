// Result files: the digits of finished pi jobs, one file per distinct result
// in the results directory, named by its SHA-256 ("<hex>.txt"), so that jobs
// with the same digits share a file and a name never changes content.
//
// A file is written atomically (crun's status.c): a temp file in the same
// directory, fsync, rename into place, fsync of the directory. A manager
// killed at any point leaves either the whole file or no file (and at worst
// a stray ".tmp-" file, removed by remove_temp_files()).
//
// Errors: ResultFileError ("write /data/results/.tmp-123: No space left on device").
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "base/sha256.hpp"
#include "store/store.hpp"

namespace warmpool::jobs {

class ResultFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Streams one result into the results directory. Not thread-safe; one per result.
class ResultWriter {
 public:
  // Creates the directory if needed and opens a temp file in it.
  explicit ResultWriter(std::filesystem::path dir);
  ~ResultWriter();  // removes the temp file unless committed
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  void write(const char* data, std::size_t size);
  std::int64_t bytes() const { return bytes_; }
  // Flushes, fsyncs and renames the file to "<sha256>.txt" (an existing file
  // of that name has the same bytes and is kept). Call once.
  ResultFile commit();

 private:
  std::filesystem::path dir_;
  std::filesystem::path temp_;
  int fd_ = -1;
  Sha256 hash_;
  std::int64_t bytes_ = 0;
  bool committed_ = false;
};

// Checks, chunk by chunk, that a result is "3." followed by exactly
// `digits` decimal digits.
class DigitsCheck {
 public:
  explicit DigitsCheck(std::int64_t digits) : digits_(digits) {}
  // False (and problem() says why) as soon as the bytes cannot be such a result.
  bool feed(const char* data, std::size_t size);
  // True when everything fed is a whole, valid result.
  bool complete();
  const std::string& problem() const { return problem_; }

 private:
  std::int64_t digits_;
  std::int64_t seen_ = 0;
  std::string problem_;
};

// Where `file` lives in `dir`.
std::filesystem::path path_of(const std::filesystem::path& dir, const ResultFile& file);

// The result of `digits` digits cut from `source` (a result with at least
// that many): the same file when the counts match, else a new file.
ResultFile write_prefix(const std::filesystem::path& dir, const ResultFile& source,
                        std::int64_t digits);

// Removes temp files that a killed manager left behind.
void remove_temp_files(const std::filesystem::path& dir);

// The RFC 9530 Repr-Digest header value of a hex SHA-256: "sha-256=:<base64>:".
std::string repr_digest(const std::string& sha256_hex);

}  // namespace warmpool::jobs
