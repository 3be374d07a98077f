// The API documentation, served by the manager itself (no CDN: it works
// offline). Open access, also when tokens are configured.
//   GET /               the Swagger UI page (our index.html) over /openapi.json
//   GET /openapi.json   the contract, converted from swagger/openapi.yaml at build time
//   GET /static/{file}  swagger-ui-dist's files and our pages' own assets
//
// The files come from the docs directory, which the build fills
// (swagger/CMakeLists.txt: <build>/swagger-ui). When no candidate holds them,
// these routes answer 503 problem+json saying where they looked.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "api/server.hpp"
#include "config/config.hpp"

namespace httplib {
struct Response;
}

namespace warmpool::api {

// Where the docs files may be, in order: --docs-dir when set (only it);
// else <dir of the running binary>/../swagger-ui, then the build tree's
// swagger-ui directory (when this binary was built with swagger/).
std::vector<std::filesystem::path> docs_dir_candidates(const Config& config);
// The first candidate that holds index.html and openapi.json; empty if none.
std::filesystem::path find_docs_dir(const Config& config);

// Registers GET /, GET /openapi.json and GET /static/{file} on `server`.
// `config` must outlive the server.
void add_docs_routes(Server& server, const Config& config);

// Answers with the file `name` of the docs directory and its content type:
// 404 problem for a name that is not a plain file name with a known type or
// that does not exist, 503 problem when the docs directory is missing.
// Not cpp-httplib's mount point: that serves every file of its directory
// (other types, subdirectories), answers a Range header with 206 and a part,
// and fixes the directory at start-up, so a docs build that ends later is
// never seen and a missing one is no 503.
void serve_docs_file(httplib::Response& res, const Config& config, const std::string& name);

}  // namespace warmpool::api
