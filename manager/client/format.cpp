#include "client/format.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "base/text.hpp"

namespace warmpool::client {

using nlohmann::json;

std::optional<Output> output_from(const std::string& name) {
  if (name.empty() || name == "table") return Output::Table;
  if (name == "wide") return Output::Wide;
  if (name == "json") return Output::Json;
  if (name == "yaml") return Output::Yaml;
  return std::nullopt;
}

std::string render_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(headers.size());
  for (std::size_t c = 0; c < headers.size(); ++c) width[c] = headers[c].size();
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      text += cell;
      if (c + 1 < width.size()) text += std::string(width[c] - cell.size() + 3, ' ');
    }
    text.erase(text.find_last_not_of(' ') + 1);
    out += text + "\n";
  };
  line(headers);
  for (const auto& row : rows) line(row);
  return out;
}

std::string age(std::int64_t now_ms, std::optional<std::int64_t> then_ms) {
  if (!then_ms) return "-";
  const std::int64_t s = std::max<std::int64_t>(0, (now_ms - *then_ms) / 1000);
  if (s < 120) return std::to_string(s) + "s";
  if (s < 120 * 60) return std::to_string(s / 60) + "m";
  if (s < 48 * 3600) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string shorten(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text;
  if (width <= 3) return text.substr(0, width);
  return text.substr(0, width - 3) + "...";
}

namespace {

// A string YAML would take for something else (a number, a bool, null, a
// key, a comment) is quoted, as JSON (a subset of YAML's double quotes).
bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* kWords[] = {"true", "false", "null", "yes", "no", "on", "off", "~"};
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* w : kWords)
    if (lower == w) return true;
  if (s.find_first_of(":#{}[],&*!|>'\"%@`\n\t") != std::string::npos) return true;
  if (s.front() == ' ' || s.back() == ' ' || s.front() == '-' || s.front() == '?') return true;
  return s.find_first_not_of("0123456789.+-eE") == std::string::npos;  // reads as a number
}

std::string scalar(const json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return needs_quotes(s) ? v.dump() : s;
  }
  return v.dump();  // numbers, booleans, null
}

void emit(const json& v, int indent, std::string& out);

void emit_entry(const std::string& lead, const json& v, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_structured() && !v.empty()) {
    out += pad + lead + "\n";
    emit(v, indent + 2, out);
  } else {
    out += pad + lead + " " + (v.is_object() ? "{}" : v.is_array() ? "[]" : scalar(v)) + "\n";
  }
}

void emit(const json& v, int indent, std::string& out) {
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) emit_entry(scalar(json(key)) + ":", value, indent, out);
  } else if (v.is_array()) {
    for (const auto& item : v) {
      if (item.is_object() && !item.empty()) {
        // "- " then the first key on the same line, the rest under it.
        std::string nested;
        emit(item, indent + 2, nested);
        nested.replace(static_cast<std::size_t>(indent), 2, "- ");
        out += nested;
      } else {
        emit_entry("-", item, indent, out);
      }
    }
  } else {
    out += std::string(static_cast<std::size_t>(indent), ' ') + scalar(v) + "\n";
  }
}

std::optional<std::int64_t> time_of(const json& record, const char* key) {
  if (!record.contains(key) || !record[key].is_string()) return std::nullopt;
  return parse_iso8601(record[key].get<std::string>());
}

std::string text_of(const json& record, const char* key, const std::string& none = "-") {
  if (!record.contains(key) || record[key].is_null()) return none;
  const json& v = record[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

std::string to_yaml(const json& value) {
  if (!value.is_structured() || value.empty()) return scalar(value.is_object() ? json("{}") : value) + "\n";
  std::string out;
  emit(value, 0, out);
  return out;
}

std::string instances_table(const json& instances, const json& allocations, std::int64_t now_ms, bool wide) {
  std::map<std::int64_t, std::string> allocation_of;
  for (const auto& a : allocations)
    if (a.contains("instance") && a["deletedAt"].is_null())
      allocation_of[a["instance"].get<std::int64_t>()] = a["id"].get<std::string>();
  // Several engines: which one holds each instance (one engine: all `default`).
  bool several_engines = wide;
  for (const auto& i : instances) several_engines |= text_of(i, "engine", "default") != "default";
  std::vector<std::string> headers = {"ID", "STATE", "ENDPOINT", "ALLOCATION", "AGE", "RESTARTS", "LAST ERROR"};
  if (several_engines) headers.insert(headers.begin() + 2, "ENGINE");
  if (wide) headers.insert(headers.end(), {"FAILURES", "UPDATED", "CONTAINER"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : instances) {
    const std::int64_t id = i["id"].get<std::int64_t>();
    auto allocation = allocation_of.find(id);
    std::vector<std::string> row = {
        std::to_string(id),
        text_of(i, "state"),
        text_of(i, "endpoint"),
        allocation == allocation_of.end() ? "-" : wide ? allocation->second : shorten(allocation->second, 8),
        age(now_ms, time_of(i, "createdAt")),
        text_of(i, "restarts"),
        wide ? text_of(i, "lastError") : shorten(text_of(i, "lastError"), 40)};
    if (several_engines) row.insert(row.begin() + 2, text_of(i, "engine", "default"));
    if (wide)
      row.insert(row.end(), {text_of(i, "failures"), age(now_ms, time_of(i, "updatedAt")) + " ago",
                             shorten(text_of(i, "containerId", ""), 12)});
    rows.push_back(std::move(row));
  }
  return render_table(headers, rows);
}

std::string allocations_table(const json& allocations, std::int64_t now_ms, bool wide) {
  std::vector<std::string> headers = {"ID", "INSTANCE", "ENDPOINT", "CLIENT", "AGE", "EXPIRES", "ENDED"};
  if (wide) headers.push_back("END REASON");
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : allocations) {
    const auto expires = time_of(a, "expiresAt");
    const bool ended = !a["deletedAt"].is_null();
    std::vector<std::string> row = {
        wide ? text_of(a, "id") : shorten(text_of(a, "id"), 12),
        text_of(a, "instance"),
        text_of(a, "endpoint"),
        text_of(a, "client", "") .empty() ? "-" : shorten(text_of(a, "client"), 20),
        age(now_ms, time_of(a, "createdAt")),
        ended || !expires ? "-" : "in " + age(*expires, now_ms),
        ended ? age(now_ms, time_of(a, "deletedAt")) + " ago" : "-"};
    if (wide) row.push_back(text_of(a, "endReason"));
    rows.push_back(std::move(row));
  }
  return render_table(headers, rows);
}

std::string engines_table(const json& engines, bool wide) {
  std::vector<std::string> headers = {"NAME", "STATE", "INSTANCES", "CAPACITY", "ENDPOINT"};
  if (wide) headers.push_back("WEIGHT");
  headers.push_back("ERROR");
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : engines) {
    const std::string capacity = text_of(e, "capacity", "0");
    std::vector<std::string> row = {text_of(e, "name"), text_of(e, "state"), text_of(e, "instances"),
                                    capacity == "0" ? "-" : capacity, text_of(e, "endpoint")};
    if (wide) row.push_back(text_of(e, "weight"));
    row.push_back(wide ? text_of(e, "error", "") : shorten(text_of(e, "error", ""), 40));
    rows.push_back(std::move(row));
  }
  return render_table(headers, rows);
}

std::string events_table(const json& events, std::int64_t now_ms) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : events)
    rows.push_back({age(now_ms, time_of(e, "at")) + " ago", text_of(e, "from", "(created)"), text_of(e, "to"),
                    text_of(e, "detail")});
  return render_table({"WHEN", "FROM", "TO", "DETAIL"}, rows);
}

std::map<double, double> histogram_buckets(const std::string& text, const std::string& name) {
  std::map<double, double> buckets;
  const std::string prefix = name + "_bucket{";
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const auto le = line.find("le=\"");
    const auto close = line.find('}');
    if (le == std::string::npos || close == std::string::npos) continue;
    const auto end = line.find('"', le + 4);
    const std::string bound = line.substr(le + 4, end - le - 4);
    const double upper = bound == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(bound);
    buckets[upper] += std::stod(line.substr(close + 1));
  }
  return buckets;
}

std::optional<double> quantile_between(const std::map<double, double>& before,
                                       const std::map<double, double>& after, double q) {
  if (after.empty()) return std::nullopt;
  auto count = [&](double upper) {
    auto b = before.find(upper);
    return after.at(upper) - (b == before.end() ? 0 : b->second);
  };
  const double total = count(after.rbegin()->first);
  if (total <= 0) return std::nullopt;
  for (const auto& [upper, cumulative] : after)
    if (count(upper) >= q * total) return upper;
  return after.rbegin()->first;
}

namespace {
std::string millis(std::optional<double> seconds) {
  if (!seconds) return "-";
  if (std::isinf(*seconds)) return "> 10 s";
  std::ostringstream out;
  out << "<= " << *seconds * 1000 << " ms";
  return out.str();
}
}  // namespace

std::string top_frame(const json& details, std::optional<double> p50_s, std::optional<double> p99_s,
                      double interval_s) {
  const json pool = details.value("pool", json::object());
  const json by_state = pool.value("byState", json::object());
  std::vector<std::vector<std::string>> states;
  for (const auto& [state, n] : by_state.items()) states.push_back({state, n.dump()});
  std::string out = "INSTANCES (max " + pool.value("maxInstances", json(0)).dump() + ")\n";
  out += render_table({"STATE", "COUNT"}, states);
  out += "\nwaiting hand-outs: " + pool.value("waitingAllocations", json(0)).dump() +
         "   busy (claimed): " + pool.value("busy", json(0)).dump() + "\n";
  std::ostringstream interval;
  interval << interval_s;
  out += "hand-out p50 " + millis(p50_s) + ", p99 " + millis(p99_s) +
         (interval_s > 0 ? " (last " + interval.str() + " s)" : " (since the manager started)") + "\n\n";
  std::vector<std::vector<std::string>> lanes;
  for (const char* lane : {"high", "normal"}) {
    const json l = details.value("queues", json::object()).value(lane, json::object());
    lanes.push_back({lane, l.value("queued", json(0)).dump(), l.value("running", json(0)).dump(),
                     l.value("expired", json(0)).dump(), l.value("rejected", json(0)).dump()});
  }
  out += render_table({"LANE", "QUEUED", "RUNNING", "EXPIRED", "REJECTED"}, lanes);
  return out;
}

}  // namespace warmpool::client
