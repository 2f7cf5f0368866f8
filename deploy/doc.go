// Package deploy holds Tickwire's deployment files and their tests: the
// nginx load-balancer configuration used by the repository's
// docker-compose.yml, the Prometheus configuration and Grafana provisioning
// of its "monitoring" profile (grafana/dashboards/tickwire.json is the
// dashboard), and a test suite that validates docker-compose.yml,
// deploy/nginx.conf and the Dockerfile without a Docker engine (no engine
// runs on the project's CI machines).
//
// The package exports nothing; it exists so that `go test ./...` (and
// therefore `make test`) runs the checks in compose_test.go:
//
//   - every service is built from the Dockerfile or uses an image pinned to
//     an explicit tag or digest (no :latest, no untagged, no variables);
//   - every service has a health check;
//   - the load balancer publishes host port 8080, depends on every node
//     being healthy, and its mounted nginx config exists, proxies WebSocket
//     upgrades (HTTP/1.1, Upgrade and Connection headers, a long read
//     timeout) and lists every node as an upstream server;
//   - every node depends on Redis being healthy, has a distinct
//     TICKWIRE_NODE_ID, advertises its own service name and listen port, points
//     at the Redis service, shares one cluster secret with the other nodes
//     and has a stop_grace_period long enough for the engine's drain;
//   - the Dockerfile builds with CGO_ENABLED=0 and -trimpath, pins its base
//     images and runs its final stage as a non-root user.
//
// When a Docker client with the compose plugin (`docker compose`) or the
// standalone `docker-compose` is installed, the test also runs
// `config -q` through it; otherwise it logs that it skipped that part.
//
// dashboard_test.go checks that every query of the Grafana dashboard names
// a series a node exports (and every tickwire_ family is on a panel), and
// that the monitoring profile scrapes every node and mounts the dashboard.
//
// cluster_test.go runs scripts/cluster.sh --check (Redis and three arena
// nodes as local processes) when redis-server is installed.
package deploy
