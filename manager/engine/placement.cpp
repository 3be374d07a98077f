#include "engine/placement.hpp"

#include <cctype>
#include <charconv>
#include <set>
#include <stdexcept>

namespace warmpool::engine {

const char* to_string(EngineState state) {
  switch (state) {
    case EngineState::Up: return "up";
    case EngineState::Down: return "down";
    case EngineState::Draining: return "draining";
  }
  return "down";
}

const char* to_string(Placement placement) { return placement == Placement::Pack ? "pack" : "spread"; }

std::optional<Placement> placement_from(std::string_view name) {
  if (name == "spread") return Placement::Spread;
  if (name == "pack") return Placement::Pack;
  return std::nullopt;
}

namespace {

bool has_room(const PlacementCandidate& c) {
  return c.state == EngineState::Up && (c.capacity <= 0 || c.instances < c.capacity);
}

double load(const PlacementCandidate& c) { return c.instances / (c.weight > 0 ? c.weight : 1.0); }

[[noreturn]] void refuse(std::string_view text, const std::string& why) {
  throw std::invalid_argument("--engine \"" + std::string(text) + "\": " + why);
}

// Reads one option into spec; cert-dir= goes to cert_dir, merged once all are read.
void read_option(std::string_view text, std::string_view option, EngineSpec& spec, std::string& cert_dir) {
  const auto eq = option.find('=');
  const std::string_view key = option.substr(0, eq);
  const std::string_view value = eq == std::string_view::npos ? std::string_view() : option.substr(eq + 1);
  const char* end = value.data() + value.size();
  if (key == "capacity") {
    auto [p, ec] = std::from_chars(value.data(), end, spec.capacity);
    if (value.empty() || ec != std::errc() || p != end || spec.capacity < 0)
      refuse(text, "capacity must be a whole number >= 0 (0: no limit), not \"" + std::string(value) + "\"");
  } else if (key == "weight") {
    std::size_t used = 0;
    try {
      spec.weight = std::stod(std::string(value), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (value.empty() || used != value.size() || !(spec.weight > 0))
      refuse(text, "weight must be a number above 0, not \"" + std::string(value) + "\"");
  } else if (key == "cert-dir" || key == "ca" || key == "cert" || key == "key") {
    if (value.empty()) refuse(text, std::string(key) + "= needs a path");
    std::string& path = key == "cert-dir" ? cert_dir : key == "ca" ? spec.tls.ca : key == "cert" ? spec.tls.cert : spec.tls.key;
    path = std::string(value);
  } else {
    refuse(text, "unknown option \"" + std::string(key) +
                     "\" (capacity=N, weight=W, cert-dir=DIR, ca=FILE, cert=FILE or key=FILE)");
  }
}

}  // namespace

bool valid_engine_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::optional<std::string> place(const std::vector<PlacementCandidate>& engines, Placement placement) {
  const PlacementCandidate* best = nullptr;
  for (const auto& c : engines) {
    if (!has_room(c)) continue;
    if (placement == Placement::Pack) return c.name;
    if (!best || load(c) < load(*best)) best = &c;
  }
  if (!best) return std::nullopt;
  return best->name;
}

EngineSpec parse_engine_spec(std::string_view text) {
  EngineSpec spec;
  std::string_view rest = text;
  const auto scheme = rest.find("://");
  const auto eq = rest.find('=');
  if (eq != std::string_view::npos && (scheme == std::string_view::npos || eq < scheme)) {
    spec.name = std::string(rest.substr(0, eq));
    if (!valid_engine_name(spec.name))
      refuse(text, "an engine's name is 1 to 63 letters, digits, '-', '_' or '.'");
    rest = rest.substr(eq + 1);
  }
  const auto comma = rest.find(',');
  spec.endpoint = std::string(rest.substr(0, comma));
  if (spec.endpoint.empty()) refuse(text, "the endpoint is missing (NAME=unix:///path or NAME=tcp://host:port)");
  if (comma == std::string_view::npos) return spec;
  std::string cert_dir;
  for (std::string_view options = rest.substr(comma + 1);;) {
    const auto next = options.find(',');
    read_option(text, options.substr(0, next), spec, cert_dir);
    if (next == std::string_view::npos) break;
    options = options.substr(next + 1);
  }
  if (!cert_dir.empty()) {
    const TlsFiles in_dir = TlsFiles::in_directory(cert_dir);
    for (auto [file, from_dir] : {std::pair{&spec.tls.ca, &in_dir.ca}, {&spec.tls.cert, &in_dir.cert},
                                  {&spec.tls.key, &in_dir.key}})
      if (file->empty()) *file = *from_dir;
  }
  return spec;
}

void check_engine_names(const std::vector<EngineSpec>& specs) {
  std::set<std::string> seen;
  for (const auto& s : specs)
    if (!seen.insert(s.name).second)
      throw std::invalid_argument("--engine: two engines are named \"" + s.name + "\"");
}

}  // namespace warmpool::engine
