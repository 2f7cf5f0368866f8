package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors of the server side of the tool.
var (
	ErrRemoteTarget = errors.New("loadtest: refusing a non-loopback target (use -allow-remote)")
	ErrBadProc      = errors.New("loadtest: cannot parse /proc data")
	ErrSpawn        = errors.New("loadtest: cannot start the arena server")
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports (the kernel exports
// sysconf(_SC_CLK_TCK) = USER_HZ = 100 regardless of CONFIG_HZ).
const clockTicks = 100

// procSample is one reading of a process's CPU time and resident memory.
type procSample struct {
	at     time.Time
	cpu    time.Duration // utime + stime
	rssKiB int64
}

// readProc samples /proc/<pid>/stat (utime, stime) and /proc/<pid>/status
// (VmRSS).
func readProc(pid int) (procSample, error) {
	now := time.Now()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("loadtest: read stat of pid %d: %w", pid, err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("loadtest: read status of pid %d: %w", pid, err)
	}
	rss, err := parseStatusRSS(status)
	if err != nil {
		return procSample{}, err
	}
	return procSample{at: now, cpu: cpu, rssKiB: rss}, nil
}

// parseStatCPU returns utime+stime from the contents of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may itself hold spaces
// and parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat has no command name", ErrBadProc)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: stat has %d fields", ErrBadProc, len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadProc, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// parseStatusRSS returns VmRSS in KiB from /proc/<pid>/status.
func parseStatusRSS(status []byte) (int64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: VmRSS: %w", ErrBadProc, err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("%w: no VmRSS (process gone?)", ErrBadProc)
}

// cpuPercent is the CPU used between two samples in percent of one core.
func cpuPercent(a, b procSample) float64 {
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.cpu-a.cpu) / float64(wall)
}

// checkLoopback refuses URLs whose host is not a loopback address or
// "localhost". Host names other than localhost are never resolved: the
// decision is made on the URL text alone.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("loadtest: bad url %q: %w", raw, err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrRemoteTarget, raw)
}

// metricsURLFor derives the /metrics address of the node serving the
// WebSocket URL ws[s]://host:port/path.
func metricsURLFor(wsURL, path string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", fmt.Errorf("loadtest: bad url %q: %w", wsURL, err)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path, u.RawQuery, u.Fragment = path, "", ""
	return u.String(), nil
}

// spawned is an arena server this tool built and started.
type spawned struct {
	admin   string // the admin endpoints' host:port
	dir     string
	cmd     *exec.Cmd
	addr    string
	logPath string
	exited  chan struct{}
}

// spawnArena builds ./examples/arena (the module must be the working
// directory or a parent of it) into a temporary directory, or uses bin if
// it is not empty, and starts it on a free 127.0.0.1 port, waiting until
// /healthz answers. The build is not part of any measurement. Stop must be
// called.
func spawnArena(ctx context.Context, bin string, extra []string, stderr io.Writer) (*spawned, error) {
	dir, err := os.MkdirTemp("", "tickwire-loadtest-")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpawn, err)
	}
	s := &spawned{dir: dir, logPath: filepath.Join(dir, "arena.log"), exited: make(chan struct{})}
	if bin == "" {
		bin = filepath.Join(dir, "arena")
		fmt.Fprintf(stderr, "building the arena server into %s\n", dir)
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tickwire/tickwire/examples/arena")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("%w: go build: %w", ErrSpawn, err)
		}
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %w", ErrSpawn, err)
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	aport, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %w", ErrSpawn, err)
	}
	s.admin = net.JoinHostPort("127.0.0.1", strconv.Itoa(aport))
	logf, err := os.Create(s.logPath)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %w", ErrSpawn, err)
	}
	args := append([]string{"-addr", s.addr, "-admin-addr", s.admin}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		_ = logf.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %w", ErrSpawn, err)
	}
	go func() {
		_ = s.cmd.Wait()
		_ = logf.Close()
		close(s.exited)
	}()
	if err := s.waitHealthy(ctx, 20*time.Second); err != nil {
		s.Stop(stderr)
		return nil, err
	}
	return s, nil
}

func (s *spawned) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("%w: server exited (log %s)", ErrSpawn, s.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := hc.Get("http://" + s.addr + "/healthz")
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	return fmt.Errorf("%w: /healthz not ready after %v", ErrSpawn, limit)
}

// PID returns the server's process id.
func (s *spawned) PID() int { return s.cmd.Process.Pid }

// Stop interrupts the server (graceful drain), kills it if it is still
// running after 5 s, and removes the temporary directory. If the server
// exited on its own before Stop, the tail of its log goes to w.
func (s *spawned) Stop(w io.Writer) {
	select {
	case <-s.exited:
		if b, err := os.ReadFile(s.logPath); err == nil {
			fmt.Fprintf(w, "arena server exited early; log tail:\n%s\n", tail(b, 2000))
		}
	default:
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	_ = os.RemoveAll(s.dir)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the server binds it; the health check then fails clearly.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// machineSample is the machine-wide CPU time from the "cpu" line of
// /proc/stat, in clock ticks.
type machineSample struct {
	busy, total uint64
	cores       int
}

// readMachine samples /proc/stat.
func readMachine() (machineSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineSample{}, fmt.Errorf("loadtest: read /proc/stat: %w", err)
	}
	return parseProcStat(b)
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat (user nice
// system idle iowait irq softirq steal ...; guest time is already inside
// user) and counts the "cpuN" lines. Busy is everything but idle and
// iowait; steal counts as busy, since the machine's cores were not ours.
func parseProcStat(b []byte) (machineSample, error) {
	var m machineSample
	found := false
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] != "cpu" {
			if strings.HasPrefix(f[0], "cpu") {
				m.cores++
			}
			continue
		}
		if len(f) < 5 {
			return machineSample{}, fmt.Errorf("%w: /proc/stat cpu line has %d fields", ErrBadProc, len(f))
		}
		for i, v := range f[1:min(len(f), 9)] { // user .. steal
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return machineSample{}, fmt.Errorf("%w: /proc/stat cpu field %d: %w", ErrBadProc, i+1, err)
			}
			m.total += n
			if i != 3 && i != 4 { // idle, iowait
				m.busy += n
			}
		}
		found = true
	}
	if !found {
		return machineSample{}, fmt.Errorf("%w: /proc/stat has no cpu line", ErrBadProc)
	}
	return m, nil
}

// machineBusyPercent is the share of all cores' time that was busy between
// two samples, or -1 when no time passed.
func machineBusyPercent(a, b machineSample) float64 {
	if b.total <= a.total {
		return -1
	}
	return 100 * float64(b.busy-a.busy) / float64(b.total-a.total)
}

// readLoadAvg returns the 1-minute load average from /proc/loadavg, or -1.
// The tool shares the machine with the server (and on a shared machine
// with others): a load above the core count means every figure is
// disturbed, so the report shows it.
func readLoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
