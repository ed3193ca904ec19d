#!/usr/bin/env bash
# Records the big benchmark inputs for keepscope (NOT committed: bench-data/ is
# git-ignored). Run as root:
#
#     sudo scripts/bench-capture.sh
#
# nginx on 127.0.0.1 serves a small static file while wrk loads it for 10 s:
#   bench-data/wrk-keepalive.pcap   wrk -t2 -c50 -d10s (keep-alive, many requests per connection)
#   bench-data/wrk-close.pcap       the same with "Connection: close" (one request per connection)
# wrk's own report is saved beside each capture as *.wrk.txt.
#
# tcpdump keeps only the first 256 bytes of each packet (-s 256): Ethernet +
# IP + TCP headers plus the start of the payload, enough for every request
# line and response status line and most headers. The files stay a fraction of
# the full size; bodies are cut (the captured length is smaller than the wire
# length), which keepscope has to handle as truncated packets, not as loss.
#
# Environment: KEEPSCOPE_BENCH_PORT (default 38480), KEEPSCOPE_BENCH_SECONDS (default 10).
set -euo pipefail

REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR="$REPO_DIR/bench-data"
PORT=${KEEPSCOPE_BENCH_PORT:-38480}
SECONDS_PER_RUN=${KEEPSCOPE_BENCH_SECONDS:-10}

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-capture: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (tcpdump on lo)"

missing_packages=()
for pair in tcpdump:tcpdump nginx:nginx-light wrk:wrk ss:iproute2; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing_packages+=("${pair##*:}")
done
if [ ${#missing_packages[@]} -gt 0 ]; then
    say "installing: ${missing_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing_packages[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

WORK=$(mktemp -d /tmp/keepscope-bench.XXXXXX)
chmod 755 "$WORK"
NGINX_PID=""
CAPTURE_PID=""
cleanup() {
    local status=$?
    if [ -n "$CAPTURE_PID" ]; then kill -INT "$CAPTURE_PID" 2>/dev/null || true; wait "$CAPTURE_PID" 2>/dev/null || true; fi
    if [ -n "$NGINX_PID" ]; then kill -QUIT "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
    if [ $status -ne 0 ]; then say "logs kept in $WORK"; else rm -rf "$WORK"; fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT_DIR" "$WORK/www" "$WORK/nginx-tmp"
printf 'keepscope benchmark page: a small static file served by nginx.\n' >"$WORK/www/index.html"
chmod -R a+rX "$WORK/www"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
    # No access log: it would cost as much as serving the file.
    access_log off;
    client_body_temp_path $WORK/nginx-tmp/body;
    proxy_temp_path $WORK/nginx-tmp/proxy;
    fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
    scgi_temp_path $WORK/nginx-tmp/scgi;
    server_tokens off;
    keepalive_requests 100000;
    server { listen 127.0.0.1:$PORT; root $WORK/www; }
}
EOF
if ss -Hltn "sport = :$PORT" | grep -q LISTEN; then
    die "port $PORT is already in use; choose another with KEEPSCOPE_BENCH_PORT"
fi
"$NGINX" -p "$WORK/" -e "$WORK/nginx-startup.log" -c "$WORK/nginx.conf" 2>"$WORK/nginx.stderr" &
NGINX_PID=$!
tries=0
until ss -Hltn "sport = :$PORT" | grep -q LISTEN; do
    tries=$((tries + 1)); [ $tries -lt 100 ] || die "nginx did not start (see $WORK)"; sleep 0.05
done
kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited during startup (see $WORK)"

# record NAME [WRK ARGS...]
record() {
    local name=$1; shift
    local pcap="$OUT_DIR/$name.pcap" log="$WORK/$name.tcpdump.log" tries=0
    rm -f "$pcap"
    # -B 65536: a 64 MB kernel buffer so the burst is not dropped; -Z root so
    # the file can be written into the repository.
    tcpdump -i lo -s 256 -B 65536 -Z root -w "$pcap" "tcp port $PORT" 2>"$log" &
    CAPTURE_PID=$!
    until grep -q "listening on" "$log" 2>/dev/null; do
        tries=$((tries + 1)); [ $tries -lt 100 ] || die "tcpdump did not start: $(cat "$log")"; sleep 0.05
    done
    wrk -t2 -c50 -d"${SECONDS_PER_RUN}s" "$@" "http://127.0.0.1:$PORT/" >"$OUT_DIR/$name.wrk.txt" 2>&1
    # Wait past tcpdump's 1 s buffer timeout so the last packets are written.
    sleep 1.5
    kill -INT "$CAPTURE_PID"
    wait "$CAPTURE_PID" 2>/dev/null || true
    CAPTURE_PID=""
    say "== $name"
    grep -E "packets (captured|received by filter|dropped by kernel)" "$log" | sed 's/^/  tcpdump: /' >&2
    if command -v capinfos >/dev/null; then
        capinfos -M -c -s -d -u "$pcap" | sed -n 's/^/  /p' | grep -vi "^  file name" >&2
    else
        say "  packets: $(tcpdump -r "$pcap" 2>/dev/null | wc -l), size: $(stat -c %s "$pcap") bytes"
    fi
    say "  wrk: $(grep -E 'requests in' "$OUT_DIR/$name.wrk.txt" | sed 's/^ *//')"
    say "  wrk: $(grep -E 'Requests/sec' "$OUT_DIR/$name.wrk.txt" | sed 's/^ *//')"
    grep -E 'Socket errors|Non-2xx' "$OUT_DIR/$name.wrk.txt" | sed 's/^ */  wrk: /' >&2 || true
}

record wrk-keepalive
record wrk-close -H 'Connection: close'
say "bench data in $OUT_DIR (git-ignored)"
