#include "worker/scratch.hpp"

#include <system_error>
#include <vector>

namespace warmpool::worker {

std::string wipe_scratch(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    entries.push_back(it->path());
  }
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return {};
    return "wipe " + dir.string() + ": " + ec.message();
  }
  std::string first_error;
  for (const fs::path& entry : entries) {
    std::error_code remove_ec;
    fs::remove_all(entry, remove_ec);
    if (remove_ec && remove_ec != std::errc::no_such_file_or_directory && first_error.empty()) {
      first_error = "wipe " + entry.string() + ": " + remove_ec.message();
    }
  }
  return first_error;
}

}  // namespace warmpool::worker
