package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Sentinel errors: every problem the validator reports wraps one of them, so
// the tests below can check that each kind of mistake is caught.
var (
	errNoServices       = errors.New("compose file has no services")
	errUnpinnedImage    = errors.New("image not pinned to an explicit tag")
	errNoHealthcheck    = errors.New("no health check")
	errTopology         = errors.New("unexpected topology")
	errLoadBalancer     = errors.New("load balancer misconfigured")
	errNodeDependsOn    = errors.New("node does not wait for a healthy redis")
	errNodeID           = errors.New("node id missing or not unique")
	errAdvertise        = errors.New("advertise address does not name the node's service and port")
	errRedisAddr        = errors.New("redis address does not name the redis service")
	errRedisPersistence = errors.New("redis runs without append-only persistence")
	errSecret           = errors.New("cluster secret missing or not shared by every node")
	errGracePeriod      = errors.New("stop_grace_period shorter than the drain timeout")
	errNginx            = errors.New("nginx config does not proxy WebSockets to every node")
	errNginxSyntax      = errors.New("nginx config syntax")
	errNginxDuration    = errors.New("bad nginx time value")
	errDockerfile       = errors.New("dockerfile requirement not met")
	errDockerfileSyntax = errors.New("dockerfile syntax")
)

const (
	// composePath is the compose file, relative to the repository root.
	composePath = "docker-compose.yml"
	// lbHostPort is the host port the load balancer must publish.
	lbHostPort = "8080"
	// defaultNodePort is the arena server's default -addr port.
	defaultNodePort = "8080"
	// defaultDrainTimeout is the arena server's drain timeout when
	// TICKWIRE_DRAIN_TIMEOUT is unset. A node's stop_grace_period must be
	// longer than its drain timeout, or Docker SIGKILLs it mid-drain, before
	// it closes connections with 1001 and deregisters.
	defaultDrainTimeout = 30 * time.Second
	// minProxyReadTimeout: a WebSocket may be quiet for a while (ping
	// interval, idle lobby); nginx's 60 s default cuts such connections.
	minProxyReadTimeout = 5 * time.Minute
)

// repoRoot is the repository root: this package lives in deploy/.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// readFunc reads a file named relative to the repository root; tests swap it
// to feed broken variants of nginx.conf or the Dockerfile.
type readFunc func(rel string) ([]byte, error)

// validate checks a parsed compose file and the files it refers to. It
// returns every problem found, each wrapping one of the sentinel errors.
func validate(c *composeFile, read readFunc) []error {
	var errs []error
	add := func(sentinel error, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...)))
	}

	names := make([]string, 0, len(c.Services))
	for name := range c.Services {
		names = append(names, name)
	}
	slices.Sort(names)

	// Classify: nodes are built from the Dockerfile; redis is the service
	// running the redis image; the load balancer publishes lbHostPort.
	var nodes, redis, lbs []string
	for _, name := range names {
		s := c.Services[name]
		if s == nil {
			add(errTopology, "service %q is empty", name)
			continue
		}
		if s.Build == nil && !imagePinned(s.Image) {
			add(errUnpinnedImage, "service %q: image %q (want name:tag with a tag other than latest, or a digest)", name, s.Image)
		}
		if s.Healthcheck == nil || s.Healthcheck.Disable || len(s.Healthcheck.Test) == 0 || s.Healthcheck.Test[0] == "NONE" {
			add(errNoHealthcheck, "service %q", name)
		}
		switch {
		case s.Build != nil:
			nodes = append(nodes, name)
		case imageRepo(s.Image) == "redis":
			redis = append(redis, name)
		}
		for _, p := range s.Ports {
			if p.Published == lbHostPort {
				lbs = append(lbs, name)
			}
		}
	}
	if len(nodes) < 3 {
		add(errTopology, "want at least 3 game nodes built from the Dockerfile, have %v", nodes)
	}
	if len(redis) != 1 {
		add(errTopology, "want exactly one redis service, have %v", redis)
	}
	for _, name := range redis {
		// Matchmaking tickets live only in Redis: a restart without
		// persistence loses them (the nodes re-queue what they hold, but
		// tickets of players on a node that is down are gone).
		if !appendOnly(c.Services[name].Command) {
			add(errRedisPersistence, "service %q: command %q lacks --appendonly yes", name, c.Services[name].Command)
		}
	}
	if len(lbs) != 1 {
		add(errLoadBalancer, "want exactly one service publishing host port %s, have %v", lbHostPort, lbs)
	}

	nodePort := map[string]string{}
	ids := map[string]string{}
	secrets := map[string][]string{}
	for _, name := range nodes {
		s := c.Services[name]
		port := listenPort(s.Command)
		nodePort[name] = port
		if len(redis) == 1 && s.DependsOn[redis[0]] != "service_healthy" {
			add(errNodeDependsOn, "node %q: depends_on %s condition %q", name, redis[0], s.DependsOn[redis[0]])
		}
		id := s.Environment["TICKWIRE_NODE_ID"]
		switch {
		case id == "":
			add(errNodeID, "node %q has no TICKWIRE_NODE_ID", name)
		case ids[id] != "":
			add(errNodeID, "nodes %q and %q share TICKWIRE_NODE_ID %q", ids[id], name, id)
		default:
			ids[id] = name
		}
		if adv, want := s.Environment["TICKWIRE_ADVERTISE_ADDR"], net.JoinHostPort(name, port); adv != want {
			add(errAdvertise, "node %q: TICKWIRE_ADVERTISE_ADDR %q, want %q", name, adv, want)
		}
		if len(redis) == 1 {
			host, _, err := net.SplitHostPort(s.Environment["TICKWIRE_REDIS_ADDR"])
			if err != nil || host != redis[0] {
				add(errRedisAddr, "node %q: TICKWIRE_REDIS_ADDR %q, want %s:<port>", name, s.Environment["TICKWIRE_REDIS_ADDR"], redis[0])
			}
		}
		secret := s.Environment["TICKWIRE_CLUSTER_SECRET"]
		if secret == "" {
			add(errSecret, "node %q has no TICKWIRE_CLUSTER_SECRET", name)
		} else {
			secrets[secret] = append(secrets[secret], name)
		}
		drain := defaultDrainTimeout
		if v, ok := s.Environment["TICKWIRE_DRAIN_TIMEOUT"]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				add(errGracePeriod, "node %q: TICKWIRE_DRAIN_TIMEOUT %q: %v", name, v, err)
			}
			drain = d
		}
		if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d <= drain {
			add(errGracePeriod, "node %q: stop_grace_period %q, want longer than the drain timeout %v", name, s.StopGracePeriod, drain)
		}
		if s.Build != nil {
			errs = append(errs, validateDockerfile(name, s.Build, port, read)...)
		}
	}
	if len(secrets) > 1 {
		add(errSecret, "nodes use %d different secrets: reservations signed by one node would be rejected by another", len(secrets))
	}

	if len(lbs) == 1 {
		errs = append(errs, validateLB(lbs[0], c.Services[lbs[0]], nodes, nodePort, read)...)
	}
	return errs
}

// listenPort returns the port of the node command's -addr flag, or the
// arena server's default.
func listenPort(cmd []string) string {
	for i, a := range cmd {
		var v string
		switch {
		case (a == "-addr" || a == "--addr") && i+1 < len(cmd):
			v = cmd[i+1]
		case strings.HasPrefix(a, "-addr=") || strings.HasPrefix(a, "--addr="):
			_, v, _ = strings.Cut(a, "=")
		default:
			continue
		}
		if _, p, err := net.SplitHostPort(v); err == nil {
			return p
		}
	}
	return defaultNodePort
}

// validateLB checks the load balancer service and its nginx config.
func validateLB(name string, s *service, nodes []string, nodePort map[string]string, read readFunc) []error {
	var errs []error
	add := func(sentinel error, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...)))
	}
	for _, n := range nodes {
		if s.DependsOn[n] != "service_healthy" {
			add(errLoadBalancer, "%q: depends_on %s condition %q, want service_healthy", name, n, s.DependsOn[n])
		}
	}
	var target string
	for _, p := range s.Ports {
		if p.Published == lbHostPort {
			target = p.Target
		}
	}
	var confPath string
	for _, v := range s.Volumes {
		if v.Target == "/etc/nginx/nginx.conf" || strings.HasPrefix(v.Target, "/etc/nginx/conf.d/") {
			confPath = v.Source
		}
	}
	if confPath == "" {
		add(errLoadBalancer, "%q mounts no nginx config (/etc/nginx/nginx.conf or /etc/nginx/conf.d/*.conf)", name)
		return errs
	}
	if filepath.IsAbs(confPath) || !strings.HasPrefix(confPath, "./") {
		add(errLoadBalancer, "%q: nginx config %q must be a path inside the repository, starting with ./", name, confPath)
		return errs
	}
	data, err := read(filepath.Clean(confPath))
	if err != nil {
		add(errLoadBalancer, "%q: nginx config: %v", name, err)
		return errs
	}
	conf, err := parseNginx(string(data))
	if err != nil {
		return append(errs, fmt.Errorf("%s: %w", confPath, err))
	}

	upstreams := map[string][]string{} // upstream name -> server addresses
	listens := map[string]bool{}
	type proxied struct {
		upstream string
		chain    []*ngxDirective // enclosing blocks, innermost last, then the location itself
	}
	var proxies []proxied
	ngxWalk(conf, nil, func(d *ngxDirective, parents []*ngxDirective) {
		switch d.Name {
		case "upstream":
			if len(d.Args) == 1 {
				for _, sd := range d.Block {
					if sd.Name == "server" && len(sd.Args) > 0 {
						upstreams[d.Args[0]] = append(upstreams[d.Args[0]], sd.Args[0])
					}
				}
			}
		case "listen":
			if len(d.Args) > 0 {
				a := d.Args[0]
				if _, p, err := net.SplitHostPort(a); err == nil {
					a = p
				}
				listens[a] = true
			}
		case "proxy_pass":
			if len(d.Args) == 1 {
				u := strings.TrimPrefix(strings.TrimPrefix(d.Args[0], "http://"), "https://")
				u, _, _ = strings.Cut(u, "/")
				proxies = append(proxies, proxied{upstream: u, chain: parents})
			}
		}
	})
	if target != "" && !listens[target] {
		add(errNginx, "%s: no server listens on %s, the port %q publishes", confPath, target, name)
	}
	if len(proxies) == 0 {
		add(errNginx, "%s: no proxy_pass", confPath)
	}
	for _, p := range proxies {
		servers, ok := upstreams[p.upstream]
		if !ok {
			add(errNginx, "%s: proxy_pass to %q, which is not an upstream block", confPath, p.upstream)
			continue
		}
		for _, n := range nodes {
			if want := net.JoinHostPort(n, nodePort[n]); !slices.Contains(servers, want) {
				add(errNginx, "%s: upstream %q lacks server %s", confPath, p.upstream, want)
			}
		}
		// Effective directive: the innermost level that sets it wins.
		lookup := func(name string) [][]string {
			for i := len(p.chain) - 1; i >= 0; i-- {
				var found [][]string
				for _, d := range p.chain[i].Block {
					if d.Name == name {
						found = append(found, d.Args)
					}
				}
				if found != nil {
					return found
				}
			}
			for _, d := range conf {
				if d.Name == name {
					return [][]string{d.Args}
				}
			}
			return nil
		}
		if v := lookup("proxy_http_version"); len(v) != 1 || !slices.Equal(v[0], []string{"1.1"}) {
			add(errNginx, "%s: proxy to %q without proxy_http_version 1.1", confPath, p.upstream)
		}
		headers := map[string]string{}
		for _, h := range lookup("proxy_set_header") {
			if len(h) == 2 {
				headers[strings.ToLower(h[0])] = h[1]
			}
		}
		if headers["upgrade"] != "$http_upgrade" {
			add(errNginx, "%s: proxy to %q does not pass Upgrade $http_upgrade", confPath, p.upstream)
		}
		if c := headers["connection"]; !strings.HasPrefix(c, "$") && !strings.EqualFold(c, "upgrade") {
			add(errNginx, "%s: proxy to %q does not set Connection to upgrade (or a map of $http_upgrade)", confPath, p.upstream)
		}
		rt := lookup("proxy_read_timeout")
		if len(rt) != 1 || len(rt[0]) != 1 {
			add(errNginx, "%s: proxy to %q keeps nginx's 60 s proxy_read_timeout; want at least %v", confPath, p.upstream, minProxyReadTimeout)
		} else if d, err := ngxDuration(rt[0][0]); err != nil || d < minProxyReadTimeout {
			add(errNginx, "%s: proxy_read_timeout %q, want at least %v", confPath, rt[0][0], minProxyReadTimeout)
		}
	}
	return errs
}

// validateDockerfile checks the Dockerfile a node is built from.
func validateDockerfile(node string, b *buildSpec, port string, read readFunc) []error {
	var errs []error
	add := func(sentinel error, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...)))
	}
	ctx := b.Context
	if ctx == "" {
		ctx = "."
	}
	df := b.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	path := filepath.Join(ctx, df)
	data, err := read(path)
	if err != nil {
		add(errDockerfile, "node %q: %v", node, err)
		return errs
	}
	stages, err := parseDockerfile(string(data))
	if err != nil {
		return append(errs, fmt.Errorf("%s: %w", path, err))
	}
	stageNames := map[string]bool{}
	for _, st := range stages {
		if !stageNames[st.Image] && st.Image != "scratch" && !imagePinned(st.Image) {
			add(errUnpinnedImage, "%s: FROM %s", path, st.Image)
		}
		if st.Name != "" {
			stageNames[st.Name] = true
		}
	}

	// Some stage runs `go build` with -trimpath and CGO_ENABLED=0, set in
	// that RUN or by an ENV of the same stage.
	static := false
	for _, st := range stages {
		cgoEnv := false
		for _, in := range st.Instrs {
			if in.Cmd == "ENV" && strings.Contains(in.Args, "CGO_ENABLED=0") {
				cgoEnv = true
			}
			if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") &&
				strings.Contains(in.Args, "-trimpath") &&
				(cgoEnv || strings.Contains(in.Args, "CGO_ENABLED=0")) {
				static = true
			}
		}
	}
	if !static {
		add(errDockerfile, "%s: no `go build -trimpath` with CGO_ENABLED=0", path)
	}

	final := stages[len(stages)-1]
	user := ""
	exposed := false
	for _, in := range final.Instrs {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "EXPOSE":
			for _, p := range strings.Fields(in.Args) {
				p, _, _ = strings.Cut(p, "/")
				if p == port {
					exposed = true
				}
			}
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		add(errDockerfile, "%s: final stage runs as root (USER %q)", path, user)
	}
	if !exposed {
		add(errDockerfile, "%s: final stage does not EXPOSE %s", path, port)
	}
	return errs
}

// loadRepo parses the repository's compose file and returns a reader for
// the files it refers to.
func loadRepo(t *testing.T) (*composeFile, readFunc) {
	t.Helper()
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, composePath))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCompose(data)
	if err != nil {
		t.Fatal(err)
	}
	read := func(rel string) ([]byte, error) {
		if !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("%q is outside the repository", rel)
		}
		return os.ReadFile(filepath.Join(root, rel))
	}
	return c, read
}

func TestComposeFile(t *testing.T) {
	c, read := loadRepo(t)
	for _, err := range validate(c, read) {
		t.Error(err)
	}
}

// TestComposeValidatorCatches proves each check can fail: it breaks the real
// files one way at a time and expects the matching sentinel error.
func TestComposeValidatorCatches(t *testing.T) {
	replaceIn := func(file, old, new string) func(*composeFile, *readFunc) {
		return func(_ *composeFile, read *readFunc) {
			orig := *read
			*read = func(rel string) ([]byte, error) {
				b, err := orig(rel)
				if err != nil || rel != file {
					return b, err
				}
				if !strings.Contains(string(b), old) {
					// Not an error return: that could satisfy the
					// expectation for the wrong reason.
					panic(fmt.Sprintf("test setup: %q not in %s", old, file))
				}
				return []byte(strings.ReplaceAll(string(b), old, new)), nil
			}
		}
	}
	tests := []struct {
		name   string
		mutate func(*composeFile, *readFunc)
		want   error
	}{
		{"untagged image", func(c *composeFile, _ *readFunc) { c.Services["redis"].Image = "redis" }, errUnpinnedImage},
		{"latest image", func(c *composeFile, _ *readFunc) { c.Services["lb"].Image = "nginx:latest" }, errUnpinnedImage},
		{"variable tag", func(c *composeFile, _ *readFunc) { c.Services["redis"].Image = "redis:${TAG}" }, errUnpinnedImage},
		{"no healthcheck", func(c *composeFile, _ *readFunc) { c.Services["node2"].Healthcheck = nil }, errNoHealthcheck},
		{"disabled healthcheck", func(c *composeFile, _ *readFunc) { c.Services["redis"].Healthcheck.Test = stringList{"NONE"} }, errNoHealthcheck},
		{"two nodes", func(c *composeFile, _ *readFunc) {
			delete(c.Services, "node3")
			delete(c.Services["lb"].DependsOn, "node3")
		}, errTopology},
		{"no redis", func(c *composeFile, _ *readFunc) { delete(c.Services, "redis") }, errTopology},
		{"redis without persistence", func(c *composeFile, _ *readFunc) {
			c.Services["redis"].Command = stringList{"redis-server", "--appendonly", "no"}
		}, errRedisPersistence},
		{"duplicate node id", func(c *composeFile, _ *readFunc) { c.Services["node3"].Environment["TICKWIRE_NODE_ID"] = "node1" }, errNodeID},
		{"missing node id", func(c *composeFile, _ *readFunc) { delete(c.Services["node1"].Environment, "TICKWIRE_NODE_ID") }, errNodeID},
		{"advertise other node", func(c *composeFile, _ *readFunc) {
			c.Services["node2"].Environment["TICKWIRE_ADVERTISE_ADDR"] = "node1:8080"
		}, errAdvertise},
		{"advertise wrong port", func(c *composeFile, _ *readFunc) { c.Services["node2"].Command = stringList{"-addr", ":9000"} }, errAdvertise},
		{"redis addr", func(c *composeFile, _ *readFunc) {
			c.Services["node1"].Environment["TICKWIRE_REDIS_ADDR"] = "localhost:6379"
		}, errRedisAddr},
		{"different secrets", func(c *composeFile, _ *readFunc) { c.Services["node3"].Environment["TICKWIRE_CLUSTER_SECRET"] = "x" }, errSecret},
		{"no secret", func(c *composeFile, _ *readFunc) { delete(c.Services["node3"].Environment, "TICKWIRE_CLUSTER_SECRET") }, errSecret},
		{"node starts before redis healthy", func(c *composeFile, _ *readFunc) {
			c.Services["node1"].DependsOn["redis"] = "service_started"
		}, errNodeDependsOn},
		{"short grace period", func(c *composeFile, _ *readFunc) { c.Services["node1"].StopGracePeriod = "10s" }, errGracePeriod},
		{"drain longer than grace", func(c *composeFile, _ *readFunc) {
			c.Services["node2"].Environment["TICKWIRE_DRAIN_TIMEOUT"] = "1m"
		}, errGracePeriod},
		{"bad drain timeout", func(c *composeFile, _ *readFunc) {
			c.Services["node2"].Environment["TICKWIRE_DRAIN_TIMEOUT"] = "soon"
		}, errGracePeriod},
		{"no grace period", func(c *composeFile, _ *readFunc) { c.Services["node1"].StopGracePeriod = "" }, errGracePeriod},
		{"lb not on 8080", func(c *composeFile, _ *readFunc) {
			c.Services["lb"].Ports = []portSpec{{Published: "80", Target: "80"}}
		}, errLoadBalancer},
		{"lb ignores node health", func(c *composeFile, _ *readFunc) { delete(c.Services["lb"].DependsOn, "node2") }, errLoadBalancer},
		{"lb without config", func(c *composeFile, _ *readFunc) { c.Services["lb"].Volumes = nil }, errLoadBalancer},
		{"lb config missing", func(c *composeFile, _ *readFunc) {
			c.Services["lb"].Volumes = []volumeSpec{{Source: "./deploy/missing.conf", Target: "/etc/nginx/nginx.conf"}}
		}, errLoadBalancer},
		{"nginx lacks a node", replaceIn("deploy/nginx.conf", "server node3:8080", "server node9:8080"), errNginx},
		{"nginx no upgrade header", replaceIn("deploy/nginx.conf", "proxy_set_header Upgrade $http_upgrade;", ""), errNginx},
		{"nginx upgrade header only in a comment", replaceIn("deploy/nginx.conf", "proxy_set_header Upgrade $http_upgrade;", "# proxy_set_header Upgrade $http_upgrade;"), errNginx},
		{"nginx no connection header", replaceIn("deploy/nginx.conf", "proxy_set_header Connection $connection_upgrade;", ""), errNginx},
		{"nginx http 1.0", replaceIn("deploy/nginx.conf", "proxy_http_version 1.1;", ""), errNginx},
		{"nginx short read timeout", replaceIn("deploy/nginx.conf", "proxy_read_timeout 1h;", "proxy_read_timeout 60s;"), errNginx},
		{"nginx listens elsewhere", replaceIn("deploy/nginx.conf", "listen 80;", "listen 81;"), errNginx},
		{"nginx syntax", replaceIn("deploy/nginx.conf", "keepalive 32;\n    }", "keepalive 32;"), errNginxSyntax},
		{"dockerfile root", replaceIn("Dockerfile", "USER 10001:10001", "USER root"), errDockerfile},
		{"dockerfile no user", replaceIn("Dockerfile", "USER 10001:10001", ""), errDockerfile},
		{"dockerfile cgo", replaceIn("Dockerfile", "CGO_ENABLED=0", "CGO_ENABLED=1"), errDockerfile},
		{"dockerfile no trimpath", replaceIn("Dockerfile", "-trimpath", ""), errDockerfile},
		{"dockerfile latest base", replaceIn("Dockerfile", "FROM alpine:3.22", "FROM alpine"), errUnpinnedImage},
		{"dockerfile no expose", replaceIn("Dockerfile", "EXPOSE 8080", "EXPOSE 9090"), errDockerfile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, read := loadRepo(t)
			tt.mutate(c, &read)
			errs := validate(c, read)
			if !slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, tt.want) }) {
				t.Fatalf("want an error wrapping %q, got %v", tt.want, errs)
			}
		})
	}
}

// TestDockerComposeConfig runs `docker compose config -q` (or the standalone
// docker-compose) on the file when a client is installed. It needs no Docker
// engine.
func TestDockerComposeConfig(t *testing.T) {
	root := repoRoot(t)
	var argv []string
	if path, err := exec.LookPath("docker"); err == nil && exec.Command(path, "compose", "version").Run() == nil {
		argv = []string{path, "compose"}
	} else if path, err := exec.LookPath("docker-compose"); err == nil {
		argv = []string{path}
	}
	if argv == nil {
		t.Log("neither `docker compose` nor `docker-compose` is installed: skipping `config -q` (the structural checks above still ran)")
		return
	}
	// The bound only stops a wedged client from hanging the test run.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], "-f", filepath.Join(root, composePath), "config", "-q")...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s config -q: %v\n%s", strings.Join(argv, " "), err, out)
	}
	t.Logf("%s config -q: ok", strings.Join(argv, " "))
}

func TestImagePinned(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"redis:7.4-alpine", true},
		{"docker.io/library/nginx:1.28-alpine", true},
		{"localhost:5000/tickwire/arena:v1", true},
		{"redis@sha256:" + strings.Repeat("a", 64), true},
		{"redis", false},
		{"redis:latest", false},
		{"localhost:5000/arena", false},
		{"redis:${REDIS_TAG}", false},
		{"redis@sha256:abc", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := imagePinned(tt.ref); got != tt.want {
			t.Errorf("imagePinned(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

func TestNginxDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"60", time.Minute, false},
		{"60s", time.Minute, false},
		{"1h", time.Hour, false},
		{"1h 30m", 90 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"500ms", 500 * time.Millisecond, false},
		{"1d", 24 * time.Hour, false},
		{"", 0, true},
		{"1x", 0, true},
		{"s", 0, true},
	}
	for _, tt := range tests {
		got, err := ngxDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ngxDuration(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseNginxErrors(t *testing.T) {
	for _, src := range []string{
		"http { server { listen 80; }",
		"}",
		"listen 80",
		`proxy_pass "http://x;`,
		"a { ; }",
	} {
		if _, err := parseNginx(src); !errors.Is(err, errNginxSyntax) {
			t.Errorf("parseNginx(%q) = %v, want %v", src, err, errNginxSyntax)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	src := "# syntax=docker/dockerfile:1\nARG GO=1.26\nFROM --platform=$BUILDPLATFORM golang:1.26 AS build\nRUN a \\\n  # comment\n  b\nFROM scratch\nUSER 1:1\n"
	stages, err := parseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0].Name != "build" || stages[0].Image != "golang:1.26" || stages[1].Image != "scratch" {
		t.Fatalf("stages = %+v", stages)
	}
	if in := stages[0].Instrs; len(in) != 1 || in[0].Cmd != "RUN" || strings.Join(strings.Fields(in[0].Args), " ") != "a b" {
		t.Fatalf("build stage instructions = %+v", in)
	}
	for _, bad := range []string{"", "RUN x\n", "FROM a\nRUN x \\"} {
		if _, err := parseDockerfile(bad); !errors.Is(err, errDockerfileSyntax) {
			t.Errorf("parseDockerfile(%q) = %v, want %v", bad, err, errDockerfileSyntax)
		}
	}
}

// FuzzParseNginx: the nginx reader never panics and either parses or returns
// errNginxSyntax.
func FuzzParseNginx(f *testing.F) {
	if b, err := os.ReadFile("nginx.conf"); err == nil {
		f.Add(string(b))
	}
	f.Add(`a "b\"c" 'd' { e; }`)
	f.Fuzz(func(t *testing.T, src string) {
		if _, err := parseNginx(src); err != nil && !errors.Is(err, errNginxSyntax) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// FuzzParseCompose: arbitrary YAML never panics the compose loader or the
// validator.
func FuzzParseCompose(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", composePath)); err == nil {
		f.Add(b)
	}
	f.Add([]byte("services: {a: {image: x, ports: [\"1:2\"], depends_on: [b]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseCompose(data)
		if err != nil {
			return
		}
		validate(c, func(string) ([]byte, error) { return nil, os.ErrNotExist })
	})
}

// dockerignored reports whether a .dockerignore pattern list excludes rel (a
// slash-separated path in the build context). It implements what this
// repository's file uses: comments, "!" exceptions, a leading "/", "**/"
// prefixes and filepath.Match globs; a pattern that matches a directory
// excludes everything under it. The last matching pattern wins, as in Docker.
func dockerignored(patterns []string, rel string) bool {
	parts := strings.Split(rel, "/")
	excluded := false
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
		anyDepth := false
		for strings.HasPrefix(p, "**/") {
			p, anyDepth = strings.TrimPrefix(p, "**/"), true
		}
		plen := len(strings.Split(p, "/"))
		matched := false
		for start := 0; start < len(parts) && !matched; start++ {
			if start > 0 && !anyDepth {
				break
			}
			for end := start + plen; end <= len(parts); end++ {
				if end-start != plen {
					break
				}
				if ok, _ := filepath.Match(p, strings.Join(parts[start:end], "/")); ok {
					matched = true
					break
				}
			}
		}
		if matched {
			excluded = !neg
		}
	}
	return excluded
}

func TestDockerignore(t *testing.T) {
	patterns := []string{"# c", ".git", "web-client", "**/node_modules", "**/*.test", "/bin", "docs", "!docs/keep.md"}
	tests := []struct {
		path string
		want bool
	}{
		{".git/config", true},
		{"web-client/src/a.ts", true},
		{"a/b/node_modules/x.js", true},
		{"node_modules/x.js", true},
		{"engine/engine.test", true},
		{"bin/arena", true},
		{"docs/deploy.md", true},
		{"docs/keep.md", false},
		{"examples/arena/main.go", false},
		{"examples/arena/web/dist/app.js", false},
		{"engine/bin/x.go", false},
		{"go.mod", false},
	}
	for _, tt := range tests {
		if got := dockerignored(patterns, tt.path); got != tt.want {
			t.Errorf("dockerignored(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestDockerContextHasSources checks that .dockerignore keeps every file the
// image build needs: go.mod, go.sum, and the Go and embedded files of every
// package of this module that ./examples/arena depends on.
func TestDockerContextHasSources(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns := strings.Split(string(data), "\n")
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	const pkg = "./examples/arena"
	if !strings.Contains(string(df), pkg) {
		t.Fatalf("Dockerfile does not build %s; update this test", pkg)
	}
	cmd := exec.Command("go", "list", "-e", "-deps",
		"-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}{{end}}`, pkg)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	need := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, rest, _ := strings.Cut(line, "|")
		goFiles, embeds, _ := strings.Cut(rest, "|")
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(strings.Split(goFiles, ","), strings.Split(embeds, ",")...) {
			if f != "" {
				need = append(need, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	if len(need) < 5 {
		t.Fatalf("go list found only %v; expected the arena's packages", need)
	}
	for _, f := range need {
		if dockerignored(patterns, f) {
			t.Errorf(".dockerignore excludes %s, which the image build needs", f)
		}
	}
}

// appendOnly reports whether a redis-server command line turns on
// append-only persistence (the last --appendonly wins, as in Redis).
func appendOnly(cmd stringList) bool {
	on := false
	for i := 0; i+1 < len(cmd); i++ {
		if cmd[i] == "--appendonly" {
			on = cmd[i+1] == "yes"
		}
	}
	return on
}
