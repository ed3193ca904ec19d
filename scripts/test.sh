#!/usr/bin/env bash
# The whole test suite: set-up, the Rust tests (unit, property, integration over
# captures/, the TUI in tmux, live capture on loopback when root), and the
# conformance run against Zeek's baselines in ../shared/corpus/zeek.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

# One release build serves the tests, the conformance run and the benchmarks;
# the property tests also run much faster optimised.
cargo build --release --locked
cargo test --release --locked

SHARED="${KEEPSCOPE_SHARED:-../shared}"
if [ -f "$SHARED/tools/zeek_conformance.py" ]; then
    echo "== Zeek conformance"
    python3 "$SHARED/tools/zeek_conformance.py" target/release/keepscope --min "${ZEEK_MIN:-86}" | tail -n 3
else
    echo "conformance: $SHARED/tools/zeek_conformance.py not found" >&2
    exit 1
fi
