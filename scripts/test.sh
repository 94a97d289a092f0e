#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs the real peers the
# tests use (nfdump/nfcapd, sfcapd, tshark/dumpcap, softflowd, pmacct, systemd-analyze,
# chromium and chromedriver for the console,
# DuckDB for Python; the databases of scripts/servers.sh) when missing, then runs
# rustfmt, clippy and every test, then builds the deb and rpm packages and checks them
# (installing and removing the deb here: run it as root, or with sudo). Tests start
# their peers themselves and kill them by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v nfcapd  >/dev/null || missing+=(nfdump)
command -v sfcapd  >/dev/null || missing+=(nfdump-sflow)
command -v tshark  >/dev/null || missing+=(tshark)
command -v dumpcap >/dev/null || missing+=(tshark)
command -v ss      >/dev/null || missing+=(iproute2)
command -v softflowd >/dev/null || missing+=(softflowd)
command -v pmacctd >/dev/null || missing+=(pmacct)
command -v systemd-analyze >/dev/null || missing+=(systemd)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
# The console's browser tests: headless Chromium driven through WebDriver.
command -v chromedriver >/dev/null || missing+=(chromium chromium-driver fonts-dejavu-core)
command -v openssl >/dev/null || missing+=(openssl)
# Routing enrichment: a real BGP speaker and BMP exporter (tests/routing.rs).
command -v gobgpd >/dev/null || missing+=(gobgpd)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The real databases that the sinks' tests start and stop themselves (common/servers.rs):
# Kafka-protocol broker (tansu), ClickHouse, PostgreSQL, Redis, their clients, protoc.
scripts/servers.sh install
# DuckDB (PyPI) reads the store's Parquet files back in tests/store.rs, as an
# independent reader. Debian 12's Python refuses a plain pip install outside a venv.
if ! python3 -c 'import duckdb' 2>/dev/null; then
  echo "installing: duckdb (PyPI)"
  python3 -m pip install -q duckdb 2>/dev/null || python3 -m pip install -q --break-system-packages duckdb
fi

cargo fmt --all -- --check
# No import cycle between the modules of any crate (ARCHITECTURE.md, "Invariants").
for src in crates/*/src; do python3 scripts/module-cycles.py "$src"; done
cargo clippy --workspace --all-targets -q -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

# Packages: build the .deb and .rpm (release build), install, check and remove
# the .deb on this machine, inspect the .rpm.
packaging/build.sh
packaging/check.sh
