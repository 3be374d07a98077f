#include "files/file_cache.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <random>
#include <utility>

#include "base/sha256.hpp"

namespace warmpool::files {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool loopback(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

// The path of an http(s) URL: after the authority, before the query.
std::string url_path(const std::string& url) {
  const auto authority = url.find("://") + 3;
  const auto slash = url.find('/', authority);
  if (slash == std::string::npos) return "/";
  return url.substr(slash, url.find_first_of("?#", slash) - slash);
}

// The host and port an http(s) URL names (the default port when none).
std::pair<std::string, long> host_and_port(const std::string& url) {
  const auto authority = url.find("://") + 3;
  std::string hostport = url.substr(authority, url.find_first_of("/?#", authority) - authority);
  hostport = hostport.substr(hostport.rfind('@') == std::string::npos ? 0 : hostport.rfind('@') + 1);
  long port = lower(url.substr(0, authority)) == "https://" ? 443 : 80;
  std::string host = hostport;
  const auto close = hostport.find(']');
  const auto colon = hostport.rfind(':');
  if (colon != std::string::npos && (close == std::string::npos || colon > close)) {
    host = hostport.substr(0, colon);
    port = std::strtol(hostport.c_str() + colon + 1, nullptr, 10);
  }
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return {lower(host), port};
}

struct Transfer {
  std::ofstream* out = nullptr;
  std::size_t bytes = 0;
  std::size_t max_bytes = 0;
  bool too_large = false;
  const Forbidden* forbidden = nullptr;
  bool refused = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  t.bytes += n;
  if (t.bytes > t.max_bytes) {
    t.too_large = true;
    return 0;  // curl stops with CURLE_WRITE_ERROR
  }
  t.out->write(data, static_cast<std::streamsize>(n));
  return *t.out ? n : 0;
}

// Runs once connected, before the request is sent: the address is known,
// whatever the name resolved to.
int on_connected(void* user, char* remote_ip, char*, int remote_port, int) {
  auto& t = *static_cast<Transfer*>(user);
  t.refused = refused_address(*t.forbidden, remote_ip, remote_port);
  return t.refused ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

}  // namespace

std::string url_problem(const std::string& url) {
  if (url.size() > 2048) return "the URL is longer than 2048 bytes";
  if (std::any_of(url.begin(), url.end(), [](unsigned char c) { return c <= ' ' || c >= 0x7f; }))
    return "the URL has spaces or bytes that are not printable ASCII";
  const std::string scheme = lower(url.substr(0, url.find("://")));
  if (url.find("://") == std::string::npos || (scheme != "http" && scheme != "https"))
    return "only http and https URLs are fetched";
  const auto authority = url.find("://") + 3;
  if (authority >= url.size() || url[authority] == '/' || url[authority] == '?' || url[authority] == '#')
    return "the URL has no host";
  return {};
}

bool refused_address(const Forbidden& f, const std::string& ip, long port) {
  const bool ours = f.manager_port == port || (port >= f.worker_port_first && port <= f.worker_port_last);
  if (!ours) return false;
  return f.any_host || loopback(ip) || std::count(f.own_hosts.begin(), f.own_hosts.end(), ip) > 0;
}

std::string cache_name(const std::string& url) {
  jobs::Sha256 sha;
  sha.update(url.data(), url.size());
  std::string name = sha.hex().substr(0, 32);
  const std::string path = url_path(url);
  const std::string last = path.substr(path.rfind('/') + 1);
  const auto dot = last.rfind('.');
  if (dot != std::string::npos) {
    const std::string ext = last.substr(dot + 1);
    const bool plain = !ext.empty() && ext.size() <= 8 &&
                       std::all_of(ext.begin(), ext.end(), [](unsigned char c) { return std::isalnum(c); });
    if (plain) name += "." + lower(ext);
  }
  return name;
}

FileCache::FileCache(fs::path dir, FetchLimits limits, Forbidden forbidden)
    : dir_(std::move(dir)), limits_(limits), forbidden_(std::move(forbidden)) {
  fs::create_directories(dir_);
}

CachedFile FileCache::fetch(const std::string& url) {
  if (auto problem = url_problem(url); !problem.empty()) throw FetchError(problem);
  // Refused before connecting when the URL names us plainly; names that
  // resolve to us are caught once connected (on_connected).
  const auto [host, port] = host_and_port(url);
  if (refused_address(forbidden_, host == "localhost" ? "127.0.0.1" : host, port))
    throw FetchError("the URL points at the manager or one of its workers");
  const std::string name = cache_name(url);
  if (fs::exists(dir_ / name)) return {url, name};
  // Fetched beside, then renamed into place; two fetches of one URL both
  // write whole files, and the later rename wins.
  const std::string part = name + ".part-" + std::to_string(std::random_device{}());
  try {
    download(url, dir_ / part);
    {
      std::ofstream label(dir_ / (part + ".url"), std::ios::binary);
      label << url;
      if (!label) throw FetchError(std::string("cannot write ") + (dir_ / part).string() + ".url");
    }
    fs::rename(dir_ / (part + ".url"), dir_ / (name + ".url"));
    fs::rename(dir_ / part, dir_ / name);
  } catch (...) {
    std::error_code ignored;
    fs::remove(dir_ / part, ignored);
    fs::remove(dir_ / (part + ".url"), ignored);
    throw;
  }
  return {url, name};
}

void FileCache::download(const std::string& url, const fs::path& into) {
  std::ofstream out(into, std::ios::binary);
  if (!out) throw FetchError("cannot write " + into.string());
  Transfer t{.out = &out, .max_bytes = limits_.max_bytes, .forbidden = &forbidden_};
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) throw FetchError("cannot start a transfer (curl)");
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect could lead anywhere
  curl_easy_setopt(c, CURLOPT_PROXY, "");           // the address checked is the one connected to
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(limits_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limits_.max_bytes));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, on_connected);
  curl_easy_setopt(c, CURLOPT_PREREQDATA, &t);
  const CURLcode code = curl_easy_perform(c);
  if (t.refused) throw FetchError("the URL points at the manager or one of its workers");
  if (t.too_large || code == CURLE_FILESIZE_EXCEEDED)
    throw FetchError("the file is larger than " + std::to_string(limits_.max_bytes) + " bytes");
  if (code == CURLE_OPERATION_TIMEDOUT)
    throw FetchError("the URL did not answer within " + std::to_string(limits_.timeout.count()) + " ms");
  if (code != CURLE_OK) throw FetchError(std::string("fetching the URL failed: ") + curl_easy_strerror(code));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300 && status < 400) throw FetchError("the URL answered a redirect (" + std::to_string(status) + "), which is not followed");
  if (status < 200 || status >= 300) throw FetchError("the URL answered HTTP " + std::to_string(status));
  out.close();
  if (!out) throw FetchError("cannot write " + into.string());
}

std::vector<CachedFile> FileCache::list() const {
  std::vector<CachedFile> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const fs::path p = entry.path();
    if (p.extension() != ".url" || p.filename().string().find(".part-") != std::string::npos) continue;
    const fs::path data = p.parent_path() / p.stem();
    if (!fs::exists(data)) continue;
    std::ifstream in(p, std::ios::binary);
    std::string url((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    files.push_back({url, data.filename().string()});
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.filename < b.filename; });
  return files;
}

}  // namespace warmpool::files
