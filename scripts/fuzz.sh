#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for FUZZ_SECONDS seconds each (default 60), one after
# another, on the stable toolchain (RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's nightly flags).
# Exits non-zero if a target fails to build or finds an input that crashes it, and prints
# where libFuzzer saved that input (fuzz/artifacts/TARGET/...).
#
#   bash scripts/fuzz.sh                    every target, 60 s each
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh route_pattern http_request
#
# Reproduce a crash: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET artifacts/TARGET/crash-...
# FUZZ_SANITIZER (default address) is passed to `cargo fuzz --sanitizer` (none: no ASan).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
echo "== $(cargo fuzz --version), $(rustc --version)"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]}"
cargo fuzz build --sanitizer "$sanitizer"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
failed=()
for target in "${targets[@]}"; do
    echo "== $target: ${seconds} s"
    mkdir -p "corpus/$target" "artifacts/$target"
    before="$logs/$target.before"
    ls "artifacts/$target" >"$before"
    status=0
    # -timeout: an input that runs this long counts as a crash (a hang).
    cargo fuzz run --sanitizer "$sanitizer" "$target" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
        >"$logs/$target.log" 2>&1 || status=$?
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$logs/$target.log" || true
    new=$(ls "artifacts/$target" | grep -vxF -f "$before" || true)
    if [ "$status" -ne 0 ] || [ -n "$new" ]; then
        tail -n 60 "$logs/$target.log"
        for artifact in $new; do
            echo "FAILED: $target found fuzz/artifacts/$target/$artifact"
        done
        [ -n "$new" ] || echo "FAILED: $target (exit $status, no artifact: see the log above)"
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "== fuzzing failed: ${failed[*]}"
    exit 1
fi
echo "== fuzzing: ${#targets[@]} targets ran ${seconds} s each, nothing found"
