#!/usr/bin/env bash
# Builds the benchmark servers and the load generator in release mode, then runs every
# scenario against every server in turn and prints one table (see BENCHMARKS.md).
#
#   bash bench/run.sh             # the full run (11-15 minutes on 2 cores, after the build)
#   bash bench/run.sh --smoke     # every scenario once at a tiny size (CI; ~1 minute after the build)
#   bash bench/run.sh --scenarios echo,room1k --servers actix,fratello --repeats 5
#   bash bench/run.sh --stand-in srv_hyper   # a control run: raw hyper in fratello's column
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    echo "== installing wrk" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >&2
fi

# Each process may hold at most 20,000 open files here; the idle scenarios need ~19,600.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== building (release)" >&2
cargo build --release -p fratello-bench --features peers --bins >&2

target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
mkdir -p "$target_dir/bench"
out="$target_dir/bench/last-run.md"
case " $* " in *" --stand-in "*) out="$target_dir/bench/last-control-run.md" ;; esac
"$target_dir/release/runner" "$@" | tee "$out"
