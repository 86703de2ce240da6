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
#   bash bench/run.sh --curves    # the size sweeps and their charts (about 4 minutes after the build)
#
# --curves: idle memory, room fan-out and echo p99 at several sizes for fratello, raw hyper and
# the best framework peer; the points go to bench/results/DATE-COMMIT-curves.csv, the charts
# drawn from them to bench/charts/*.svg, the verdicts on linear growth to ...-curves.md.
# `target/release/charts POINTS.csv bench/charts` redraws the charts from a points file alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/results.sh

# wrk drives the HTTP scenarios, valgrind counts the instructions; installed when missing.
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
case " $* " in
    *" --no-callgrind "* | *" --curves "*) ;;
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
    *" --curves "*)
        if [[ " $* " == *" --smoke "* ]]; then
            mkdir -p "$target_dir/bench/charts"
            points="$target_dir/bench/last-smoke-curves.csv"
            charts="$target_dir/bench/charts"
        else
            points="$(result_file curves "$commit" csv)"
            charts="bench/charts"
        fi
        status=0
        "$target_dir/release/runner" "$@" >"$points" || status=$? # a failed measurement: noted in the file
        "$target_dir/release/charts" "$points" "$charts" | tee "${points%.csv}.md"
        echo "(points in $points, charts in $charts/, verdicts in ${points%.csv}.md)" >&2
        exit "$status"
        ;;
esac
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
# A smoke run also checks that the committed curves still draw (into the target directory).
case " $* " in
    *" --smoke "*)
        latest="$(ls bench/results/*-curves.csv 2>/dev/null | tail -n 1 || true)"
        if [ -n "$latest" ]; then
            mkdir -p "$target_dir/bench/charts"
            "$target_dir/release/charts" "$latest" "$target_dir/bench/charts" >/dev/null
        fi
        ;;
esac
