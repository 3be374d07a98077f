# The manager's image (warmpool/manager:latest, the default target) and the
# worker image it hands out (target pi-worker, warmpool/pi-worker:latest).
#
# No registry is reachable here, so the base is a local Debian 12 image that
# scripts/build-manager-image makes with debootstrap and `docker import`.
# Build with that script, or, once the base exists:
#   DOCKER_BUILDKIT=0 docker build --network host -t warmpool/manager:latest .
#   DOCKER_BUILDKIT=0 docker build --network host --target pi-worker -t warmpool/pi-worker:latest .
# (--network host: apt and npm reach their mirrors without a Docker network.)
ARG BASE=warmpool/bookworm-base:latest

# ---- build: compiler, -dev packages, Node.js and npm; compiles `warmpool` and
# `pi-worker` and installs the docs page (swagger-ui-dist from npm, openapi.json).
FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ make cmake pkg-config ca-certificates \
      libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev \
      libcurl4-openssl-dev nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev \
      libgmp-dev libcli11-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libpq-dev \
      nodejs npm \
 && rm -rf /var/lib/apt/lists/*
# Node.js keeps its own list of CAs; let it trust the system's too, which
# holds any local CA the base image was given (see scripts/build-manager-image).
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
WORKDIR /src
# Only what the build reads; tests and benchmarks are off.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY manager/ manager/
COPY scheduler/ scheduler/
COPY worker-image/ worker-image/
COPY swagger/ swagger/
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWARMPOOL_TESTS=OFF -DWARMPOOL_BENCH=OFF \
 && cmake --build /build -j "$(nproc)" --target warmpool warmpool_docs pi-worker
# The manager, in the layout it looks for: <prefix>/bin/warmpool finds its
# docs in <prefix>/swagger-ui. Debug info goes; symbols stay for backtraces.
RUN mkdir -p /out/manager/opt/warmpool/bin \
 && strip --strip-debug -o /out/manager/opt/warmpool/bin/warmpool /build/manager/warmpool \
 && cp -r /build/swagger-ui /out/manager/opt/warmpool/swagger-ui
# The worker's root, as scripts/build-image stages it: pi-worker, the
# libraries ldd lists at the paths it resolved, the loader, /scratch and /tmp.
RUN root=/out/pi-worker \
 && mkdir -p $root/etc $root/scratch $root/tmp && chmod 1777 $root/scratch $root/tmp \
 && strip --strip-debug -o $root/pi-worker /build/worker-image/pi-worker \
 && ! ldd /build/worker-image/pi-worker | grep 'not found' \
 && for lib in $(ldd /build/worker-image/pi-worker \
                 | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u); do \
      mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; \
    done \
 && printf 'root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n' >$root/etc/passwd \
 && printf 'root:x:0:\nnogroup:x:65534:\n' >$root/etc/group

# ---- pi-worker: the workload image, FROM scratch (about 13 MB).
FROM scratch AS pi-worker
COPY --from=build /out/pi-worker/ /
USER 65534:65534
ENTRYPOINT ["/pi-worker"]
CMD ["serve"]

# ---- manager: the shared libraries the binary links, the binary, the docs.
FROM ${BASE} AS manager
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcpp-httplib0.11 libcurl4 libsqlite3-0 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libssl3 zlib1g libbrotli1 libpq5 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=build /out/manager/ /
# Fails the build if a library the binary needs is missing.
RUN ! ldd /opt/warmpool/bin/warmpool | grep 'not found' \
 && ln -s /opt/warmpool/bin/warmpool /usr/local/bin/warmpool \
 && groupadd --gid 10001 warmpool \
 && useradd --uid 10001 --gid warmpool --home-dir /var/lib/warmpool --no-create-home \
      --shell /usr/sbin/nologin warmpool \
 && install -d -o warmpool -g warmpool -m 0750 /var/lib/warmpool

# Every `serve` option can also be set as WARMPOOL_<FLAG> (see README.md).
# The engine socket is mounted at /var/run/docker.sock; the user needs the
# socket's group (docker run --group-add, compose group_add).
ENV WARMPOOL_DATA_DIR=/var/lib/warmpool \
    WARMPOOL_HOST=127.0.0.1 \
    WARMPOOL_PORT=8080 \
    DOCKER_HOST=unix:///var/run/docker.sock
VOLUME /var/lib/warmpool
WORKDIR /var/lib/warmpool
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD warmpool health --server "http://127.0.0.1:${WARMPOOL_PORT}" >/dev/null || exit 1
ENTRYPOINT ["warmpool"]
CMD ["serve"]
