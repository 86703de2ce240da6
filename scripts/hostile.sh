#!/usr/bin/env bash
# The hostile battery (tests/hostile/) as one table: each case, what was expected, what the
# server did, and the test's verdict (every test ends by checking that the server still
# answers an ordinary request).
#
#   bash scripts/hostile.sh          # the battery at CI size, release build
#   bash scripts/hostile.sh --full   # churn at 100,000 sockets and 1,000,000 requests,
#                                    # SIGTERM under load 20 times with 1,000 of each
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
if [[ "${1:-}" == "--full" ]]; then export HOSTILE_FULL=1; fi
out=target/hostile
mkdir -p "$out"
rm -f "$out/rows.tsv"
export HOSTILE_REPORT="$PWD/$out/rows.tsv"
set +e
cargo test --release -p fratello-suite --test hostile -- --test-threads=1 2>&1 | tee "$out/test.log"
status=${PIPESTATUS[0]}
set -e
python3 - "$out/rows.tsv" "$out/test.log" <<'PY'
import re, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
verdicts = dict(re.findall(r"^test (\S+) \.\.\. (ok|FAILED)", open(sys.argv[2]).read(), re.M))
print()
print("| test | case | expected | seen | test verdict | RSS of the test process |")
print("|---|---|---|---|---|---|")
for test, case, expected, seen, rss in rows:
    print(f"| {test} | {case} | {expected} | {seen} | {verdicts.get(test, '?')} | {rss} |")
failed = [t for t, v in verdicts.items() if v == "FAILED"]
print()
print(f"{len(rows)} cases in {len(verdicts)} tests; failed tests: {', '.join(failed) or 'none'}")
PY
exit "$status"
