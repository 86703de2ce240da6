#!/usr/bin/env bash
# WebSocket conformance: runs the Autobahn fuzzing client (cases 1-10; 12-13 are
# permessage-deflate, which tungstenite does not implement) against examples/echo.rs.
#   scripts/autobahn.sh [OUTDIR]      (default target/autobahn)
# Exit 0 when no case FAILED and every close handshake was clean.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/autobahn}
RUNNER=../shared/tools/autobahn/run.sh
[ -x "$RUNNER" ] || [ -f "$RUNNER" ] || { echo "autobahn: $RUNNER not found (it lives in shared/ beside the repo)" >&2; exit 2; }

cargo build --release --example echo
PORT=${AUTOBAHN_PORT:-19001}
RUST_LOG=warn ADDR=127.0.0.1:$PORT ./target/release/examples/echo > "${TMPDIR:-/tmp}/fratello-autobahn-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
  sleep 0.1
done
bash "$RUNNER" --agent fratello --cases "1.*,2.*,3.*,4.*,5.*,6.*,7.*,8.*,9.*,10.*" --timeout 600 \
  "ws://127.0.0.1:$PORT/echo" "$OUT"
