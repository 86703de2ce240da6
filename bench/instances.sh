#!/usr/bin/env bash
# Fan-out across instances on Redis, beside one instance, in the same run: receivers on one
# fratello server, then the same number spread over two servers whose hubs share a
# redis-server; and Redis's own PUBLISH rate (redis-benchmark) on this machine as the ceiling.
#
#   bash bench/instances.sh                      # 10,000 receivers (5,000 per instance), 3 repeats
#                                                # (about 3 minutes after the build)
#   RECEIVERS=2000 REPEATS=1 bash bench/instances.sh
#
# Needs redis-server and redis-benchmark (Debian's redis-server and redis-tools). All servers
# listen on 127.0.0.1 and stop at the end. Every server, the load generator and Redis share
# this machine's cores: the two-instance figures measure the cost of the hop through Redis,
# not the gain of a second machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
receivers="${RECEIVERS:-10000}"
repeats="${REPEATS:-3}"
messages="${MESSAGES:-200}"
paced="${PACED:-100}"
# One paced message every 100 ms: the latency of a message, not of a queue (at 10,000
# receivers, faster pacing saturates the one-thread client and the servers on two cores).
interval="${INTERVAL_MS:-100}"

for tool in redis-server redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || { echo "instances.sh: $tool is not installed (apt-get install redis-server)" >&2; exit 2; }
done
echo "== building (release)" >&2
cargo build --release -p fratello-bench --bin srv_fratello --bin instances >&2
bin=target/release

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
redis_url="redis://127.0.0.1:$redis_port/"

# Starts a server on a free port (its hub on Redis at $1 when given): sets `port` and `pid`.
serve() {
    port=$(free_port)
    if [ -n "${1:-}" ]; then FRATELLO_REDIS="$1" "$bin/srv_fratello" "127.0.0.1:$port" >/dev/null 2>&1 &
    else "$bin/srv_fratello" "127.0.0.1:$port" >/dev/null 2>&1 & fi
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.05; done
    echo "instances.sh: the server on port $port did not start" >&2
    exit 1
}

# Each run from loopback addresses of its own (127.R.K.1, .2): the closed sockets of one run
# hold their ports for a while, and must not take the next run's.
run() {
    "$bin/instances" --addrs "$1" --sources "$2.1,$2.2" --receivers "$receivers" --messages "$messages" \
        --paced "$paced" --interval-ms "$interval"
}

for r in $(seq "$repeats"); do
    serve; one=$port; one_pid=$pid
    echo "repeat $r, 1 instance:  $(run "127.0.0.1:$one" "127.$((r + 1)).1" | grep RESULT)"
    kill "$one_pid"
    serve "$redis_url"; a=$port; a_pid=$pid
    serve "$redis_url"; b=$port; b_pid=$pid
    echo "repeat $r, 2 instances: $(run "127.0.0.1:$a,127.0.0.1:$b" "127.$((r + 1)).2" | grep RESULT)"
    kill "$a_pid" "$b_pid"
done
payload=$(head -c 48 /dev/zero | tr '\0' 'm')
echo "redis-benchmark PUBLISH (50 clients, no pipelining): $(redis-benchmark -p "$redis_port" -n 200000 -c 50 -q PUBLISH bench "$payload" | tr '\r' '\n' | grep -a 'requests per second' | tail -1)"
echo "redis-benchmark PUBLISH (50 clients, pipelines of 16): $(redis-benchmark -p "$redis_port" -n 1000000 -c 50 -P 16 -q PUBLISH bench "$payload" | tr '\r' '\n' | grep -a 'requests per second' | tail -1)"
