// The board's page. The server orders every operation and numbers it (a version); this page
// applies the server's stream in version order over the snapshot it started from, exactly as
// the server does (model.rs: Board::apply), so every page shows the same board. The page's
// own operations are shown at once on top of that (pending), and drop out when the server's
// stream carries them, or when the server refuses them.
"use strict";

const LANES = [["todo", "To do"], ["doing", "Doing"], ["done", "Done"]];
const $ = (id) => document.getElementById(id);

let you = null;          // {id, name, color}
let boardId = null;
let board = null;        // {id, title, version, cards: [...]}: the server's state, as applied here
let members = new Map(); // member id -> {id, name, color, selection}
let pending = [];        // [{ref, op, sent}]: this page's operations not yet in the stream
let ahead = new Map();   // version -> applied op that came before its predecessors
let socket = null, retry = 0, retryTimer = null, syncing = false, refs = 0;
let selected = null, editing = null, draft = null;
// Labels of this page's operations: unique among the tabs of one person.
const page = Math.random().toString(36).slice(2, 8);

// ---- the model (the same rule as the server's) ----

function laneIndex(lane) { return LANES.findIndex(([l]) => l === lane); }

function sortCards(cards) {
  cards.sort((a, b) => laneIndex(a.lane) - laneIndex(b.lane) || a.position - b.position || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function applyOp(cards, op) {
  const card = cards.find((c) => c.id === op.id);
  if (op.kind === "add") cards.push({ id: op.id, lane: op.lane, position: op.position, title: op.title });
  else if (op.kind === "move" && card) { card.lane = op.lane; card.position = op.position; }
  else if (op.kind === "rename" && card) card.title = op.title;
  else if (op.kind === "delete") { const i = cards.indexOf(card); if (i >= 0) cards.splice(i, 1); }
  sortCards(cards);
}

/// What to show: the server's board, then this page's pending operations on top.
function shown() {
  const cards = board ? board.cards.map((c) => ({ ...c })) : [];
  for (const p of pending) applyOp(cards, { ...p.op, id: p.op.id || "pending-" + p.ref });
  return cards;
}

function applied(a) {
  if (!board || a.version <= board.version) return; // seen already (catch-up and room overlap)
  if (a.version > board.version + 1) { // a gap: keep it, and ask for what is missing
    if (ahead.size < 1000) ahead.set(a.version, a);
    requestSync();
    return;
  }
  applyOp(board.cards, a.op);
  board.version = a.version;
  if (a.author === you.id && a.ref) pending = pending.filter((p) => p.ref !== a.ref);
  const next = ahead.get(board.version + 1);
  if (next) { ahead.delete(next.version); applied(next); }
}

function requestSync() {
  if (syncing || !socket || socket.readyState !== WebSocket.OPEN) return;
  syncing = true;
  socket.send(JSON.stringify({ type: "sync", since: board.version }));
}

// ---- the socket ----

function connect() {
  clearTimeout(retryTimer);
  if (!navigator.onLine) { status("offline: waiting for the network", "offline"); return; }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const since = board && board.id === boardId ? `?since=${board.version}` : "";
  const ws = new WebSocket(`${scheme}://${location.host}/api/boards/${encodeURIComponent(boardId)}/ws${since}`);
  socket = ws;
  status("connecting…");
  ws.onopen = () => { retry = 0; };
  ws.onmessage = (e) => { if (ws === socket) receive(JSON.parse(e.data)); };
  ws.onclose = (e) => {
    if (ws !== socket) return;
    dropped();
    if (e.code === 1011 && /too many|not a message/.test(e.reason)) toast(`disconnected: ${e.reason}`);
    if (e.code === 1008 || e.code === 1011 && /no board/.test(e.reason)) { status(`closed: ${e.reason}`, "offline"); return; }
    status(navigator.onLine ? "reconnecting…" : "offline: waiting for the network", "offline");
    if (navigator.onLine) retryTimer = setTimeout(reconnect, Math.min(1000 * 2 ** retry++, 8000));
  };
}

/// The socket is gone: what it had sent is sent again after the catch-up, unless it came
/// through.
function dropped() {
  socket = null;
  syncing = false;
  for (const p of pending) p.sent = false;
}

/// Connects again, unless the session has ended meanwhile (logged out in another tab, or
/// expired): then the login form, and the board again after it.
async function reconnect() {
  try {
    if (!(await api("/session"))) { boardId = null; await start(); return; }
  } catch { /* the server is away: the socket's own failure schedules the next try */ }
  connect();
}

function receive(m) {
  switch (m.type) {
    case "members":
      you = m.you;
      members = new Map(m.members.map((x) => [x.id, x]));
      break;
    case "snapshot":
      board = m.board;
      ahead.clear();
      syncing = false;
      // Whether an add sent before the drop came through cannot be told from a snapshot:
      // only the operations that are safe to repeat (moves, renames, deletes) are sent again.
      pending = pending.filter((p) => p.op.kind !== "add" || !p.tried);
      flush();
      status(`live · v${board.version}`, "live");
      break;
    case "ops":
      syncing = false;
      m.ops.forEach(applied);
      flush();
      status(`live · v${board.version}`, "live");
      break;
    case "op": applied(m); status(`live · v${board.version}`, "live"); break;
    case "join": members.set(m.member.id, m.member); break;
    case "leave": members.delete(m.id); break;
    case "select": { const x = members.get(m.id); if (x) x.selection = m.card; break; }
    case "rejected":
      pending = pending.filter((p) => p.ref !== m.ref);
      toast(m.message);
      break;
    case "error": toast(m.message); break;
  }
  render();
}

/// Sends the pending operations not sent on this socket yet.
function flush() {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  for (const p of pending) {
    if (p.sent) continue;
    socket.send(JSON.stringify({ type: "op", ref: p.ref, op: p.op }));
    p.sent = true;
    p.tried = true;
  }
  if (selected) socket.send(JSON.stringify({ type: "select", card: selected }));
}

function send(op) {
  if (pending.length >= 200) { toast("too many changes waiting for the server"); return; }
  pending.push({ ref: `${page}-${++refs}`, op, sent: false });
  if (board) flush();
  render();
}

function select(card) {
  selected = card;
  editing = null;
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "select", card }));
  render();
}

// ---- the page ----

function status(text, cls) { const s = $("status"); s.textContent = text; s.className = "status " + (cls || ""); }

let toastTimer;
function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove("show"), 4000);
}

function positionAt(cards, lane, index, movingId) {
  const inLane = cards.filter((c) => c.lane === lane && c.id !== movingId);
  const before = inLane[index - 1], after = inLane[index];
  if (!before && !after) return 1;
  if (!before) return after.position - 1;
  if (!after) return before.position + 1;
  return (before.position + after.position) / 2;
}

function render() {
  const cards = shown();
  if (selected && !cards.some((c) => c.id === selected)) { selected = null; editing = null; }
  const pendingIds = new Set(pending.map((p) => p.op.id || "pending-" + p.ref));
  const lanes = $("lanes");
  if (!lanes.children.length) buildLanes();
  for (const section of lanes.children) {
    const lane = section.dataset.lane;
    const list = section.querySelector(".cards");
    const mine = cards.filter((c) => c.lane === lane);
    section.querySelector(".count").textContent = mine.length;
    list.replaceChildren(...mine.map((c) => cardElement(c, pendingIds.has(c.id))));
  }
  $("actions").classList.toggle("hidden", !selected);
  $("members").replaceChildren(...[...members.values()].map((m) => {
    const li = document.createElement("li");
    li.textContent = m.name;
    li.style.background = m.color;
    li.dataset.member = m.id;
    if (you && m.id === you.id) li.className = "you";
    return li;
  }));
}

function cardElement(c, isPending) {
  const li = document.createElement("li");
  li.className = "card" + (isPending ? " pending" : "") + (c.id === selected ? " mine" : "");
  li.dataset.id = c.id;
  li.draggable = !c.id.startsWith("pending-");
  const others = [...members.values()].filter((m) => m.selection === c.id && (!you || m.id !== you.id));
  if (others.length) {
    li.style.outlineColor = others[0].color;
    const who = document.createElement("div");
    who.className = "who";
    for (const m of others) { const s = document.createElement("span"); s.textContent = m.name; s.style.background = m.color; who.append(s); }
    li.append(who);
  }
  if (editing === c.id) {
    const input = document.createElement("input");
    input.value = draft ?? c.title;
    input.maxLength = 200;
    input.oninput = () => { draft = input.value; };
    input.onkeydown = (e) => {
      if (e.key === "Enter" && input.value.trim()) { editing = null; send({ kind: "rename", id: c.id, title: input.value }); }
      if (e.key === "Escape") { editing = null; render(); }
    };
    li.append(input);
    setTimeout(() => input.focus());
  } else {
    li.append(document.createTextNode(c.title));
  }
  li.onclick = () => { if (editing !== c.id && !c.id.startsWith("pending-")) select(selected === c.id ? null : c.id); };
  li.ondragstart = (e) => { e.dataTransfer.setData("text/plain", c.id); };
  return li;
}

function buildLanes() {
  for (const [lane, title] of LANES) {
    const section = $("lane-template").content.firstElementChild.cloneNode(true);
    section.dataset.lane = lane;
    section.querySelector(".lane-title").textContent = title;
    const form = section.querySelector(".add");
    form.onsubmit = (e) => {
      e.preventDefault();
      const input = form.querySelector("input");
      const title = input.value.trim();
      if (!title) return;
      const cards = shown().filter((c) => c.lane === lane);
      send({ kind: "add", lane, position: positionAt(cards, lane, cards.length), title });
      input.value = "";
    };
    section.ondragover = (e) => { e.preventDefault(); section.classList.add("drop"); };
    section.ondragleave = () => section.classList.remove("drop");
    section.ondrop = (e) => {
      e.preventDefault();
      section.classList.remove("drop");
      const id = e.dataTransfer.getData("text/plain");
      const cards = shown();
      const others = [...section.querySelectorAll(".card")].filter((el) => el.dataset.id !== id);
      const index = others.filter((el) => el.getBoundingClientRect().top + el.offsetHeight / 2 < e.clientY).length;
      if (cards.some((c) => c.id === id)) send({ kind: "move", id, lane, position: positionAt(cards, lane, index, id) });
    };
    $("lanes").append(section);
  }
}

function act(what) {
  const cards = shown();
  const card = cards.find((c) => c.id === selected);
  if (!card) return;
  const lane = laneIndex(card.lane);
  const inLane = cards.filter((c) => c.lane === card.lane);
  const at = inLane.findIndex((c) => c.id === card.id);
  const moveTo = (l, index) => send({ kind: "move", id: card.id, lane: LANES[l][0], position: positionAt(cards, LANES[l][0], index, card.id) });
  if (what === "left" && lane > 0) moveTo(lane - 1, cards.filter((c) => c.lane === LANES[lane - 1][0]).length);
  if (what === "right" && lane < LANES.length - 1) moveTo(lane + 1, cards.filter((c) => c.lane === LANES[lane + 1][0]).length);
  if (what === "up" && at > 0) moveTo(lane, at - 1);
  if (what === "down" && at < inLane.length - 1) moveTo(lane, at + 1);
  if (what === "edit") { editing = card.id; draft = null; render(); }
  if (what === "delete") { send({ kind: "delete", id: card.id }); select(null); }
  if (what === "close") select(null);
}

// ---- boards, login ----

async function api(path, options) {
  const res = await fetch(path, options);
  if (!res.ok) throw new Error((await res.text()) || res.statusText);
  return res.json();
}

async function loadBoards() {
  const boards = await api("/api/boards");
  $("boards").replaceChildren(...boards.map((b) => new Option(b.title, b.id)));
  const wanted = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  open(boards.some((b) => b.id === wanted) ? wanted : boards[0].id);
}

function open(id) {
  if (id === boardId) return;
  boardId = id;
  board = null;
  pending = [];
  ahead.clear();
  selected = null;
  members.clear();
  $("boards").value = id;
  $("export").href = `/api/boards/${encodeURIComponent(id)}/export`;
  history.replaceState(null, "", "#" + encodeURIComponent(id));
  if (socket) { const s = socket; socket = null; s.close(1000); }
  render();
  connect();
}

async function start() {
  const user = await api("/session");
  $("login").classList.toggle("hidden", !!user);
  $("app").classList.toggle("hidden", !user);
  if (!user) { $("name").focus(); return; }
  you = user;
  await loadBoards();
}

$("login").onsubmit = async (e) => {
  e.preventDefault();
  try {
    await api("/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: $("name").value }) });
    $("login-error").textContent = "";
    await start();
  } catch (err) { $("login-error").textContent = err.message; }
};
$("logout").onclick = async () => {
  await fetch("/logout", { method: "POST" });
  location.hash = "";
  location.reload();
};
$("boards").onchange = () => open($("boards").value);
$("new-board").onclick = async () => {
  const title = prompt("Name of the new board");
  if (!title || !title.trim()) return;
  try {
    const b = await api("/api/boards", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ title }) });
    location.hash = b.id;
    boardId = null;
    await loadBoards();
  } catch (err) { toast(err.message); }
};
$("actions").onclick = (e) => { const b = e.target.closest("button"); if (b) act(b.dataset.act); };
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && selected && !editing) select(null); });
// A dropped network closes the socket at once (rather than waiting for a timeout), and its
// return reconnects at once: the catch-up brings what was missed, without a reload.
window.addEventListener("offline", () => {
  if (socket) { const s = socket; dropped(); s.close(4000, "offline"); }
  status("offline: waiting for the network", "offline");
});
window.addEventListener("online", () => { if (boardId && !socket) { retry = 0; connect(); } });
start().catch((err) => toast(err.message));
