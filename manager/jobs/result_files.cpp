#include "jobs/result_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace warmpool::jobs {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTempPrefix = ".tmp-";

// "what path: strerror(errno)"
ResultFileError os_error(const char* what, const fs::path& path) {
  return ResultFileError(std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw os_error("open directory", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw os_error("fsync directory", dir);
}

}  // namespace

ResultWriter::ResultWriter(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw ResultFileError("create directory " + dir_.string() + ": " + ec.message());
  std::string name = (dir_ / (std::string(kTempPrefix) + "XXXXXX")).string();
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) throw os_error("create a temp file in", dir_);
  temp_ = name;
}

ResultWriter::~ResultWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void ResultWriter::write(const char* data, std::size_t size) {
  hash_.update(data, size);
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw os_error("write", temp_);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
    bytes_ += n;
  }
}

ResultFile ResultWriter::commit() {
  if (::fsync(fd_) != 0) throw os_error("fsync", temp_);
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw os_error("close", temp_);
  ResultFile file{hash_.hex() + ".txt", "", bytes_};
  file.sha256 = file.name.substr(0, file.name.size() - 4);
  const fs::path target = dir_ / file.name;
  // Same name, same bytes: an existing file is this result already.
  if (::rename(temp_.c_str(), target.c_str()) != 0) throw os_error("rename into place", target);
  committed_ = true;
  fsync_dir(dir_);
  return file;
}

bool DigitsCheck::feed(const char* data, std::size_t size) {
  if (!problem_.empty()) return false;
  for (std::size_t i = 0; i < size; ++i, ++seen_) {
    const char c = data[i];
    const bool ok = seen_ == 0   ? c == '3'
                    : seen_ == 1 ? c == '.'
                    : seen_ < digits_ + 2 ? (c >= '0' && c <= '9')
                                          : false;
    if (!ok) {
      problem_ = seen_ >= digits_ + 2
                     ? "more than " + std::to_string(digits_) + " digits"
                     : "unexpected byte " + std::to_string(static_cast<unsigned char>(c)) +
                           " at offset " + std::to_string(seen_);
      return false;
    }
  }
  return true;
}

bool DigitsCheck::complete() {
  if (!problem_.empty()) return false;
  if (seen_ != digits_ + 2) {
    problem_ = "got " + std::to_string(seen_) + " bytes, expected " + std::to_string(digits_ + 2);
    return false;
  }
  return true;
}

fs::path path_of(const fs::path& dir, const ResultFile& file) { return dir / file.name; }

ResultFile write_prefix(const fs::path& dir, const ResultFile& source, std::int64_t digits) {
  const fs::path from = path_of(dir, source);
  std::error_code ec;
  const auto size = fs::file_size(from, ec);
  if (ec) throw ResultFileError("read " + from.string() + ": " + ec.message());
  const auto wanted = static_cast<std::uintmax_t>(digits) + 2;
  if (size != static_cast<std::uintmax_t>(source.bytes) || size < wanted)
    throw ResultFileError("read " + from.string() + ": " + std::to_string(size) +
                          " bytes, expected " + std::to_string(source.bytes) + " (at least " +
                          std::to_string(wanted) + ")");
  if (size == wanted) return source;

  std::ifstream in(from, std::ios::binary);
  if (!in) throw os_error("open", from);
  ResultWriter out(dir);
  DigitsCheck check(digits);
  std::vector<char> buffer(1 << 20);
  std::uintmax_t left = wanted;
  while (left > 0) {
    const auto n = static_cast<std::streamsize>(std::min<std::uintmax_t>(left, buffer.size()));
    if (!in.read(buffer.data(), n)) throw ResultFileError("read " + from.string() + ": short read");
    if (!check.feed(buffer.data(), static_cast<std::size_t>(n)))
      throw ResultFileError("read " + from.string() + ": not a result: " + check.problem());
    out.write(buffer.data(), static_cast<std::size_t>(n));
    left -= static_cast<std::uintmax_t>(n);
  }
  if (!check.complete()) throw ResultFileError("read " + from.string() + ": " + check.problem());
  return out.commit();
}

void remove_temp_files(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind(kTempPrefix, 0) == 0) fs::remove(entry.path(), ec);
  }
}

std::string repr_digest(const std::string& sha256_hex) {
  return "sha-256=:" + hex_to_base64(sha256_hex) + ":";
}

}  // namespace warmpool::jobs
