#!/usr/bin/env bash
# Instruction counts (valgrind --tool=callgrind): unlike wall time on a shared
# virtual machine, which varies by tens of percent from run to run, the count is
# the same on every run of the same binary and input, so it shows what a change
# to the code did. Threads are counted together (total work, not wall time).
# Inputs: the first 100,000 packets of bench-data/wrk-keepalive.pcap (cut with
# editcap; run scripts/bench.sh or scripts/bench-capture.sh first) and 30,000
# synthetic short connections.
# usage: scripts/bench-instructions.sh [KEEPSCOPE_BINARY...]   (default: this tree's)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
command -v editcap >/dev/null || { echo "needs editcap (Debian: wireshark-common)" >&2; exit 1; }
cargo build --release --locked --bin keepscope --example gen_synthetic >/dev/null
mkdir -p bench-data
KA=bench-data/wrk-keepalive-100k.pcap
SYN=bench-data/synthetic-30000.pcap
[ -f "$KA" ] || editcap -r bench-data/wrk-keepalive.pcap "$KA" 1-100000
[ -f "$SYN" ] || target/release/examples/gen_synthetic 30000 "$SYN" >/dev/null
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(target/release/keepscope)
echo "| binary | input | output | instructions | per packet |"
echo "|---|---|---|---:|---:|"
for bin in "${bins[@]}"; do
    for input in "$KA" "$SYN"; do
        packets=$(capinfos -c -M "$input" 2>/dev/null | awk '/Number of packets/ {print $NF}')
        for mode in text json ndjson; do
            args=(analyze --no-progress --threads 1)
            [ "$mode" = text ] || args+=("--$mode")
            n=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "${args[@]}" "$input" 2>&1 >/dev/null \
                | awk '/Collected/ {print $NF}')
            echo "| $bin | $(basename "$input" .pcap) | $mode | $n | $((n / packets)) |"
        done
    done
done
