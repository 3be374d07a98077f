#include "base/logging.hpp"

#include <ctime>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include "base/text.hpp"

namespace warmpool::logging {

namespace {

thread_local std::string t_request_id;

// "2026-12-01T18:58:07.123Z"
std::string utc_time(spdlog::log_clock::time_point t) {
  using namespace std::chrono;
  return iso8601(duration_cast<milliseconds>(t.time_since_epoch()).count());
}

std::string_view level_name(spdlog::level::level_enum level) {
  const auto& name = spdlog::level::to_string_view(level);
  return {name.data(), name.size()};
}

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(Format format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    std::string line;
    if (format_ == Format::Json) {
      nlohmann::json j = {{"time", utc_time(msg.time)},
                          {"level", level_name(msg.level)},
                          {"thread", msg.thread_id},
                          {"msg", text}};
      if (!t_request_id.empty()) j["request_id"] = t_request_id;
      // Messages may quote engine or client bytes: never let them break the line.
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = utc_time(msg.time) + " " + std::string(level_name(msg.level));
      if (!t_request_id.empty()) line += " [" + t_request_id + "]";
      line += " ";
      // One message, one line: control bytes (a decoded path's newline, say) are shown, not obeyed.
      for (char c : text) line += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    }
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  Format format_;
};

}  // namespace

Format format_from(std::string_view name) {
  if (name == "json") return Format::Json;
  if (name == "text") return Format::Text;
  throw std::invalid_argument("log format must be json or text, not \"" + std::string(name) + "\"");
}

std::unique_ptr<spdlog::formatter> make_formatter(Format format) {
  return std::make_unique<LineFormatter>(format);
}

void setup(Format format, const std::string& level) {
  spdlog::set_formatter(make_formatter(format));
  spdlog::set_level(spdlog::level::from_str(level));
}

const std::string& request_id() { return t_request_id; }

void set_request_id(std::string id) { t_request_id = std::move(id); }

RequestScope::RequestScope(std::string id) : previous_(std::exchange(t_request_id, std::move(id))) {}

RequestScope::~RequestScope() { t_request_id = std::move(previous_); }

std::string new_request_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uint64_t bits = random();
  std::string id(16, '0');
  for (char& c : id) {
    c = hex_digit(static_cast<unsigned>(bits));
    bits >>= 4;
  }
  return id;
}

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace warmpool::logging
