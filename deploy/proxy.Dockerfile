# nginx in front of the manager (compose service `proxy`): Debian's nginx,
# deploy/nginx.conf, and the manager image's docs, which nginx serves itself.
# Needs warmpool/manager:latest first (scripts/build-manager-image).
#   DOCKER_BUILDKIT=0 docker build --network host -f deploy/proxy.Dockerfile -t warmpool/proxy:latest .
ARG BASE=warmpool/bookworm-base:latest
FROM warmpool/manager:latest AS docs

FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=docs /opt/warmpool/swagger-ui /opt/warmpool/swagger-ui
COPY deploy/nginx.conf /etc/warmpool/nginx.conf.in
COPY deploy/proxy-entrypoint /usr/local/bin/warmpool-proxy
# The certificate and key are mounted at /etc/warmpool/tls (cert.pem, key.pem).
ENV WARMPOOL_PORT=8080 WARMPOOL_PROXY_PORT=8443
ENTRYPOINT ["/usr/local/bin/warmpool-proxy"]
