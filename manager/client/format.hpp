// How the CLI prints records: aligned tables in the style of kubectl and
// docker (the default), every column (`-o wide`), or the records as JSON or
// YAML (`-o json|yaml`). Pure functions over the API's JSON, `now` passed in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace warmpool::client {

enum class Output { Table, Wide, Json, Yaml };
// "table" (or ""), "wide", "json", "yaml"; nullopt otherwise.
std::optional<Output> output_from(const std::string& name);

// Columns padded to their widest cell, three spaces apart, no trailing blanks.
std::string render_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows);
// "45s", "12m", "3h", "2d" (kubectl's AGE); "-" when `then` is unknown.
std::string age(std::int64_t now_ms, std::optional<std::int64_t> then_ms);
// At most `width` characters; a cut text ends with "...".
std::string shorten(const std::string& text, std::size_t width);
// The JSON as YAML (block style; strings quoted when YAML would misread them).
std::string to_yaml(const nlohmann::json& value);

// `instances` and `allocations` as tables. `allocations` (current ones) fills
// the instances' ALLOCATION column; it may be empty.
std::string instances_table(const nlohmann::json& instances, const nlohmann::json& allocations,
                            std::int64_t now_ms, bool wide);
std::string allocations_table(const nlohmann::json& allocations, std::int64_t now_ms, bool wide);
// GET /engines' answer: NAME STATE INSTANCES CAPACITY ENDPOINT (capacity 0:
// "-", no limit); `wide` adds WEIGHT and, for an engine that is down, ERROR
// in full (the table shortens it).
std::string engines_table(const nlohmann::json& engines, bool wide);
// GET /events' answer: AGE FROM TO DETAIL.
std::string events_table(const nlohmann::json& events, std::int64_t now_ms);

// A Prometheus histogram's cumulative buckets (upper bound -> count), summed
// over every series of `name` in a /metrics text.
std::map<double, double> histogram_buckets(const std::string& metrics_text, const std::string& name);
// The q-quantile (0..1) of what was observed between two scrapes, as the
// upper bound of the bucket it falls in; nullopt when nothing was observed.
std::optional<double> quantile_between(const std::map<double, double>& before,
                                       const std::map<double, double>& after, double q);
// One frame of `warmpool top`: counts by state, waiting hand-outs, queue
// depths (from GET /details) and the hand-out p50/p99 of the last interval
// (0: since the manager started).
std::string top_frame(const nlohmann::json& details, std::optional<double> p50_s,
                      std::optional<double> p99_s, double interval_s);

}  // namespace warmpool::client
