#!/usr/bin/env bash
# scripts/cluster.sh — `make cluster`: the docker-compose topology on one
# machine without Docker: a real redis-server, three arena nodes in cluster
# mode, and nginx as a round-robin entry point when nginx is installed.
#
#   scripts/cluster.sh            start everything, print the URLs, Ctrl-C stops it all
#   scripts/cluster.sh --check    start, wait for health, query every node, stop; exit 0 if all good
#
# Everything binds 127.0.0.1. Defaults (each overridable by environment):
#   TICKWIRE_CLUSTER_REDIS_PORT  6390   redis-server
#   TICKWIRE_CLUSTER_BASE_PORT   8081   node1; node2 and node3 take the next free ports
#   TICKWIRE_CLUSTER_LB_PORT     8080   nginx (only if installed)
#   TICKWIRE_CLUSTER_NODES       3
#   TICKWIRE_CLUSTER_SECRET      a development secret shared by the nodes
#   TICKWIRE_CLUSTER_ADMIN_TOKEN the monitor's token on every node (default: random, printed)
#   TICKWIRE_CLUSTER_DIR         bin/cluster   logs, nginx config, redis working dir
#   TICKWIRE_CLUSTER_BIN         bin/arena     where the arena server is built
#   TICKWIRE_CLUSTER_TIMEOUT     60     seconds to wait for each service to come up
# A port that cannot be bound is replaced by the next free one (and reported),
# so --check can run while another cluster or test is using the defaults; the
# defaults lie below the kernel's ephemeral port range, where outgoing
# connections take their ports. Redis runs with append-only persistence in
# the cluster directory, so matchmaking tickets survive its restart.
#
# Exit codes: 0 ok; 1 a service failed (its log tail is printed); 2 usage or
# a missing tool; 3 the arena binary lacks the cluster flags (-redis,
# -node-id, -advertise, -secret, -capacity).
set -euo pipefail

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }

mode=run
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
root=$(pwd)

redis_port=${TICKWIRE_CLUSTER_REDIS_PORT:-6390}
base_port=${TICKWIRE_CLUSTER_BASE_PORT:-8081}
lb_port=${TICKWIRE_CLUSTER_LB_PORT:-8080}
nodes=${TICKWIRE_CLUSTER_NODES:-3}
secret=${TICKWIRE_CLUSTER_SECRET:-tickwire-dev-secret-change-me}
admin_token=${TICKWIRE_CLUSTER_ADMIN_TOKEN:-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')}
dir=${TICKWIRE_CLUSTER_DIR:-$root/bin/cluster}
bin=${TICKWIRE_CLUSTER_BIN:-$root/bin/arena}
timeout=${TICKWIRE_CLUSTER_TIMEOUT:-60}

say() { echo "cluster: $*"; }
fail() { echo "cluster: FAIL: $1" >&2; exit "${2:-1}"; }

for tool in go redis-server redis-cli curl; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (Debian: apt-get install redis-server curl)" 2
done

mkdir -p "$dir" "$(dirname "$bin")"
dir=$(cd "$dir" && pwd)

# --- process bookkeeping: only what this script started is stopped ----------
pids=()      # every background process, in start order
names=()     # its name, same index
logs=()      # its log file, same index
stopping=0

start() { # start NAME LOGFILE CMD...
  local name=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 &
  pids+=("$!"); names+=("$name"); logs+=("$log")
}

show_log() { # show_log INDEX
  echo "---- last lines of ${logs[$1]} (${names[$1]}) ----" >&2
  tail -n 20 "${logs[$1]}" >&2 || true
}

stop_group() { # stop_group INDEX...: SIGTERM them together, wait (bounded), then SIGKILL
  local i n=0
  for i in "$@"; do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  # The engine drains for up to its drain timeout (30 s by default).
  for i in "$@"; do
    while kill -0 "${pids[$i]}" 2>/dev/null && [ $n -lt 350 ]; do
      sleep 0.1; n=$((n + 1))
    done
  done
  for i in "$@"; do
    kill -KILL "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
}

cleanup() {
  local rc=$?
  [ "$stopping" = 1 ] && return
  stopping=1
  trap - INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    say "stopping ${#pids[@]} processes"
    # Load balancer first, then all nodes at once (SIGTERM drains them),
    # then Redis last so draining nodes can still deregister.
    local i lb=() nodes_i=() rest=()
    for ((i = 0; i < ${#pids[@]}; i++)); do
      case "${names[$i]}" in
        nginx) lb+=("$i") ;;
        node*) nodes_i+=("$i") ;;
        *) rest+=("$i") ;;
      esac
    done
    [ ${#lb[@]} -eq 0 ] || stop_group "${lb[@]}"
    [ ${#nodes_i[@]} -eq 0 ] || stop_group "${nodes_i[@]}"
    [ ${#rest[@]} -eq 0 ] || stop_group "${rest[@]}"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- ports --------------------------------------------------------------------
taken=" "
port_free() { # 127.0.0.1:$1 can be bound now and was not handed out yet
  case "$taken" in *" $1 "*) return 1 ;; esac
  if command -v perl >/dev/null 2>&1; then
    # Bind, not connect: a port held by an outgoing connection (the
    # ephemeral range) accepts no connection but cannot be bound either.
    perl -MSocket -e 'socket(my $s, PF_INET, SOCK_STREAM, 0) or exit 1;
      bind($s, sockaddr_in($ARGV[0], inet_aton("127.0.0.1"))) or exit 1' "$1"
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}
ephemeral_lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
picked=""
pick_port() { # pick_port WANTED: sets $picked to WANTED or the next free port (no subshell, so $taken sticks)
  local p=$1
  while ! port_free "$p"; do
    p=$((p + 1))
    [ "$p" -lt $(($1 + 200)) ] || fail "no free port in $1..$p" 2
  done
  taken="$taken$p "
  [ "$p" = "$1" ] || echo "cluster: port $1 is in use, using $p" >&2
  [ "$p" -lt "$ephemeral_lo" ] || echo "cluster: warning: port $p is in the ephemeral range (from $ephemeral_lo); outgoing connections may take it" >&2
  picked=$p
}

# --- build ----------------------------------------------------------------------
say "building ./examples/arena -> $bin"
go build -trimpath -o "$bin" ./examples/arena

help=$("$bin" -help 2>&1 || true)
missing=()
for flag in redis node-id advertise secret capacity; do
  grep -qE "^[[:space:]]+-$flag([[:space:]]|$)" <<<"$help" || missing+=("-$flag")
done
if [ ${#missing[@]} -gt 0 ]; then
  fail "the arena server has no cluster mode yet: \`$bin -help\` lacks ${missing[*]}.
  Cluster mode (issue 5) adds these flags to examples/arena; until it lands only a single node runs (make run)." 3
fi

# --- redis ----------------------------------------------------------------------
pick_port "$redis_port"; redis_port=$picked
mkdir -p "$dir/redis"
start redis "$dir/redis.log" redis-server --bind 127.0.0.1 --port "$redis_port" \
  --dir "$dir/redis" --save "" --appendonly yes --appendfsync everysec --daemonize no
redis_idx=$((${#pids[@]} - 1))

deadline=$((SECONDS + timeout))
until [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ]; do
  kill -0 "${pids[$redis_idx]}" 2>/dev/null || { show_log "$redis_idx"; fail "redis-server exited"; }
  [ $SECONDS -lt $deadline ] || { show_log "$redis_idx"; fail "redis-server not answering after ${timeout}s"; }
  sleep 0.1
done
say "redis      127.0.0.1:$redis_port"

# --- nodes ----------------------------------------------------------------------
node_ports=()
admin_ports=()
node_idx=()
next=$base_port
for ((i = 1; i <= nodes; i++)); do
  pick_port "$next"; p=$picked; next=$((p + 1))
  pick_port "$next"; a=$picked; next=$((a + 1))
  node_ports+=("$p")
  admin_ports+=("$a")
  start "node$i" "$dir/node$i.log" "$bin" -addr "127.0.0.1:$p" -admin-addr "127.0.0.1:$a" \
    -redis "127.0.0.1:$redis_port" -node-id "node$i" -advertise "127.0.0.1:$p" \
    -secret "$secret" -capacity 1000 -admin-token "$admin_token"
  node_idx+=($((${#pids[@]} - 1)))
done

healthy() { curl -fsS --max-time 2 -o /dev/null "$1" 2>/dev/null; }

for ((i = 0; i < nodes; i++)); do
  url="http://127.0.0.1:${node_ports[$i]}/healthz"
  deadline=$((SECONDS + timeout))
  until healthy "$url"; do
    kill -0 "${pids[${node_idx[$i]}]}" 2>/dev/null || { show_log "${node_idx[$i]}"; fail "node$((i + 1)) exited"; }
    [ $SECONDS -lt $deadline ] || { show_log "${node_idx[$i]}"; fail "node$((i + 1)) not healthy after ${timeout}s ($url)"; }
    sleep 0.2
  done
  say "node$((i + 1))      http://127.0.0.1:${node_ports[$i]}  (healthy)"
done

# --- load balancer -------------------------------------------------------------
lb_url=""
if command -v nginx >/dev/null 2>&1; then
  pick_port "$lb_port"; lb_port=$picked
  ngx="$dir/nginx"
  mkdir -p "$ngx/tmp"
  {
    echo "# Generated by scripts/cluster.sh; the docker-compose equivalent is deploy/nginx.conf."
    echo "worker_processes 1;"
    echo "pid $ngx/nginx.pid;"
    echo "error_log $ngx/error.log warn;"
    echo "events { worker_connections 4096; }"
    echo "http {"
    echo "  access_log off;"
    echo "  client_body_temp_path $ngx/tmp/body;"
    echo "  proxy_temp_path $ngx/tmp/proxy;"
    echo "  fastcgi_temp_path $ngx/tmp/fastcgi;"
    echo "  uwsgi_temp_path $ngx/tmp/uwsgi;"
    echo "  scgi_temp_path $ngx/tmp/scgi;"
    echo "  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }"
    echo "  upstream tickwire_nodes {"
    for p in "${node_ports[@]}"; do
      echo "    server 127.0.0.1:$p max_fails=2 fail_timeout=5s;"
    done
    echo "    keepalive 32;"
    echo "  }"
    echo "  server {"
    echo "    listen 127.0.0.1:$lb_port;"
    echo "    location = /lb-healthz { default_type text/plain; return 200 \"ok\\n\"; }"
    echo "    location / {"
    echo "      proxy_pass http://tickwire_nodes;"
    echo "      proxy_http_version 1.1;"
    echo "      proxy_set_header Upgrade \$http_upgrade;"
    echo "      proxy_set_header Connection \$connection_upgrade;"
    echo "      proxy_set_header Host \$host;"
    echo "      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
    echo "      proxy_read_timeout 1h;"
    echo "      proxy_send_timeout 1h;"
    echo "      proxy_buffering off;"
    echo "      proxy_next_upstream error timeout http_502 http_503;"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$ngx/nginx.conf"
  start nginx "$dir/nginx.log" nginx -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/error.log" -g "daemon off;"
  lb_idx=$((${#pids[@]} - 1))
  deadline=$((SECONDS + timeout))
  until healthy "http://127.0.0.1:$lb_port/lb-healthz"; do
    if ! kill -0 "${pids[$lb_idx]}" 2>/dev/null; then
      show_log "$lb_idx"; tail -n 20 "$ngx/error.log" >&2 2>/dev/null || true
      fail "nginx exited"
    fi
    [ $SECONDS -lt $deadline ] || { show_log "$lb_idx"; fail "nginx not answering after ${timeout}s"; }
    sleep 0.1
  done
  lb_url="http://127.0.0.1:$lb_port"
  say "nginx      $lb_url  (round-robin over the nodes)"
else
  say "nginx is not installed: no single entry point; any node accepts any client, e.g. http://127.0.0.1:${node_ports[0]}"
fi

# --- check mode --------------------------------------------------------------------
if [ "$mode" = check ]; then
  for ((i = 0; i < nodes; i++)); do
    url="http://127.0.0.1:${admin_ports[$i]}/rooms"
    body=$(curl -fsS --max-time 5 "$url") || fail "GET $url failed"
    grep -q "\"node\":\"node$((i + 1))\"" <<<"$body" || fail "GET $url: want node id node$((i + 1)), got: $body"
    say "check: GET $url -> $body"
  done
  # Cluster mode really on: the nodes registered themselves in Redis.
  deadline=$((SECONDS + timeout))
  until [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" dbsize 2>/dev/null || echo 0)" -gt 0 ]; do
    [ $SECONDS -lt $deadline ] || fail "no keys in Redis after ${timeout}s: the nodes did not register (is cluster mode on?)"
    sleep 0.2
  done
  say "check: redis holds $(redis-cli -h 127.0.0.1 -p "$redis_port" dbsize) keys"
  url="http://127.0.0.1:${admin_ports[0]}/monitor/api/rooms"
  body=$(curl -fsS --max-time 5 -H "Authorization: Bearer $admin_token" "$url") || fail "GET $url (monitor API, with the token) failed"
  grep -q '"clustered":true' <<<"$body" || fail "GET $url: want the cluster-wide list, got: $body"
  say "check: GET $url -> $body"
  if [ -n "$lb_url" ]; then
    for ((i = 0; i < nodes; i++)); do
      healthy "$lb_url/healthz" || fail "GET $lb_url/healthz through nginx failed"
    done
    # WebSocket upgrade through nginx. curl does not speak WebSocket; it
    # prints the 101 response and then times out holding the socket.
    hdr=$(curl -sS -i --max-time 3 -H "Connection: Upgrade" -H "Upgrade: websocket" \
      -H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: dGlja3dpcmUtY2hlY2stMDE=" \
      "$lb_url/ws" 2>/dev/null || true)
    grep -q "^HTTP/1.1 101" <<<"$hdr" || fail "WebSocket upgrade through nginx: want HTTP/1.1 101, got: $(head -n 1 <<<"$hdr")"
    say "check: WebSocket upgrade through nginx -> $(head -n 1 <<<"$hdr" | tr -d '\r')"
  fi
  say "check: ok"
  exit 0
fi

# --- interactive -------------------------------------------------------------------
echo
if [ -n "$lb_url" ]; then
  say "play at $lb_url (or any node directly). Ctrl-C stops everything."
else
  say "play at http://127.0.0.1:${node_ports[0]} (any node works). Ctrl-C stops everything."
fi
say "monitor at http://127.0.0.1:${admin_ports[0]}/monitor/#token=$admin_token (every room of the cluster, from any node's admin port)"
say "logs in $dir"
while :; do
  for ((i = 0; i < ${#pids[@]}; i++)); do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      show_log "$i"
      fail "${names[$i]} exited; stopping the cluster"
    fi
  done
  sleep 1
done
