#include "api/docs.hpp"

#include <fstream>
#include <sstream>
#include <system_error>

#include <httplib.h>

#include "api/problem.hpp"

// swagger/CMakeLists.txt writes the build tree's docs directory here.
#if __has_include("warmpool/docs_dir.hpp")
#include "warmpool/docs_dir.hpp"
#define WARMPOOL_HAVE_BUILD_DOCS_DIR 1
#endif

namespace warmpool::api {

namespace fs = std::filesystem;

namespace {

// Content types of the files we serve; any other extension is not served.
const char* content_type_of(const std::string& name) {
  const auto ext = fs::path(name).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "application/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".png") return "image/png";
  return nullptr;
}

// A plain file name: no directory part, no leading dot.
bool plain_name(const std::string& name) {
  if (name.empty() || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool holds_docs(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "index.html", ec) && fs::is_regular_file(dir / "openapi.json", ec);
}

void docs_missing(httplib::Response& res, const Config& config) {
  std::string looked;
  for (const auto& dir : docs_dir_candidates(config)) looked += (looked.empty() ? "" : ", ") + dir.string();
  problem(res, 503,
          "the docs files are not installed (looked in " + looked +
              "): build them with `cmake --build <build> --target warmpool_docs`, or pass --docs-dir");
}

}  // namespace

std::vector<fs::path> docs_dir_candidates(const Config& config) {
  if (!config.docs_dir.empty()) return {fs::path(config.docs_dir)};
  std::vector<fs::path> dirs;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((exe.parent_path().parent_path() / "swagger-ui").lexically_normal());
#ifdef WARMPOOL_HAVE_BUILD_DOCS_DIR
  dirs.emplace_back(kBuildDocsDir);
#endif
  return dirs;
}

fs::path find_docs_dir(const Config& config) {
  for (const auto& dir : docs_dir_candidates(config)) {
    if (holds_docs(dir)) return dir;
  }
  return {};
}

void serve_docs_file(httplib::Response& res, const Config& config, const std::string& name) {
  const char* type = content_type_of(name);
  if (!plain_name(name) || type == nullptr) return problem(res, 404, "no file " + name);
  // Looked up on each request: cheap, and a docs build that finishes after
  // the manager started is picked up.
  const fs::path dir = find_docs_dir(config);
  if (dir.empty()) return docs_missing(res, config);
  std::ifstream in(dir / name, std::ios::binary);
  if (!in) return problem(res, 404, "no file " + name);
  std::ostringstream body;
  body << in.rdbuf();
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(body.str(), type);
}

void add_docs_routes(Server& server, const Config& config) {
  using Access = Server::Access;
  server.route("GET", "/", Access::Open, [&config](const httplib::Request&, httplib::Response& res) {
    serve_docs_file(res, config, "index.html");
  });
  server.route("GET", R"(/openapi\.json)", Access::Open,
               [&config](const httplib::Request&, httplib::Response& res) {
                 serve_docs_file(res, config, "openapi.json");
               });
  server.route("GET", R"(/static/([^/]+))", Access::Open,
               [&config](const httplib::Request& req, httplib::Response& res) {
                 serve_docs_file(res, config, req.matches[1]);
               });
}

}  // namespace warmpool::api
