#!/usr/bin/env bash
# Whole-run benchmarks (speed and peak memory), all measured in one run:
#   - the read-and-slice floor (libpcap read + etherparse slicing, nothing else),
#     plain and with the file opened as keepscope opens it (--as-keepscope-reads:
#     64 KiB stdio buffer, no stdio lock), which is faster,
#   - decode + TCP reassembly only (examples/decode_reassemble.rs),
#   - keepscope analyze --json / --ndjson / text,
#   - tshark -Y http -T fields … (for the wrk captures; far too slow for millions of
#     connections).
# Inputs are generated, never committed (bench-data/ is git-ignored):
#   - wrk against nginx on loopback for 10 s, keep-alive and Connection: close
#     (scripts/bench-capture.sh, needs root for tcpdump),
#   - a synthetic capture of 2,000,000 short connections (examples/gen_synthetic.rs).
# Each keepscope and floor figure is the fastest of BENCH_RUNS runs (default 3;
# peak memory is the highest of them); tshark runs once.
# BENCH_ONLY=NAME limits the run to one capture (e.g. wrk-keepalive).
# usage: scripts/bench.sh [--quick]   (--quick: 200k synthetic connections, no tshark)
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

./scripts/setup.sh
cargo build --release --locked --bin keepscope --example read_slice_floor --example decode_reassemble --example gen_synthetic
mkdir -p bench-data
if [ ! -f bench-data/wrk-keepalive.pcap ] || [ ! -f bench-data/wrk-close.pcap ]; then
    ./scripts/bench-capture.sh
fi
RUNS=${BENCH_RUNS:-3}
N=2000000
[ "$QUICK" = 1 ] && N=200000
SYN="bench-data/synthetic-$N.pcap"
[ -f "$SYN" ] || target/release/examples/gen_synthetic "$N" "$SYN"

KS=target/release/keepscope
FLOOR=target/release/examples/read_slice_floor
M="python3 scripts/measure.py"
RESULTS=bench-data/results.jsonl
: > "$RESULTS"
for f in bench-data/wrk-keepalive.pcap bench-data/wrk-close.pcap "$SYN"; do
    # BENCH_ONLY=wrk-keepalive (a name, or several separated by spaces) measures only those.
    if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $(basename "$f" .pcap) "* ]]; then continue; fi
    name=$(basename "$f" .pcap)
    packets=$($FLOOR "$f" | awk '{print $2}')
    for run in floor floor-as-keepscope-reads decode-tcp json json-1thread ndjson text tshark; do
        case $run in
            floor) cmd=("$FLOOR" "$f") ;;
            floor-as-keepscope-reads) cmd=("$FLOOR" --as-keepscope-reads "$f") ;;
            decode-tcp) cmd=(target/release/examples/decode_reassemble "$f") ;;
            json) cmd=("$KS" analyze --json --no-progress "$f") ;;
            json-1thread) cmd=("$KS" analyze --json --no-progress --threads 1 "$f") ;;
            ndjson) cmd=("$KS" analyze --ndjson --no-progress "$f") ;;
            text) cmd=("$KS" analyze --no-progress "$f") ;;
            tshark)
                if [ "$QUICK" = 1 ] || [[ "$name" == synthetic* ]] || ! command -v tshark >/dev/null; then continue; fi
                cmd=(tshark -r "$f" -Y http -T fields -e tcp.stream -e http.request.method -e http.response.code) ;;
        esac
        runs=$RUNS
        [ "$run" = tshark ] && runs=1
        line=$($M --runs "$runs" "$name/$run" "${cmd[@]}")
        echo "$line" | python3 -c "import json,sys; d=json.load(sys.stdin); d['packets']=$packets; print(json.dumps(d))" >> "$RESULTS"
    done
done

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r["label"]: r for r in rows}
print("| capture | run | packets | wall s | CPU s | packets/s | peak MB | vs floor | tshark / this |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    name, run = r["label"].split("/")
    floor = by.get(f"{name}/floor", {}).get("wall_s") or 0
    tshark = by.get(f"{name}/tshark", {}).get("wall_s") or 0
    pps = r["packets"] / r["wall_s"] if r["wall_s"] else 0
    rel = f'{r["wall_s"] / floor:.2f}×' if floor else "-"
    vs_tshark = f'{tshark / r["wall_s"]:.0f}×' if tshark and run != "tshark" else "-"
    status = "" if r.get("exit", 0) == 0 else f' (exit {r["exit"]})'
    print(f'| {name} | {run}{status} | {r["packets"]:,} | {r["wall_s"]:.2f} | {r.get("cpu_s", 0):.2f} | {pps:,.0f} | {r["peak_rss_mb"]:.1f} | {rel} | {vs_tshark} |')
PY
