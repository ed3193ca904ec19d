#!/usr/bin/env bash
# Installs what a fresh Debian machine with only the Rust toolchain lacks to build
# and test keepscope: libpcap's development files. Idempotent; needs root (or sudo).
set -euo pipefail

need=()
if ! { dpkg -s libpcap-dev >/dev/null 2>&1 || pkg-config --exists libpcap 2>/dev/null; }; then
    need+=(libpcap-dev)
fi
if [ "${#need[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "setup: installing ${need[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
