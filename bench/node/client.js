// A second WebSocket client for the echo and room scenarios, written with Node.js and the `ws`
// package: nothing shared with the Rust load generator but the scenario, so that a ratio both
// clients agree on is the servers' and not one client's. `cross-check.sh` runs it against
// every bench server in turn.
//
//   node client.js echo --port 8080 --conns 100 --secs 5
//   node client.js room --port 8080 --receivers 1000 --messages 200 [--sources 127.0.0.1,127.1.0.1]
//
// Prints one line: `RESULT key=value ...`. Every loop is bounded in count and time.
'use strict';
const WebSocket = require('ws');

const args = { port: 8080, conns: 100, secs: 5, receivers: 1000, messages: 200, size: 32, sources: '127.0.0.1' };
const mode = process.argv[2];
for (let i = 3; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args) || process.argv[i + 1] === undefined) fail(`unknown option or missing value: ${process.argv[i]}`);
  args[key] = key === 'sources' ? process.argv[i + 1] : Number(process.argv[i + 1]);
}
const sources = args.sources.split(',');

function fail(why) {
  console.log(`RESULT error="${why}"`);
  process.exit(1);
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

// The whole run's bound: a server that stops answering ends it with an error, not a hang.
setTimeout(() => fail('timed out after 120 s'), 120_000).unref();

function open(path, i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${args.port}${path}`, {
      localAddress: sources[i % sources.length],
      perMessageDeflate: false,
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

// Opens `n` sockets, at most 100 handshakes at a time.
async function openMany(n, path) {
  const socks = [];
  while (socks.length < n) {
    const batch = Math.min(100, n - socks.length);
    const base = socks.length;
    socks.push(...(await Promise.all(Array.from({ length: batch }, (_, k) => open(path, base + k)))));
  }
  return socks;
}

// Each connection sends a message, waits for its echo, and sends the next. Round trips are
// counted (and timed) after a one-second warm-up, for `secs` seconds.
async function echo() {
  const payload = 'x'.repeat(args.size);
  const socks = await openMany(args.conns, '/echo');
  let measuring = false;
  let count = 0;
  const lat = [];
  for (const ws of socks) {
    let sent = process.hrtime.bigint();
    ws.on('message', () => {
      const now = process.hrtime.bigint();
      if (measuring) {
        count += 1;
        lat.push(Number(now - sent));
      }
      sent = now;
      ws.send(payload);
    });
    ws.send(payload);
  }
  await sleep(1000);
  measuring = true;
  const start = process.hrtime.bigint();
  await sleep(args.secs * 1000);
  measuring = false;
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  if (count === 0) fail('no echo came back');
  lat.sort((a, b) => a - b);
  const pct = p => Math.round(lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] / 1000);
  console.log(`RESULT rate=${Math.round(count / elapsed)} p50_us=${pct(0.5)} p99_us=${pct(0.99)}`);
  process.exit(0);
}

// `receivers` members of the room and one sender, also a member. Warm-up messages (`w...`) go
// until every receiver has seen one; then `messages` messages (`m...`) are sent at once, and
// the time until the last receiver has all of them gives deliveries per second.
async function room() {
  const n = args.receivers;
  const m = args.messages;
  const socks = await openMany(n, '/room');
  let warm = 0;
  let done = 0;
  let allDone;
  const finished = new Promise(r => (allDone = r));
  for (const ws of socks) {
    let seen = false;
    let got = 0;
    ws.on('message', data => {
      if (data[0] === 0x77 /* w */ && !seen) {
        seen = true;
        warm += 1;
      } else if (data[0] === 0x6d /* m */ && ++got === m && ++done === n) {
        allDone(process.hrtime.bigint());
      }
    });
  }
  const sender = await open('/room', 0);
  const warmUntil = Date.now() + 20_000;
  while (warm < n && Date.now() < warmUntil) {
    sender.send('w');
    await sleep(50);
  }
  if (warm < n) fail(`only ${warm} of ${n} receivers joined`);
  await sleep(100);
  const msg = 'm' + 'x'.repeat(Math.max(0, args.size - 1));
  const start = process.hrtime.bigint();
  for (let i = 0; i < m; i += 1) sender.send(msg);
  const timeout = sleep(60_000).then(() => null);
  const end = await Promise.race([finished, timeout]);
  if (end === null) fail(`${done} of ${n} receivers got every message in 60 s`);
  const secs = Number(end - start) / 1e9;
  console.log(`RESULT rate=${Math.round((n * m) / secs)} last_ms=${(secs * 1000).toFixed(1)}`);
  process.exit(0);
}

if (mode === 'echo') echo().catch(e => fail(e.message));
else if (mode === 'room') room().catch(e => fail(e.message));
else fail('usage: node client.js echo|room [--port P] [options]');
