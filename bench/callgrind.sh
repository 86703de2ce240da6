#!/usr/bin/env bash
# User-space instructions per operation, fratello beside raw hyper, counted by callgrind (the
# same count run after run, whatever else the machine does, unlike a rate on shared cores).
#
#   bash bench/callgrind.sh                       # every scenario, fratello and raw hyper
#   bash bench/callgrind.sh --scenarios echo,room --servers fratello
#
# Each scenario runs twice per server, with a small and a large number of operations, and the
# difference of the two totals is divided by the difference of the counts: start-up, the
# connections' set-up and shutdown cancel out. The servers are the release builds of
# bench/src/bin/srv_*.rs (built with debug info), the client is bench's loadgen.
set -euo pipefail
cd "$(dirname "$0")/.."

scenarios="plaintext,json,echo,room,sse"
servers="fratello,hyper"
while [ $# -gt 0 ]; do
    case "$1" in
        --scenarios) scenarios="$2"; shift 2 ;;
        --servers) servers="$2"; shift 2 ;;
        *) echo "usage: bench/callgrind.sh [--scenarios a,b] [--servers fratello,hyper]" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }

echo "== building (release)" >&2
cargo build --release -p fratello-bench --bin srv_fratello --bin srv_hyper --bin loadgen >&2
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="${target_dir:-target}/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

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
    local result
    result="$(timeout 600 "$bin/loadgen" "$@" --addr "127.0.0.1:$port" | grep '^RESULT' || true)"
    case "$result" in
        *error=*|"") echo "callgrind.sh: $server: loadgen $*: ${result:-no result}" >&2; kill -9 "$pid"; exit 1 ;;
    esac
    sleep 0.5
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
    wait "$pid" || true
    sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$out" | head -1
}

# per_op SERVER SMALL LARGE OPS-PER-UNIT LOADGEN-ARGS-WITHOUT-COUNT... (the count flag is
# appended with SMALL then LARGE)
per_op() {
    local server="$1" flag="$2" small="$3" large="$4" unit="$5"; shift 5
    local a b
    a="$(total_instructions "$server" "$(free_port)" "$@" "$flag" "$small")"
    b="$(total_instructions "$server" "$(free_port)" "$@" "$flag" "$large")"
    python3 -c "print(round(($b - $a) / (($large - $small) * $unit)))"
}

run() {
    local scenario="$1" server="$2"
    case "$scenario" in
        plaintext) per_op "$server" --requests 2000 12000 1 http --conns 16 --path /plaintext ;;
        json) per_op "$server" --requests 2000 12000 1 http --conns 16 --path /json ;;
        echo) per_op "$server" --rounds 20 120 50 echo --conns 50 ;;
        room) per_op "$server" --messages 50 450 200 room --receivers 200 ;;
        sse) per_op "$server" --events 50 450 200 sse --receivers 200 ;;
        *) echo "callgrind.sh: unknown scenario $scenario" >&2; exit 2 ;;
    esac
}

echo "| scenario | $(echo "$servers" | sed 's/,/ | /g') | ratio |"
echo "|---|$(echo "$servers" | sed 's/[^,]*/---:/g; s/,/|/g')|---:|"
IFS=, read -ra scs <<<"$scenarios"
IFS=, read -ra svs <<<"$servers"
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
    if [ "${#vals[@]}" -ge 2 ]; then
        row="$row | $(python3 -c "print(f'{${vals[0]} / ${vals[1]}:.3f}')")"
    else
        row="$row | "
    fi
    echo "$row |"
done
