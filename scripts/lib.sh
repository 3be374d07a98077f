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

# ---------------------------------------------------------------------------
# Private dockerd engines: scripts/engine (a unix socket) and scripts/engine-tls
# (loopback TCP with TLS) start and stop theirs with these. None of them ever
# creates a bridge or touches iptables; containers use the host network.

# short_state_dir DIR TAG: DIR, or a short directory under /tmp when DIR is
# long. Unix socket paths are limited to 108 bytes and containerd nests
# sockets ~45 bytes below the exec root.
short_state_dir() {
  local dir=$1 tag=$2
  if [ ${#dir} -gt 56 ]; then
    dir=/tmp/warmpool-$tag-$(printf '%s' "$WARMPOOL_ROOT" | sha256sum | cut -c1-10)
  fi
  printf '%s\n' "$dir"
}

# engine_curl HOST PATH [curl args...]: an HTTP GET to the engine at HOST;
# a tcp:// HOST speaks TLS when DOCKER_TLS_VERIFY is set (DOCKER_CERT_PATH's
# ca.pem, cert.pem, key.pem), as the docker CLI does.
engine_curl() {
  local host=$1 path=$2
  shift 2
  local args=(-fsS --max-time 3 "$@")
  case $host in
    unix://*) curl "${args[@]}" --unix-socket "${host#unix://}" "http://localhost$path" ;;
    tcp://*)
      if [ -n "${DOCKER_TLS_VERIFY:-}" ] && [ "${DOCKER_TLS_VERIFY}" != 0 ]; then
        local certs=${DOCKER_CERT_PATH:-$HOME/.docker}
        curl "${args[@]}" --cacert "$certs/ca.pem" --cert "$certs/cert.pem" --key "$certs/key.pem" \
          "https://${host#tcp://}$path"
      else
        curl "${args[@]}" "http://${host#tcp://}$path"
      fi
      ;;
    http://* | https://*) curl "${args[@]}" "${host%/}$path" ;;
    *) return 1 ;;
  esac
}

engine_answers() { engine_curl "$1" /_ping >/dev/null 2>&1; }

engine_version() {
  engine_curl "$1" /version 2>/dev/null | grep -o '"Version":"[^"]*"' | head -n1 | cut -d'"' -f4
}

# The pid in a pidfile if that process is alive and is `name`.
live_pid() {
  local pidfile=$1 name=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  printf '%s\n' "$pid"
}

check_no_bridge() {
  if command -v ip >/dev/null && ip link show docker0 >/dev/null 2>&1; then
    die "a docker0 link exists; warmpool's engine must never create the default bridge"
  fi
}

# dockerd needs cgroups. A bare chroot may have /sys without them: mount the
# hierarchies the kernel already uses (the same v1 controller groups, or v2).
ensure_cgroups() {
  local root=/sys/fs/cgroup
  [ -d /sys/fs ] || die "/sys is not mounted; mount sysfs on /sys first"
  [ -e $root/cgroup.controllers ] && return 0
  compgen -G "$root/*/tasks" >/dev/null && return 0
  [ "$(id -u)" -eq 0 ] || die "no cgroups mounted at $root and not root to mount them"
  mkdir -p $root
  if awk 'NR > 1 && $2 != 0 && $4 == 1 { found = 1 } END { exit !found }' /proc/cgroups; then
    log "mounting cgroup v1 hierarchies at $root"
    mountpoint -q $root || mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup $root
    local hierarchy controllers c
    for hierarchy in $(awk 'NR > 1 && $2 != 0 && $4 == 1 { print $2 }' /proc/cgroups | sort -un); do
      controllers=$(awk -v h="$hierarchy" 'NR > 1 && $2 == h && $4 == 1 { print $1 }' /proc/cgroups | paste -sd, -)
      mkdir -p "$root/$controllers"
      mountpoint -q "$root/$controllers" ||
        mount -t cgroup -o "$controllers" cgroup "$root/$controllers" ||
        log "warning: could not mount cgroup controllers $controllers"
      if [[ $controllers == *,* ]]; then
        for c in ${controllers//,/ }; do ln -sfn "$controllers" "$root/$c"; done
      fi
    done
  else
    log "mounting cgroup2 at $root"
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 $root
  fi
}

# Run by sh in a new mount namespace: $1 is an empty directory, the rest is
# the command to run with / bind-mounted at $1 as its root. /run (a tmpfs in
# the usual chroot recipe) is the preferred place, else $1 itself is made a
# private mount first.
CHROOT_LAUNCHER='set -e
if mountpoint -q /run; then
  mount --make-rprivate /run
  root=/run/warmpool-engine-root
  mkdir -p "$root"
else
  root=$1
  mount --bind "$root" "$root"
  mount --make-private "$root"
fi
shift
mount --rbind / "$root"
mount --make-rprivate "$root"
exec chroot "$root" "$@"'

# start_dockerd STATE HOST NAMESPACE [dockerd args...]: starts a dockerd
# listening on HOST with its data root, exec root, pidfile (STATE/dockerd.pid),
# log (STATE/dockerd.log) and containerd namespace of its own, and waits up to
# 60 s until HOST answers (engine_curl's TLS settings apply). Dies with the
# log's tail if it does not.
start_dockerd() {
  local state=$1 host=$2 namespace=$3
  shift 3
  command -v dockerd >/dev/null || ensure_packages
  [ "$(id -u)" -eq 0 ] || die "a private dockerd needs root"
  ensure_cgroups
  mkdir -p "$state/data" "$state/exec"
  # Our own (empty) daemon.json, so that /etc/docker/daemon.json cannot add a bridge.
  [ -f "$state/daemon.json" ] || printf '{}\n' >"$state/daemon.json"
  local pidfile=$state/dockerd.pid logfile=$state/dockerd.log
  log "starting a private dockerd on $host (state in $state, log in $logfile)"
  # setsid: the engine outlives this script and the terminal it runs in.
  local launcher=()
  if ! mountpoint -q /; then
    # In a chroot whose root is not a mount point, dockerd cannot unpack image
    # layers ("remount /: invalid argument"). Give it a root that is one: a
    # recursive bind of / made in a mount namespace of its own, under a mount
    # made private there first, so nothing propagates back. Paths stay the same.
    log "/ is not a mount point (a chroot?): dockerd gets a bind-mounted root in its own mount namespace"
    mkdir -p "$state/root"
    launcher=(unshare --mount --propagation unchanged sh -c "$CHROOT_LAUNCHER" sh "$state/root")
  fi
  setsid "${launcher[@]}" dockerd \
    --config-file "$state/daemon.json" \
    --host "$host" \
    --data-root "$state/data" \
    --exec-root "$state/exec" \
    --pidfile "$pidfile" \
    --bridge=none --iptables=false --ip-masq=false --ip6tables=false --ipv6=false \
    --userland-proxy=false \
    --containerd-namespace "$namespace" --containerd-plugins-namespace "$namespace-plugins" \
    "$@" >>"$logfile" 2>&1 </dev/null &
  local child=$! waited=0
  until engine_answers "$host"; do
    if ! kill -0 "$child" 2>/dev/null && ! live_pid "$pidfile" dockerd >/dev/null; then
      tail -n 30 "$logfile" >&2 || true
      die "dockerd exited during start-up (log above, full log in $logfile)"
    fi
    if [ $waited -ge 600 ]; then
      tail -n 30 "$logfile" >&2 || true
      local pid
      pid=$(live_pid "$pidfile" dockerd) && kill -TERM "$pid"
      die "dockerd did not answer on $host within 60 s (log above, full log in $logfile)"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  check_no_bridge
  log "private engine $(engine_version "$host") ready on $host (pid $(live_pid "$pidfile" dockerd))"
}

# stop_dockerd STATE: stops the dockerd whose pid is in STATE/dockerd.pid
# (SIGTERM, SIGKILL after 60 s), a containerd it left behind, and the mounts
# it left below STATE. Nothing else is touched.
stop_dockerd() {
  local state=$1 pid waited=0
  if pid=$(live_pid "$state/dockerd.pid" dockerd); then
    log "stopping private dockerd (pid $pid)"
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do
      if [ $waited -ge 600 ]; then
        log "dockerd did not exit within 60 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
        break
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
  else
    log "private dockerd is not running"
  fi
  # dockerd stops the containerd it supervises; after a SIGKILL it cannot.
  if pid=$(live_pid "$state/exec/containerd/containerd.pid" containerd); then
    log "stopping leftover containerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  # dockerd leaves its default network namespace (and, after a crash, layer
  # mounts) mounted under its state: release only mounts below our own state.
  local mnt
  if [ -n "$state" ] && [ -r /proc/self/mounts ]; then
    awk -v base="$state/" 'index($2, base) == 1 { print $2 }' /proc/self/mounts | sort -r |
      while read -r mnt; do umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true; done
  fi
  check_no_bridge
}
