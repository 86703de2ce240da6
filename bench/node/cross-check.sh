#!/usr/bin/env bash
# Cross-checks the Rust load generator with other clients: the WebSocket echo and room
# scenarios with a Node.js client (client.js, the `ws` package), and plaintext with wrk
# pipelining 16 requests per connection (which the main run does not do). Each server runs in
# turn on loopback, repeats take turns across servers, and the medians are printed with
# fratello's ratio to the best peer. Reported only: the bars are judged by bench/run.sh.
#
#   bash bench/node/cross-check.sh               # 3 repeats, about 4 minutes
#   bash bench/node/cross-check.sh 5             # 5 repeats
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats="${1:-3}"

command -v node >/dev/null || { echo "needs Node.js (node and npm)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk (bench/run.sh installs it)" >&2; exit 1; }
(cd bench/node && [ -d node_modules/ws ] || npm ci --no-audit --no-fund >&2)
cargo build --release -p fratello-bench --features peers --bins >&2
ulimit -n 20000 2>/dev/null || true

target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="${target_dir:-target}/release"
port=18731
pipeline="$(mktemp)"
results="$(mktemp)"
trap 'rm -f "$pipeline" "$results"; pkill -f "$bin/srv_" 2>/dev/null || true' EXIT
cat >"$pipeline" <<'EOF'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil) end
  req = table.concat(r)
end
request = function() return req end
EOF

# Fresh loopback source addresses for each client run, so that one run's TIME_WAIT sockets
# never limit the next.
next_ip=0
sources() {
    local out="" i
    for ((i = 0; i < $1; i++)); do
        next_ip=$((next_ip + 1))
        out+="${out:+,}127.3.$((next_ip / 250)).$((next_ip % 250 + 1))"
    done
    echo "$out"
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

servers="hyper axum-4k actix hyperlane fratello"
for ((rep = 1; rep <= repeats; rep++)); do
    for s in $servers; do
        exe="$bin/srv_${s%-4k}"
        buf=""
        [ "$s" = axum-4k ] && buf=4096
        AXUM_WS_BUF="$buf" WORKERS=2 RUST_LOG=error "$exe" "127.0.0.1:$port" >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
        echo "  repeat $rep · $s" >&2
        out="$(timeout 60 wrk -t1 -c64 -d5s -s "$pipeline" "http://127.0.0.1:$port/plaintext" || true)"
        echo "$s pipelined $(echo "$out" | sed -n 's/Requests\/sec: *\([0-9.]*\)/\1/p')" >>"$results"
        out="$(node bench/node/client.js echo --port $port --conns 100 --secs 4 --sources "$(sources 1)" || true)"
        echo "$s echo $(echo "$out" | field rate)" >>"$results"
        echo "$s echo-p99 $(echo "$out" | field p99_us)" >>"$results"
        out="$(node bench/node/client.js room --port $port --receivers 1000 --messages 200 --sources "$(sources 1)" || true)"
        echo "$s room1k $(echo "$out" | field rate)" >>"$results"
        out="$(node bench/node/client.js room --port $port --receivers 10000 --messages 50 --sources "$(sources 2)" || true)"
        echo "$s room10k $(echo "$out" | field rate)" >>"$results"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        port=$((port + 1))
    done
done

echo
echo "Cross-check: $(nproc) cores, $(uname -sr), clients and servers on the same machine; medians of $repeats"
python3 - "$results" "$servers" <<'EOF'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) == 3:
        rows.setdefault(parts[1], {}).setdefault(parts[0], []).append(float(parts[2]))
servers = sys.argv[2].split()
labels = {
    "pipelined": "plaintext, wrk, 64 conns x 16 pipelined (req/s)",
    "echo": "echo, Node ws, 100 conns (round trips/s)",
    "echo-p99": "echo p99, Node ws (us, lower is better)",
    "room1k": "room 1,000 x 200, Node ws (deliveries/s)",
    "room10k": "room 10,000 x 50, Node ws (deliveries/s)",
}
print("| scenario | " + " | ".join(servers) + " | fratello / best peer |")
print("|---" * (len(servers) + 2) + "|")
for key, label in labels.items():
    med = {s: statistics.median(v) for s, v in rows.get(key, {}).items() if v}
    peers = [med[s] for s in servers if s != "fratello" and s in med]
    cells = [f"{med[s]:,.0f}" if s in med else "failed" for s in servers]
    ratio = ""
    if "fratello" in med and peers:
        best = min(peers) if key == "echo-p99" else max(peers)
        ratio = f"{med['fratello'] / best:.2f}"
    print(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
EOF
