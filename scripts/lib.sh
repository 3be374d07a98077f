# Shared by scripts/run, scripts/test and scripts/engine. Source it; do not run it.
# shellcheck shell=bash

WARMPOOL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WARMPOOL_BUILD=${WARMPOOL_BUILD:-$WARMPOOL_ROOT/build}
WARMPOOL_RUN=${WARMPOOL_RUN:-$WARMPOOL_ROOT/.run}
# The AddressSanitizer + UndefinedBehaviorSanitizer build: only the fuzz test.
WARMPOOL_ASAN_BUILD=${WARMPOOL_ASAN_BUILD:-$WARMPOOL_ROOT/build-asan}
WARMPOOL_SANITIZED_TARGETS=(api_fuzz_tests)

# Debian bookworm packages the build, the tests and the private engine need.
WARMPOOL_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates curl procps iproute2
  libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev
  libcurl4-openssl-dev nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev
  libgmp-dev libmpfr-dev catch2 libcli11-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  docker.io chromium fonts-dejavu-core
  nginx openssl  # the proxy in front (deploy/nginx.conf) and its test certificate
  postgresql libpq-dev  # the shared store for several managers, and the tests that start one
  busybox-static  # the second image of the tests (scripts/build-busybox-image)
)
# Tools that may come from elsewhere than Debian (a newer Node.js, say): the
# package is installed only when the command is missing.
WARMPOOL_COMMANDS=(node:nodejs npm:npm)
# The API tests need Node.js 20.19 or newer (playwright-core; require() of an
# ES module). Debian 12's nodejs is 18: then ensure_node puts this official
# build, which the npm registry ships as a package, in /usr/local.
WARMPOOL_NODE_MIN=20.19
WARMPOOL_NODE_VERSION=20.20.2

# Node.js keeps a CA list of its own; npm should trust what apt and curl trust
# too (a local CA, a TLS-inspecting proxy's), which is the system's bundle.
# Called again once ensure_packages has installed ca-certificates.
trust_system_cas() {
  if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  fi
}
trust_system_cas

log() { printf '[warmpool] %s\n' "$*" >&2; }
die() { printf '[warmpool] error: %s\n' "$*" >&2; exit 1; }

# Installs the packages that are missing; does nothing when all are present.
ensure_packages() {
  local missing=()
  local p
  for p in "${WARMPOOL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  local entry
  for entry in "${WARMPOOL_COMMANDS[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them with apt"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install failed"
  fi
  trust_system_cas
  ensure_node
}

node_recent() {
  local v
  v=$(node --version 2>/dev/null) || return 1
  v=${v#v}
  [ "$(printf '%s\n%s\n' "$WARMPOOL_NODE_MIN" "$v" | sort -V | head -n1)" = "$WARMPOOL_NODE_MIN" ]
}

# Installs Node.js $WARMPOOL_NODE_VERSION as /usr/local/bin/node when `node` is
# older than $WARMPOOL_NODE_MIN. npm stays Debian's.
ensure_node() {
  node_recent && return 0
  local found arch
  found=$(node --version 2>/dev/null || echo none)
  [ "$(id -u)" -eq 0 ] || die "Node.js $WARMPOOL_NODE_MIN or newer is needed (found $found); run as root or install it"
  case $(uname -m) in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) die "Node.js $WARMPOOL_NODE_MIN or newer is needed (found $found); install it for $(uname -m)" ;;
  esac
  local pkg=node-linux-$arch@$WARMPOOL_NODE_VERSION dest=/usr/local/lib/warmpool-node tmp
  log "Node.js $found is older than $WARMPOOL_NODE_MIN: installing $pkg from the npm registry in $dest"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null) || { rm -rf "$tmp"; die "npm pack $pkg failed"; }
  rm -rf "$dest" && mkdir -p "$dest"
  tar -xzf "$tmp"/*.tgz -C "$dest" --strip-components=1 package/bin/node package/LICENSE ||
    { rm -rf "$tmp"; die "unpacking $pkg failed"; }
  rm -rf "$tmp"
  ln -sfn "$dest/bin/node" /usr/local/bin/node
  hash -r
  node_recent || die "node is still $(node --version 2>/dev/null || echo missing) (is /usr/local/bin before /usr/bin in PATH?)"
}

# Runs "$@" and logs how long it took: `timed "building" build_all`.
timed() {
  local what=$1 start=$SECONDS
  shift
  "$@"
  log "$what took $((SECONDS - start)) s"
}

configure() {
  cmake -S "$WARMPOOL_ROOT" -B "$WARMPOOL_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null \
    || die "cmake configure failed"
}

# Configures and builds everything (tests and benchmarks too) into
# $WARMPOOL_BUILD. Extra arguments go to cmake.
build_all() {
  configure "$@"
  cmake --build "$WARMPOOL_BUILD" -j "$(nproc)" || die "build failed"
}

# Builds only what `scripts/run` serves: the manager, the worker and the
# docs page. A later build_all reuses all of it.
build_served() {
  configure "$@"
  cmake --build "$WARMPOOL_BUILD" -j "$(nproc)" --target warmpool pi-worker warmpool_docs \
    || die "build failed"
}

# Configures $WARMPOOL_ASAN_BUILD with -DWARMPOOL_SANITIZE=ON and builds only
# $WARMPOOL_SANITIZED_TARGETS there: sanitizing everything would double the
# build for tests that gain little from it.
build_sanitized() {
  cmake -S "$WARMPOOL_ROOT" -B "$WARMPOOL_ASAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DWARMPOOL_SANITIZE=ON -DWARMPOOL_BENCH=OFF >/dev/null || die "cmake configure (sanitized) failed"
  cmake --build "$WARMPOOL_ASAN_BUILD" -j "$(nproc)" --target "${WARMPOOL_SANITIZED_TARGETS[@]}" \
    || die "sanitized build failed"
}

# Runs the sanitized build's tests that the ctest arguments select: its
# tests carry the label "sanitized" ANDed with any -L given, so
# `scripts/test -L integration` runs none of them and `-L unit` runs them.
run_sanitized() {
  ctest --test-dir "$WARMPOOL_ASAN_BUILD" --output-on-failure --no-tests=ignore -L '^sanitized$' "$@"
}

# Starts (or finds) the engine and exports DOCKER_HOST. Sets ENGINE_STARTED=1
# when this call started a private engine that the caller should stop.
ENGINE_STARTED=0
engine_up() {
  local before=1
  "$WARMPOOL_ROOT/scripts/engine" status >/dev/null 2>&1 || before=0
  "$WARMPOOL_ROOT/scripts/engine" start
  eval "$("$WARMPOOL_ROOT/scripts/engine" env)"
  export DOCKER_HOST
  # The docker CLI may be newer than the engine; speak the engine's version.
  export DOCKER_API_VERSION=1.41
  if [ $before = 0 ] && grep -q '^WARMPOOL_ENGINE_OWNED=1' "$WARMPOOL_RUN/engine.env" 2>/dev/null; then
    ENGINE_STARTED=1
  fi
}

engine_down_if_started() {
  if [ "$ENGINE_STARTED" = 1 ]; then
    "$WARMPOOL_ROOT/scripts/engine" stop || true
    ENGINE_STARTED=0
  fi
}

# Starts the throwaway PostgreSQL cluster (scripts/postgres) unless it runs
# already, and exports WARMPOOL_TEST_POSTGRES and WARMPOOL_DATABASE_URL.
# Sets POSTGRES_STARTED=1 when this call started it.
POSTGRES_STARTED=0
postgres_up() {
  "$WARMPOOL_ROOT/scripts/postgres" status >/dev/null 2>&1 || POSTGRES_STARTED=1
  "$WARMPOOL_ROOT/scripts/postgres" start
  eval "$("$WARMPOOL_ROOT/scripts/postgres" env)"
  export WARMPOOL_TEST_POSTGRES WARMPOOL_DATABASE_URL
}

postgres_down_if_started() {
  if [ "$POSTGRES_STARTED" = 1 ]; then
    "$WARMPOOL_ROOT/scripts/postgres" stop || true
    POSTGRES_STARTED=0
  fi
}

# Removes containers left by tests: their warmpool.manager label starts with "test-".
remove_test_containers() {
  local ids
  ids=$(docker ps -aq --filter label=warmpool.manager 2>/dev/null | while read -r id; do
    docker inspect -f '{{index .Config.Labels "warmpool.manager"}} {{.Id}}' "$id" 2>/dev/null
  done | awk '$1 ~ /^test-/ { print $2 }')
  if [ -n "$ids" ]; then
    log "removing $(echo "$ids" | wc -l) containers left by tests"
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null 2>&1 || true
  fi
}
