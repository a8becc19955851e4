#!/usr/bin/env bash
# bench.sh measures the proxy against 4 tiny Go backends on loopback: the
# requests per second wrk gets through it, the proxy's CPU time per request
# (utime+stime from /proc/PID/stat over the run), and the new backend
# connections it opens per 1,000 requests. It runs the proxy as built from
# this tree ("after"), from the commit BASE ("before"), and, when they are
# installed, haproxy and nginx configured alike (round robin, connection
# reuse, redispatch / next upstream).
#
#   examples/httpproxy/bench.sh                    # every proxy, once
#   REPS=3 PROXIES="before after" examples/httpproxy/bench.sh
#
# Needs wrk (apt-get install wrk); haproxy and nginx are skipped when absent.
# Everything runs on this machine, so wrk, the backends and the proxy share
# its cores: compare the rows with each other, not with other machines.
# Only loopback addresses are used; every process the script starts is
# stopped by its PID when it ends.
set -euo pipefail

DURATION=${DURATION:-10s}           # each measured run
WARMUP=${WARMUP:-2s}                # an unmeasured run first
CONNS=${CONNS:-32}                  # wrk -c
THREADS=${THREADS:-2}               # wrk -t
REPS=${REPS:-1}                     # measured runs of each proxy
BASE=${BASE:-322aed6}               # the "before" commit
ALGORITHM=${ALGORITHM:-round-robin} # lbkit's -algorithm
PROXIES=${PROXIES:-before after haproxy nginx}
PORT=${PORT:-18080}           # the proxy's
BACKEND_PORTS=${BACKEND_PORTS:-19001 19002 19003 19004}
STATS_PORT=${STATS_PORT:-19000} # the backends' counters

cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "bench.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d)
backends_pid=
proxy_pid=
cleanup() {
  for pid in $proxy_pid $backends_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

backend_addrs=()
backend_urls=()
for p in $BACKEND_PORTS; do
  backend_addrs+=("127.0.0.1:$p")
  backend_urls+=("http://127.0.0.1:$p")
done

# The backends: one process, a listener on each port, a small answer, and
# a count of the connections they accepted on the stats port.
mkdir -p "$work/backend"
cat >"$work/backend/main.go" <<'EOF'
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

func main() {
	var conns, reqs atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reqs.Add(1)
		_, _ = w.Write([]byte("hello from a backend\n"))
	})
	for _, addr := range strings.Split(os.Args[2], ",") {
		srv := &http.Server{Addr: addr, Handler: h, ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}}
		go func() { log.Fatal(srv.ListenAndServe()) }()
	}
	log.Fatal(http.ListenAndServe(os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, conns.Load(), reqs.Load())
	})))
}
EOF
printf 'module backend\n\ngo 1.22\n' >"$work/backend/go.mod"
(cd "$work/backend" && go build -o "$work/backends" .)

echo "building the proxy: after (this tree) and before ($BASE)"
go build -o "$work/after" ./examples/httpproxy
mkdir -p "$work/base"
git archive "$BASE" | tar -x -C "$work/base"
(cd "$work/base" && go build -o "$work/before" ./examples/httpproxy)

"$work/backends" "127.0.0.1:$STATS_PORT" "$(IFS=,; echo "${backend_addrs[*]}")" &
backends_pid=$!

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench.sh: nothing listens on port $1" >&2
  return 1
}
wait_port "$STATS_PORT"

haproxy_cfg() {
  cat <<EOF
global
  nbthread 2
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  retries 2
  option redispatch
  http-reuse always
frontend fe
  bind 127.0.0.1:$PORT
  default_backend be
backend be
  balance roundrobin
EOF
  local i=0
  for a in "${backend_addrs[@]}"; do
    echo "  server b$i $a"
    i=$((i + 1))
  done
}

nginx_cfg() {
  cat <<EOF
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  proxy_temp_path $work/nginx-proxy;
  fastcgi_temp_path $work/nginx-fastcgi;
  uwsgi_temp_path $work/nginx-uwsgi;
  scgi_temp_path $work/nginx-scgi;
  upstream be {
EOF
  for a in "${backend_addrs[@]}"; do echo "    server $a;"; done
  cat <<EOF
    keepalive 64; # per worker; each connection closes after 1,000 requests (keepalive_requests)
  }
  server {
    listen 127.0.0.1:$PORT;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
      proxy_connect_timeout 1s;
    }
  }
}
EOF
}

# start NAME starts a proxy on $PORT and sets proxy_pid.
start() {
  case $1 in
  before | after)
    "$work/$1" -listen "127.0.0.1:$PORT" -algorithm "$ALGORITHM" \
      -backends "$(IFS=,; echo "${backend_urls[*]}")" 2>"$work/$1.log" &
    ;;
  haproxy)
    haproxy_cfg >"$work/haproxy.cfg"
    haproxy -db -f "$work/haproxy.cfg" 2>"$work/haproxy.log" &
    ;;
  nginx)
    nginx_cfg >"$work/nginx.conf"
    nginx -c "$work/nginx.conf" 2>"$work/nginx.log" &
    ;;
  esac
  proxy_pid=$!
  wait_port "$PORT"
}

# cpu_ticks prints the user+system CPU ticks of a process and its children
# (nginx's workers), read from /proc.
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}

stats() { exec 3<>"/dev/tcp/127.0.0.1/$STATS_PORT"; printf 'GET / HTTP/1.0\r\n\r\n' >&3; tail -n 1 <&3; exec 3<&-; }

tick=$(getconf CLK_TCK)
printf '\n%-8s %10s %12s %16s %8s\n' proxy "req/s" "CPU us/req" "new conns/1000" errors
for rep in $(seq "$REPS"); do
  for name in $PROXIES; do
    if [[ $name == haproxy || $name == nginx ]] && ! command -v "$name" >/dev/null; then
      [[ $rep == 1 ]] && echo "$name: not installed, skipped"
      continue
    fi
    start "$name"
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "http://127.0.0.1:$PORT/" >/dev/null
    read -r conns0 reqs0 < <(stats)
    cpu0=$(cpu_ticks "$proxy_pid")
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$PORT/" >"$work/wrk.out"
    cpu1=$(cpu_ticks "$proxy_pid")
    read -r conns1 reqs1 < <(stats)
    kill "$proxy_pid"
    wait "$proxy_pid" 2>/dev/null || true
    proxy_pid=
    n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
    errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/wrk.out")
    awk -v name="$name" -v rps="$rps" -v n="$n" -v ticks=$((cpu1 - cpu0)) -v tick="$tick" \
      -v conns=$((conns1 - conns0)) -v reqs=$((reqs1 - reqs0)) -v errors="$errors" 'BEGIN {
        printf "%-8s %10.0f %12.1f %16.2f %8d\n", name, rps, ticks / tick * 1e6 / n, conns * 1000 / reqs, errors
      }'
  done
done
