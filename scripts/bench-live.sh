#!/usr/bin/env bash
# Live capture under load: nginx on 127.0.0.1 serves a small file while wrk loads it
# for 10 s (-t2 -c50, all on this machine's two cores); `keepscope live --no-tui
# --ndjson` captures on lo meanwhile. Prints wrk's completed requests beside the
# transactions keepscope saw answered, and the drops (kernel and keepscope's queue).
# Needs root. usage: scripts/bench-live.sh [EXTRA LIVE FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${KEEPSCOPE_BENCH_PORT:-38490}
SECS=${KEEPSCOPE_BENCH_SECONDS:-10}
[ "$(id -u)" = 0 ] || { echo "bench-live: must run as root" >&2; exit 1; }
for pair in nginx:nginx-light wrk:wrk; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pair##*:}" >/dev/null; }
done
cargo build --release --locked --bin keepscope
WORK=$(mktemp -d /tmp/keepscope-live.XXXXXX)
chmod 755 "$WORK"
NGINX_PID=""; LIVE_PID=""
cleanup() {
    [ -n "$LIVE_PID" ] && kill -INT "$LIVE_PID" 2>/dev/null || true
    [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/www" "$WORK/tmp"
printf 'keepscope benchmark page: a small static file served by nginx.\n' >"$WORK/www/index.html"
chmod -R a+rX "$WORK/www"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/tmp/body; proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi; uwsgi_temp_path $WORK/tmp/uwsgi; scgi_temp_path $WORK/tmp/scgi;
    keepalive_requests 100000;
    server { listen 127.0.0.1:$PORT; root $WORK/www; }
}
CONF
nginx -p "$WORK/" -e "$WORK/nginx-startup.log" -c "$WORK/nginx.conf" 2>/dev/null &
NGINX_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.05; done

target/release/keepscope live -i lo -f "tcp port $PORT" --no-tui --ndjson --duration $((SECS + 5)) "$@" \
    >"$WORK/live.ndjson" 2>"$WORK/live.err" &
LIVE_PID=$!
for _ in $(seq 100); do grep -q "capturing on" "$WORK/live.err" && break; sleep 0.05; done
sleep 0.5
wrk -t2 -c50 -d"${SECS}s" "http://127.0.0.1:$PORT/" >"$WORK/wrk.txt" 2>&1
wait "$LIVE_PID"; LIVE_PID=""
WRK=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
tail -n 1 "$WORK/live.ndjson" | python3 -c "
import json, sys
s = json.load(sys.stdin)
src, summ = s['source'], s['summary']
print(f\"wrk completed requests:           {int('$WRK'):,}\")
print(f\"keepscope answered transactions:  {summ['answered_transactions']:,} (of {summ['transactions']:,} requests seen)\")
print(f\"packets captured: {src['packets']:,}; dropped (kernel + queue): {src['dropped']}\")
print('warnings:', src['warnings'])
"
