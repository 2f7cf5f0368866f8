# syntax=docker/dockerfile:1
#
# Tickwire sample game server (examples/arena) as a small, static, non-root image.
#
#   docker build -t tickwire/arena .
#   docker run --rm -p 8080:8080 tickwire/arena            # single node, no Redis
#   docker compose up --build                              # Redis + 3 nodes + nginx on :8080
#
# Stage 1 builds a static binary (CGO_ENABLED=0, -trimpath) with the Go
# toolchain pinned to the module's minor version. Stage 2 is Alpine, not
# distroless: the HEALTHCHECK needs an HTTP client, and the arena binary has
# no health-probe mode of its own, so we use BusyBox wget. The process runs as
# an unprivileged user (uid/gid 10001) that owns nothing in the image.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first, so a source edit does not re-download modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# TARGETOS/TARGETARCH are set by BuildKit (docker buildx --platform ...);
# empty means "the builder's own platform".
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/arena ./examples/arena

FROM alpine:3.22
RUN addgroup -S -g 10001 tickwire \
 && adduser -S -D -H -u 10001 -G tickwire -s /sbin/nologin tickwire
COPY --from=build /out/arena /usr/local/bin/arena
USER 10001:10001
EXPOSE 8080
# /healthz is liveness: 200 while the node serves its players, draining
# included, so a draining node is not restarted under them. Load balancers
# route on /readyz (503 while draining or without Redis).
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1
# Cluster settings come from the environment (see docs/deploy.md):
# TICKWIRE_REDIS_ADDR, TICKWIRE_NODE_ID, TICKWIRE_ADVERTISE_ADDR,
# TICKWIRE_CLUSTER_SECRET, TICKWIRE_CAPACITY.
ENTRYPOINT ["/usr/local/bin/arena"]
CMD ["-addr", ":8080"]
