#!/usr/bin/env bash
# Builds the benchmark servers and the load generator in release mode, then runs every
# scenario against every server in turn and prints the verdicts (see bench/METHODOLOGY.md):
# callgrind's instructions per operation beside raw hyper, then throughput and latency against
# every peer. A full run's output is kept in bench/results/DATE-COMMIT-run.md (a control run's
# in ...-control.md); a smoke run's in target/bench/last-smoke.md.
#
#   bash bench/run.sh             # the full run (about 13 minutes on 2 cores, after the build)
#   bash bench/run.sh --smoke     # every scenario once at a tiny size (CI; ~1 minute after the build)
#   bash bench/run.sh --no-callgrind                 # throughput and latency alone
#   bash bench/run.sh --scenarios echo,room1k --servers actix,fratello --repeats 5
#   bash bench/run.sh --stand-in srv_hyper   # a control run: raw hyper in fratello's column
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/results.sh

# wrk drives the HTTP scenarios, valgrind counts the instructions; installed when missing.
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
case " $* " in
    *" --no-callgrind "*) ;;
    *) command -v valgrind >/dev/null 2>&1 || missing+=(valgrind) ;;
esac
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Each process may hold at most 20,000 open files here; the idle scenarios need ~19,600.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== building (release)" >&2
cargo build --release -p fratello-bench --features peers --bins >&2

target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
commit="$(commit_name)" # what the binaries were built from
case " $* " in
    *" --smoke "*) mkdir -p "$target_dir/bench"; out="$target_dir/bench/last-smoke.md" ;;
    *" --stand-in "*) out="$(result_file control "$commit")" ;;
    *) out="$(result_file run "$commit")" ;;
esac
{
    echo "# \`bash bench/run.sh${*:+ $*}\` at $commit, $(date +%F)"
    "$target_dir/release/runner" "$@"
} | tee "$out"
echo "(written to $out)" >&2
