#!/usr/bin/env bash
# User-space instructions per operation, fratello beside raw hyper, counted by callgrind (the
# same count run after run, whatever else the machine does, unlike a rate on shared cores).
#
#   bash bench/callgrind.sh                       # every scenario, fratello and raw hyper
#   bash bench/callgrind.sh --scenarios echo,room --servers fratello
#   bash bench/callgrind.sh --smoke               # a tenth of the operations: a check, not a count
#   bash bench/callgrind.sh --scenarios room-100,room-1000,room-10000   # the room curve's work
#
# Each scenario runs twice per server, with a small and a large number of operations, and the
# difference of the two totals is divided by the difference of the counts: start-up, the
# connections' set-up and shutdown cancel out. The servers are the release builds of
# bench/src/bin/srv_*.rs (debug info on, the features bench/run.sh builds with), the client is
# bench's loadgen.
#
# Prints a line `RESULT scenario=S what=W instructions=A,B` per scenario as it is counted (the
# servers' counts in the order of --servers; bench's runner reads these), then a table. The
# table is also written to bench/results/DATE-COMMIT-callgrind.md, with the machine's load,
# unless --no-record or --smoke.
set -euo pipefail
shopt -s inherit_errexit # (a failed run inside $(..) stops the script too)
cd "$(dirname "$0")/.."

scenarios="plaintext,json,echo,room,sse"
servers="fratello,hyper"
scale=1
record=1
while [ $# -gt 0 ]; do
    case "$1" in
        --scenarios) scenarios="$2"; shift 2 ;;
        --servers) servers="$2"; shift 2 ;;
        --smoke) scale=10; record=0; shift ;;
        --no-record) record=0; shift ;;
        *) echo "usage: bench/callgrind.sh [--scenarios a,b] [--servers fratello,hyper] [--smoke] [--no-record]" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }
# (room-10000: a socket per receiver at both ends, on this machine.)
ulimit -n 20000 2>/dev/null || true

echo "== building (release)" >&2
IFS=, read -ra svs <<<"$servers"
bins=(--bin loadgen)
for sv in "${svs[@]}"; do bins+=(--bin "srv_$sv"); done
# The same features as bench/run.sh's build, so that both use the same binaries.
cargo build --release -p fratello-bench --features peers "${bins[@]}" >&2
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="${target_dir:-target}/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
load_at_start="$(cut -d' ' -f1-3 /proc/loadavg)"
source bench/results.sh
commit="$(commit_name)" # what the binaries were built from

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# total_instructions SERVER PORT LOADGEN-ARGS...: the server's user-space instructions over its
# whole life, serving one loadgen run.
total_instructions() {
    local server="$1" port="$2"; shift 2
    local out="$work/cg.$server.$port"
    WORKERS=2 valgrind --tool=callgrind --callgrind-out-file="$out" "$bin/srv_$server" "127.0.0.1:$port" \
        >"$work/server.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    # A source address of its own for each run (from its port): the sockets a run leaves in
    # TIME_WAIT do not use up the next one's ports (10,000 receivers, run after run).
    local src="127.$((2 + port % 200)).$((port / 256 % 256)).$((1 + port % 250))"
    local result
    result="$(timeout 600 "$bin/loadgen" "$@" --addr "127.0.0.1:$port" --sources "$src" | grep '^RESULT' || true)"
    case "$result" in
        *error=*|"") echo "callgrind.sh: $server: loadgen $*: ${result:-no result}" >&2; kill -9 "$pid"; exit 1 ;;
    esac
    echo "$result" >"$work/result"
    sleep 0.5
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
    wait "$pid" || true
    sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$out" | head -1
}

# per_op SERVER FLAG SMALL LARGE OPS-PER-UNIT LOADGEN-ARGS-WITHOUT-COUNT... (FLAG is appended
# with SMALL, then with LARGE; both divided by --smoke's scale)
per_op() {
    local server="$1" flag="$2" small=$(($3 / scale)) large=$(($4 / scale)) unit="$5"; shift 5
    local a b warm_a warm_b
    a="$(total_instructions "$server" "$(free_port)" "$@" "$flag" "$small")"
    warm_a="$(warm_sent)"
    b="$(total_instructions "$server" "$(free_port)" "$@" "$flag" "$large")"
    warm_b="$(warm_sent)"
    [ "$warm_a$warm_b" = 00 ] || echo "  ($server, $*: warm-up messages $warm_a and $warm_b)" >&2
    python3 -c "print(round(($b - $a) / (($large + $warm_b - $small - $warm_a) * $unit)))"
}

# The warm-up messages the last room run sent (0 for other scenarios): each reaches the room
# too, and their number depends on how fast the receivers joined. (Counted as reaching every
# receiver; only the difference between the two runs enters a count.)
warm_sent() {
    sed -n 's/.* warm=\([0-9]*\).*/\1/p' "$work/result" | grep . || echo 0
}

run() {
    local scenario="$1" server="$2"
    case "$scenario" in
        plaintext) per_op "$server" --requests 2000 12000 1 http --conns 16 --path /plaintext ;;
        json) per_op "$server" --requests 2000 12000 1 http --conns 16 --path /json ;;
        echo) per_op "$server" --rounds 20 120 50 echo --conns 50 ;;
        room) per_op "$server" --messages 50 450 200 room --receivers 200 ;;
        # The room at the sizes of the curves (not in the default set): whether the work per
        # delivery grows with the room.
        room-100) per_op "$server" --messages 100 900 100 room --receivers 100 ;;
        room-1000) per_op "$server" --messages 50 450 1000 room --receivers 1000 ;;
        room-10000) per_op "$server" --messages 10 60 10000 room --receivers 10000 ;;
        sse) per_op "$server" --events 50 450 200 sse --receivers 200 ;;
        *) echo "callgrind.sh: unknown scenario $scenario" >&2; exit 2 ;;
    esac
}

table="$work/table.md"
echo "| scenario | $(echo "$servers" | sed 's/,/ | /g') | ratio |" >"$table"
echo "|---|$(echo "$servers" | sed 's/[^,]*/---:/g; s/,/|/g')|---:|" >>"$table"
IFS=, read -ra scs <<<"$scenarios"
for sc in "${scs[@]}"; do
    case "$sc" in
        echo) what="round trip" ;;
        plaintext | json) what="request" ;;
        *) what="delivery" ;;
    esac
    row="| $sc, per $what"
    vals=()
    for sv in "${svs[@]}"; do
        v="$(run "$sc" "$sv")"
        vals+=("$v")
        row="$row | $v"
    done
    echo "RESULT scenario=$sc what=\"$what\" instructions=$(IFS=,; echo "${vals[*]}")"
    if [ "${#vals[@]}" -ge 2 ]; then
        row="$row | $(python3 -c "print(f'{${vals[0]} / ${vals[1]}:.3f}')")"
    else
        row="$row | "
    fi
    echo "$row |" >>"$table"
done
cat "$table"

if [ "$record" = 1 ]; then
    file="$(result_file callgrind "$commit")"
    {
        echo "# User-space instructions per operation, $(date +%F)"
        echo
        echo "\`bash bench/callgrind.sh --scenarios $scenarios --servers $servers\` at $commit," \
            "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))," \
            "$(valgrind --version). Load average (1, 5, 15 min) $load_at_start at the start," \
            "$(cut -d' ' -f1-3 /proc/loadavg) at the end."
        echo
        cat "$table"
    } >"$file"
    echo "(written to $file)" >&2
fi
