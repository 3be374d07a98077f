#include "worker/session.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "worker/scratch.hpp"

namespace warmpool::worker {

using nlohmann::json;

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t from = 0;
  for (;;) {
    const std::size_t slash = path.find('/', from);
    parts.push_back(path.substr(from, slash - from));
    if (slash == std::string::npos) return parts;
    from = slash + 1;
  }
}

// Closes a descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Refusal io_refusal(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT) return {413, what + ": " + std::strerror(err) + " (the scratch space is full)"};
  if (err == EEXIST || err == ENOTDIR || err == EISDIR || err == ELOOP)
    return {400, what + ": " + std::strerror(err) + " (paths conflict, or a link is in the way)"};
  if (err == ENOENT) return {404, what + ": no such file"};
  return {500, what + ": " + std::strerror(err)};
}

// Opens the directory that holds `parts.back()` under `root`, never following
// a link; creates missing directories when `create`. -1 with errno on failure.
int open_parent(const std::filesystem::path& root, const std::vector<std::string>& parts, bool create) {
  int dir = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (std::size_t i = 0; dir >= 0 && i + 1 < parts.size(); ++i) {
    if (create && ::mkdirat(dir, parts[i].c_str(), 0755) != 0 && errno != EEXIST) {
      const int err = errno;
      ::close(dir);
      errno = err;
      return -1;
    }
    const int next = ::openat(dir, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const int err = errno;
    ::close(dir);
    errno = err;
    dir = next;
  }
  return dir;
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t bits = 0;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    const int v = base64_value(text[i]);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    if (i % 4 == 3) {
      out += static_cast<char>(bits >> 16);
      out += static_cast<char>(bits >> 8);
      out += static_cast<char>(bits);
      bits = 0;
    }
  }
  if (padding == 2) {
    if (bits & 0xf) return std::nullopt;
    out += static_cast<char>(bits >> 4);
  } else if (padding == 1) {
    if (bits & 0x3) return std::nullopt;
    out += static_cast<char>(bits >> 10);
    out += static_cast<char>(bits >> 2);
  }
  return out;
}

std::string relative_path_problem(const std::string& path) {
  if (path.empty()) return "is empty";
  if (path.size() > 4096) return "is longer than 4096 bytes";
  if (path.front() == '/') return "is absolute";
  if (path.find('\0') != std::string::npos) return "holds a NUL byte";
  if (path.find('\\') != std::string::npos) return "holds a backslash";
  for (const auto& part : components(path)) {
    if (part.empty()) return "has an empty component";
    if (part == "." || part == "..") return "has a \"" + part + "\" component";
  }
  return {};
}

Session::Session(std::filesystem::path files_dir, std::string control_secret, std::string reserved)
    : files_dir_(std::move(files_dir)), control_secret_(std::move(control_secret)), reserved_(std::move(reserved)) {}

Session::Caller Session::caller(const std::string& authorization) const {
  const std::string prefix = "Bearer ";
  if (authorization.rfind(prefix, 0) != 0) return Caller::Anyone;
  const std::string presented = authorization.substr(prefix.size());
  if (!control_secret_.empty() && same_secret(presented, control_secret_)) return Caller::Control;
  std::lock_guard lock(mu_);
  if (token_ && same_secret(presented, *token_)) return Caller::Session;
  return Caller::Anyone;
}

bool Session::may_control(Caller caller) const { return control_secret_.empty() || caller == Caller::Control; }

bool Session::may_use_session(Caller caller) const {
  if (caller != Caller::Anyone) return true;
  std::lock_guard lock(mu_);
  if (token_) return false;  // it has a token, and the caller did not present it
  return initialised_ || control_secret_.empty();  // an open session, or a worker run by hand
}

std::optional<Refusal> Session::write_file(const std::string& path, const std::string& content) const {
  const auto parts = components(path);
  Fd dir{open_parent(files_dir_, parts, true)};
  if (dir.fd < 0) return io_refusal("write " + path, errno);
  Fd file{::openat(dir.fd, parts.back().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)};
  if (file.fd < 0) return io_refusal("write " + path, errno);
  for (std::size_t at = 0; at < content.size();) {
    const ssize_t n = ::write(file.fd, content.data() + at, content.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_refusal("write " + path, errno);
    at += static_cast<std::size_t>(n);
  }
  return std::nullopt;
}

namespace {
// The checks of one InitRequest that need no disk. Empty when it is fine.
std::string init_problem(const json& doc) {
  if (!doc.is_object()) return "the body must be a JSON object";
  for (const auto& [key, value] : doc.items())
    if (key != "token" && key != "files" && key != "env" && key != "metadata") return "unknown field \"" + key + "\"";
  const json token = doc.value("token", json());
  if (!token.is_null() && (!token.is_string() || token.get<std::string>().empty() || token.get<std::string>().size() > 512))
    return "\"token\" must be null or a string of 1 to 512 bytes";
  if (doc.contains("files") && !doc["files"].is_object()) return "\"files\" must be an object";
  if (doc.contains("env") && !doc["env"].is_object()) return "\"env\" must be an object";
  if (doc.contains("env"))
    for (const auto& [name, value] : doc["env"].items()) {
      const bool named = !name.empty() && !(name[0] >= '0' && name[0] <= '9') &&
                         name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
                             std::string::npos;
      if (!named) return "env: \"" + name + "\" is not a variable name";
      if (!value.is_string()) return "env." + name + " must be a string";
    }
  const json metadata = doc.value("metadata", json());
  if (!metadata.is_null() && !metadata.is_object()) return "\"metadata\" must be null or an object";
  return {};
}
}  // namespace

std::optional<Refusal> Session::install(const std::string& body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Refusal{400, "the body is not valid JSON"};
  if (auto problem = init_problem(doc); !problem.empty()) return Refusal{400, problem};
  std::lock_guard lock(mu_);
  if (initialised_) return Refusal{409, "a session is installed; POST /reset first"};
  std::error_code ec;
  std::filesystem::create_directories(files_dir_, ec);
  if (ec) return Refusal{500, "create " + files_dir_.string() + ": " + ec.message()};
  json paths = json::array();
  const json files = doc.value("files", json::object());
  for (const auto& [path, value] : files.items()) {
    std::optional<Refusal> refused;
    if (auto why = relative_path_problem(path); !why.empty()) {
      refused = Refusal{400, "files: the path \"" + path + "\" " + why};
    } else if (!reserved_.empty() && components(path).front() == reserved_) {
      refused = Refusal{400, "files: \"" + reserved_ + "/\" is the data volume's; choose another path"};
    } else if (value.is_string()) {
      refused = write_file(path, value.get<std::string>());
    } else if (value.is_object() && value.size() == 1 && value.contains("base64") && value["base64"].is_string()) {
      auto bytes = decode_base64(value["base64"].get<std::string>());
      refused = bytes ? write_file(path, *bytes) : Refusal{400, "files[\"" + path + "\"].base64 is not valid base64"};
    } else {
      refused = Refusal{400, "files[\"" + path + "\"] must be a string or {\"base64\": \"...\"}"};
    }
    if (refused) {
      wipe_scratch(files_dir_);  // none of it
      return refused;
    }
    paths.push_back(path);
  }
  const json token = doc.value("token", json());
  token_ = token.is_null() ? std::nullopt : std::optional<std::string>(token.get<std::string>());
  env_ = doc.value("env", json::object());
  metadata_ = doc.value("metadata", json());
  paths_ = std::move(paths);
  initialised_ = true;
  return std::nullopt;
}

std::string Session::clear() {
  std::lock_guard lock(mu_);
  initialised_ = false;
  token_.reset();
  env_ = json::object();
  metadata_ = nullptr;
  paths_ = json::array();
  return wipe_scratch(files_dir_);
}

json Session::describe() const {
  std::lock_guard lock(mu_);
  return {{"env", env_}, {"metadata", metadata_}, {"files", paths_}};
}

std::optional<Refusal> Session::read_file(const std::string& path, std::string* content) const {
  return read_file_under(files_dir_, path, content);
}

std::optional<Refusal> read_file_under(const std::filesystem::path& root, const std::string& path,
                                       std::string* content) {
  if (auto why = relative_path_problem(path); !why.empty()) return Refusal{400, "the path \"" + path + "\" " + why};
  const auto parts = components(path);
  Fd dir{open_parent(root, parts, false)};
  if (dir.fd < 0) return io_refusal("read " + path, errno == ENOTDIR ? ENOENT : errno);
  Fd file{::openat(dir.fd, parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
  if (file.fd < 0) return io_refusal("read " + path, errno);
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) return Refusal{404, "read " + path + ": not a file"};
  content->clear();
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(file.fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_refusal("read " + path, errno);
    if (n == 0) return std::nullopt;
    content->append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace warmpool::worker
