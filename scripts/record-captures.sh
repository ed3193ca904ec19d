#!/usr/bin/env bash
# Records keepscope's small test captures (captures/*.pcap) from real clients and
# servers on the loopback interface. Run as root on a Debian-like machine:
#
#     sudo scripts/record-captures.sh [SCENARIO...]
#
# With no arguments every scenario is recorded; otherwise only the named ones
# (names as in captures/README.md without ".pcap", e.g. "pipelining").
#
# Only 127.0.0.1 and ::1 carry traffic. Servers run from a private temp
# directory with their own config, pid file and logs; all of them, and every
# tcpdump, are stopped on exit. Each scenario gets its own port, so a late
# packet of one scenario can never land in another scenario's capture.
#
# Environment:
#   KEEPSCOPE_BASE_PORT  first port of the block used (default 38400; uses +1..+30)
#   KEEPSCOPE_CAPTURES   output directory (default: captures/ beside scripts/)
#   KEEPSCOPE_KEEP_WORK  set to 1 to keep the temp directory with server logs
#   PYTHON               python3 interpreter to use (default: python3)
set -euo pipefail

REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
SCRIPTS_DIR="$REPO_DIR/scripts"
OUT_DIR=${KEEPSCOPE_CAPTURES:-$REPO_DIR/captures}
BASE_PORT=${KEEPSCOPE_BASE_PORT:-38400}
PY=${PYTHON:-python3}

say() { printf '%s\n' "$*" >&2; }
die() { say "record-captures: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (tcpdump on lo)"

# --- tools ---------------------------------------------------------------
# Install only what is missing; command -> Debian package.
missing_packages=()
for pair in tcpdump:tcpdump nginx:nginx-light curl:curl "$PY":python3 ss:iproute2; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing_packages+=("${pair##*:}")
done
if [ ${#missing_packages[@]} -gt 0 ]; then
    say "installing: ${missing_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing_packages[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found"

# --- ports -------------------------------------------------------------------
P_REUSE=$((BASE_PORT + 1))          # nginx
P_H10_NGINX=$((BASE_PORT + 2))      # nginx
P_H10_PY=$((BASE_PORT + 22))        # python3 -m http.server (HTTP/1.0)
P_PY11=$((BASE_PORT + 3))           # python3 -m http.server --protocol HTTP/1.1
P_EXP_CONT=$((BASE_PORT + 4))       # test server
P_EXP_417=$((BASE_PORT + 5))        # test server
P_EXP_FINAL=$((BASE_PORT + 6))      # test server
P_EXP_IGN=$((BASE_PORT + 7))        # test server
P_IDLE=$((BASE_PORT + 8))           # nginx keepalive_timeout 1s
P_MAXREQ=$((BASE_PORT + 9))         # nginx keepalive_requests 3
P_PIPE=$((BASE_PORT + 10))          # nginx
P_TCPKA=$((BASE_PORT + 11))         # test server /slow
P_MISSED=$((BASE_PORT + 12))        # nginx
P_RST=$((BASE_PORT + 13))           # test server, raw socket RST mode
P_IPV6=$((BASE_PORT + 14))          # nginx on [::1] and 127.0.0.1

# --- temp dir and cleanup ----------------------------------------------------
WORK=$(mktemp -d /tmp/keepscope-rec.XXXXXX)
# nginx workers run as an unprivileged user and must read the docroot.
chmod 755 "$WORK"
PIDS_TO_STOP=()
CAPTURE_PID=""

cleanup() {
    local status=$?
    if [ -n "$CAPTURE_PID" ]; then kill -INT "$CAPTURE_PID" 2>/dev/null || true; fi
    if [ -s "$WORK/nginx.pid" ]; then kill -QUIT "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; fi
    local pid
    for pid in "${PIDS_TO_STOP[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS_TO_STOP[@]}" $CAPTURE_PID; do wait "$pid" 2>/dev/null || true; done
    if [ "${KEEPSCOPE_KEEP_WORK:-0}" = 1 ] || [ $status -ne 0 ]; then
        say "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until something listens on TCP port $1 (no packets are sent to check).
wait_listening() {
    local port=$1 tries=0
    until ss -Hltn "sport = :$port" | grep -q LISTEN; do
        tries=$((tries + 1))
        [ $tries -lt 100 ] || die "nothing listens on port $port (see $WORK)"
        sleep 0.05
    done
}

# start_capture NAME FILTER: tcpdump into the temp dir until stop_capture.
CAPTURE_NAME=""
start_capture() {
    CAPTURE_NAME=$1
    local filter=$2 log="$WORK/$1.tcpdump.log" tries=0
    # -U: write each packet at once; -s 0: whole packets; --immediate-mode:
    # hand packets over at once (otherwise TPACKET_V3 holds them in a ring block
    # for up to 1 s and SIGINT can lose the tail of a short scenario);
    # -Z root: keep permission to write the file (Debian's tcpdump drops to
    # user tcpdump).
    tcpdump -i lo -U -s 0 --immediate-mode -Z root -w "$WORK/$CAPTURE_NAME" "$filter" 2>"$log" &
    CAPTURE_PID=$!
    until grep -q "listening on" "$log" 2>/dev/null; do
        tries=$((tries + 1))
        kill -0 "$CAPTURE_PID" 2>/dev/null || die "tcpdump failed: $(cat "$log")"
        [ $tries -lt 100 ] || die "tcpdump did not start: $(cat "$log")"
        sleep 0.05
    done
}

# stop_capture [SECONDS]: lets late packets (FIN/ACK) arrive, then stops tcpdump.
stop_capture() {
    sleep "${1:-0.5}"
    kill -INT "$CAPTURE_PID"
    wait "$CAPTURE_PID" 2>/dev/null || true
    CAPTURE_PID=""
    mv "$WORK/$CAPTURE_NAME" "$OUT_DIR/$CAPTURE_NAME"
    say "  -> $OUT_DIR/$CAPTURE_NAME ($(stat -c %s "$OUT_DIR/$CAPTURE_NAME") bytes)"
}

# --- content -----------------------------------------------------------------
mkdir -p "$OUT_DIR" "$WORK/www" "$WORK/nginx-tmp"
for name in a b c close r1 r2 r3 r4 r5 w1 w2 w3 w4; do
    printf 'keepscope test file /%s\n' "$name" >"$WORK/www/$name"
done
# /chunked on nginx: gzip compresses it on the fly, so the length is unknown
# up front and nginx sends Transfer-Encoding: chunked.
for i in $(seq 1 40); do printf 'line %02d of the chunked test body\n' "$i"; done >"$WORK/www/chunked"
# 3000-byte upload body, the same on every run.
"$PY" -c 'import sys; sys.stdout.write(("0123456789abcdef" * 200)[:2999] + "\n")' >"$WORK/upload.bin"
chmod -R a+rX "$WORK/www"

# --- servers -----------------------------------------------------------------
ALL_PORTS="$P_REUSE $P_H10_NGINX $P_H10_PY $P_PY11 $P_EXP_CONT $P_EXP_417 $P_EXP_FINAL $P_EXP_IGN
    $P_IDLE $P_MAXREQ $P_PIPE $P_TCPKA $P_MISSED $P_RST $P_IPV6"
# A port someone else listens on would make a server fail while the readiness
# check below still succeeds (it would see the stranger's socket).
for port in $ALL_PORTS; do
    if ss -Hltn "sport = :$port" | grep -q LISTEN; then
        die "port $port is already in use; choose another block with KEEPSCOPE_BASE_PORT"
    fi
done
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log info;
events { worker_connections 64; }
http {
    access_log $WORK/nginx-access.log;
    client_body_temp_path $WORK/nginx-tmp/body;
    proxy_temp_path $WORK/nginx-tmp/proxy;
    fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
    scgi_temp_path $WORK/nginx-tmp/scgi;
    default_type text/plain;
    server_tokens off;
    root $WORK/www;
    keepalive_timeout 10s;

    server { listen 127.0.0.1:$P_REUSE; }
    server { listen 127.0.0.1:$P_H10_NGINX; }
    server { listen 127.0.0.1:$P_IDLE; keepalive_timeout 1s; }
    # The second value adds "Keep-Alive: timeout=5" to the responses.
    server { listen 127.0.0.1:$P_MAXREQ; keepalive_requests 3; keepalive_timeout 5s 5s; }
    server {
        listen 127.0.0.1:$P_PIPE;
        location = /nocontent { return 204; }
        location = /chunked { gzip on; gzip_min_length 1; gzip_types text/plain; }
    }
    server { listen 127.0.0.1:$P_MISSED; }
    server { listen [::1]:$P_IPV6; listen 127.0.0.1:$P_IPV6; }
}
EOF
"$NGINX" -p "$WORK/" -e "$WORK/nginx-startup.log" -c "$WORK/nginx.conf" 2>"$WORK/nginx.stderr" &
PIDS_TO_STOP+=($!)

"$PY" "$SCRIPTS_DIR/keepscope_testserver.py" \
    --http "$P_EXP_CONT" --http "$P_EXP_417" --http "$P_EXP_FINAL" --http "$P_EXP_IGN" \
    --http "$P_TCPKA" --rst "$P_RST" 2>"$WORK/testserver.log" &
PIDS_TO_STOP+=($!)

# python's http.server: HTTP/1.0 by default; --protocol exists since Python 3.11.
"$PY" -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$P_H10_PY" >"$WORK/http10.log" 2>&1 &
PIDS_TO_STOP+=($!)
if "$PY" -m http.server --help 2>&1 | grep -q -- '--protocol'; then
    "$PY" -m http.server --protocol HTTP/1.1 --bind 127.0.0.1 --directory "$WORK/www" "$P_PY11" >"$WORK/http11.log" 2>&1 &
else
    (cd "$WORK/www" && exec "$PY" -c 'import http.server as s, sys
s.SimpleHTTPRequestHandler.protocol_version = "HTTP/1.1"
s.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), s.SimpleHTTPRequestHandler).serve_forever()' "$P_PY11") >"$WORK/http11.log" 2>&1 &
fi
PIDS_TO_STOP+=($!)

for port in $ALL_PORTS; do
    wait_listening "$port"
done
for pid in "${PIDS_TO_STOP[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "a server exited during startup (logs in $WORK)"
done

# --- scenarios ---------------------------------------------------------------
URL4=http://127.0.0.1
CURL=(curl -sS --max-time 10)
clients() { "$PY" "$SCRIPTS_DIR/keepscope_clients.py" "$@" | sed 's/^/    /' >&2; }
# curl_logged NAME ARGS...: runs curl, keeps its -v trace in the temp dir.
curl_logged() {
    local name=$1; shift
    "${CURL[@]}" -v -o /dev/null -w "    curl $name: status %{http_code}, %{num_connects} new connection(s)\n" "$@" \
        >&2 2>"$WORK/curl-$name.log" || say "    curl $name exited with $?"
}

scenario_reuse_curl() {
    start_capture reuse-curl.pcap "tcp port $P_REUSE"
    curl_logged reuse "$URL4:$P_REUSE/a" -o /dev/null "$URL4:$P_REUSE/b" -o /dev/null "$URL4:$P_REUSE/c"
    sleep 0.2
    curl_logged http10 --http1.0 "$URL4:$P_REUSE/a"
    stop_capture
}

scenario_http10_keepalive() {
    start_capture http10-keepalive.pcap "tcp port $P_H10_NGINX or tcp port $P_H10_PY"
    clients http10-keepalive 127.0.0.1 "$P_H10_NGINX" "$P_H10_PY"
    stop_capture
}

scenario_python_http11() {
    start_capture python-http11.pcap "tcp port $P_PY11"
    clients python-http11 127.0.0.1 "$P_PY11"
    stop_capture
}

scenario_expect_continue() {
    start_capture expect-continue.pcap "tcp port $P_EXP_CONT"
    curl_logged expect-continue -H 'Expect: 100-continue' --data-binary @"$WORK/upload.bin" \
        "$URL4:$P_EXP_CONT/expect/continue"
    stop_capture
}

scenario_expect_417() {
    start_capture expect-417.pcap "tcp port $P_EXP_417"
    # curl answers a 417 by repeating the request on the same connection
    # ("Issue another request to this URL"), but it only drops an Expect header
    # it added itself (7.88: only for bodies > 1 MB). With the header forced it
    # would repeat the same rejected request 50 times (--max-redirs default),
    # so stop it after the first 417: curl exits 47 and closes.
    curl_logged expect-417 --max-redirs 0 -H 'Expect: 100-continue' --data-binary @"$WORK/upload.bin" \
        "$URL4:$P_EXP_417/expect/reject417"
    stop_capture
}

scenario_expect_final_before_body() {
    start_capture expect-final-before-body.pcap "tcp port $P_EXP_FINAL"
    # 401 and the server keeps the connection open ...
    curl_logged expect-final401 -H 'Expect: 100-continue' --data-binary @"$WORK/upload.bin" \
        "$URL4:$P_EXP_FINAL/expect/final401"
    sleep 0.2
    # ... then 413 with Connection: close and the server closes.
    curl_logged expect-final413 -H 'Expect: 100-continue' --data-binary @"$WORK/upload.bin" \
        "$URL4:$P_EXP_FINAL/expect/final413"
    stop_capture
}

scenario_expect_ignored() {
    start_capture expect-ignored.pcap "tcp port $P_EXP_IGN"
    curl_logged expect-ignored -H 'Expect: 100-continue' --expect100-timeout 1 \
        --data-binary @"$WORK/upload.bin" "$URL4:$P_EXP_IGN/expect/ignore"
    stop_capture
}

scenario_idle_timeout() {
    start_capture idle-timeout.pcap "tcp port $P_IDLE"
    clients idle-timeout 127.0.0.1 "$P_IDLE"
    stop_capture
}

scenario_keepalive_requests() {
    start_capture keepalive-requests.pcap "tcp port $P_MAXREQ"
    clients keepalive-requests 127.0.0.1 "$P_MAXREQ"
    stop_capture
}

scenario_pipelining() {
    start_capture pipelining.pcap "tcp port $P_PIPE"
    clients pipelining 127.0.0.1 "$P_PIPE"
    stop_capture
}

scenario_tcp_keepalive_probes() {
    start_capture tcp-keepalive-probes.pcap "tcp port $P_TCPKA"
    # curl sets TCP_KEEPIDLE and TCP_KEEPINTVL to 1 s: the kernel probes every
    # second while the server sleeps 4.5 s.
    curl_logged tcp-keepalive --keepalive-time 1 "$URL4:$P_TCPKA/slow?s=4.5"
    stop_capture
}

scenario_missed_reuse() {
    start_capture missed-reuse.pcap "tcp port $P_MISSED"
    clients missed-reuse 127.0.0.1 "$P_MISSED"
    stop_capture
}

scenario_rst_close() {
    start_capture rst-close.pcap "tcp port $P_RST"
    clients rst-close 127.0.0.1 "$P_RST"
    stop_capture
}

scenario_mixed_ipv6() {
    start_capture mixed-ipv6.pcap "tcp port $P_IPV6"
    # Two keep-alive requests over IPv6, then the same over IPv4: one file
    # with both address families on the same port.
    curl_logged ipv6 -g "http://[::1]:$P_IPV6/a" -o /dev/null "http://[::1]:$P_IPV6/b"
    sleep 0.2
    curl_logged ipv4 "$URL4:$P_IPV6/c" -o /dev/null "$URL4:$P_IPV6/a"
    stop_capture
}

ALL_SCENARIOS=(reuse-curl http10-keepalive python-http11 expect-continue expect-417
    expect-final-before-body expect-ignored idle-timeout keepalive-requests pipelining
    tcp-keepalive-probes missed-reuse rst-close mixed-ipv6)
if [ $# -gt 0 ]; then SELECTED=("$@"); else SELECTED=("${ALL_SCENARIOS[@]}"); fi

started=$(date +%s)
for scenario in "${SELECTED[@]}"; do
    function_name="scenario_${scenario//-/_}"
    declare -F "$function_name" >/dev/null || die "unknown scenario '$scenario' (known: ${ALL_SCENARIOS[*]})"
    say "== $scenario"
    "$function_name"
done
say "done in $(( $(date +%s) - started )) s; captures in $OUT_DIR"

# Compare each new capture with the committed ground truth (captures/SIGNATURES.txt,
# described in captures/README.md). Only the documented loopback FIN races
# (reuse-curl and expect-final-before-body connection 1) may differ.
SIGNATURES="$REPO_DIR/captures/SIGNATURES.txt"
if command -v tshark >/dev/null 2>&1 && [ -f "$SIGNATURES" ]; then
    for scenario in "${SELECTED[@]}"; do
        expected=$(awk -v name="## $scenario.pcap" '$0 == name {p = 1; next} /^## / {p = 0} p' "$SIGNATURES")
        actual=$("$SCRIPTS_DIR/capture-signature.sh" "$OUT_DIR/$scenario.pcap" | tail -n +2)
        if [ "$expected" = "$actual" ]; then
            say "check $scenario: same as captures/SIGNATURES.txt"
        else
            say "check $scenario: DIFFERS from captures/SIGNATURES.txt (< committed, > new):"
            diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") | sed 's/^/    /' >&2 || true
        fi
    done
else
    say "(tshark or captures/SIGNATURES.txt missing: recordings not compared)"
fi
