// The board example in three browsers at once (two desktops, one phone): log in, add cards,
// see them everywhere, see who is here and what they selected, drag the same card two ways at
// once and end with one board, drop one browser's network and see it catch up without a reload.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launch, screenshot, startExample } from "./lib.mjs";

const DB = join(tmpdir(), `fratello-board-browser-${process.pid}.db`);
let server, chrome;

before(async () => {
  server = await startExample("board", ["--database", `sqlite://${DB}`]);
  chrome = await launch();
});

after(async () => {
  await chrome?.close();
  await server?.stop();
  for (const suffix of ["", "-wal", "-shm"]) rmSync(DB + suffix, { force: true });
});

async function login(label, viewport) {
  const { context, page } = await chrome.newPage(label, { viewport });
  await page.goto(server.url);
  await page.fill("#name", label);
  await page.click("#login button");
  await page.waitForSelector("#status.live");
  return { context, page };
}

/// The server's board as lanes of titles, fetched by `page` with its cookie.
async function server_board(page) {
  const board = await page.evaluate(() => fetch("/api/boards/welcome").then((r) => r.json()));
  const lanes = { todo: [], doing: [], done: [] };
  for (const c of board.cards) lanes[c.lane].push(c.title);
  return { lanes, version: board.version };
}

/// Waits until every page shows the server's board, settled (nothing pending): that board.
async function converged(pages) {
  const deadline = Date.now() + 10_000;
  let last;
  while (Date.now() < deadline) {
    const want = await server_board(pages[0]);
    const views = await Promise.all(pages.map(async (p) => ({
      lanes: await p.evaluate(() => Object.fromEntries([...document.querySelectorAll(".lane")].map((lane) =>
        [lane.dataset.lane, [...lane.querySelectorAll(".card")].map((c) => c.lastChild.textContent)]))),
      pending: await p.locator(".card.pending").count(),
      status: await p.textContent("#status"),
    })));
    last = { want, views };
    if (views.every((v) => v.pending === 0 && v.status === `live · v${want.version}` &&
      JSON.stringify(v.lanes) === JSON.stringify(want.lanes))) return want;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`the pages did not converge on the server's board: ${JSON.stringify(last, null, 1)}`);
}

async function addCard(page, lane, title) {
  await page.fill(`[data-lane=${lane}] .add input`, title);
  await page.press(`[data-lane=${lane}] .add input`, "Enter");
}

test("three people on one board: changes, presence, conflicts, a dropped network", async () => {
  const ada = await login("ada", { width: 1200, height: 720 });
  const bob = await login("bob", { width: 1200, height: 720 });
  const cy = await login("cy", { width: 390, height: 844 }); // a phone
  const pages = [ada.page, bob.page, cy.page];

  // Presence: everyone sees three people.
  for (const p of pages) await p.waitForFunction(() => document.querySelectorAll("#members li").length === 3);

  // Changes from each, seen by all.
  await addCard(bob.page, "todo", "Try the board on a phone");
  await addCard(ada.page, "doing", "Guide: the pitfalls chapter");
  await addCard(ada.page, "todo", "Write the release notes");
  await addCard(bob.page, "todo", "Fix the flaky test");
  await addCard(cy.page, "doing", "Review the board example");
  await addCard(ada.page, "done", "Set up CI");
  let board = await converged(pages);
  assert.deepEqual([...board.lanes.todo].sort(), ["Fix the flaky test", "Try the board on a phone", "Write the release notes"]);

  // A selection shows on the others' screens, in the selector's name.
  await bob.page.click(".card:has-text('Write the release notes')");
  await ada.page.waitForSelector(".card:has-text('Write the release notes') .who span:has-text('bob')");
  await cy.page.waitForSelector(".card:has-text('Write the release notes') .who span:has-text('bob')");

  // A conflict: ada and bob move the same card at the same moment, to different lanes.
  await ada.page.click(".card:has-text('Write the release notes')");
  await Promise.all([ada.page.click("[data-act=right]"), bob.page.click("[data-act=down]")]);
  await Promise.all([bob.page.click("[data-act=right]"), ada.page.click("[data-act=right]")]);
  board = await converged(pages);
  assert.equal(Object.values(board.lanes).flat().filter((t) => t === "Write the release notes").length, 1);

  // Drag and drop, on a desktop.
  await ada.page.dragAndDrop(".card:has-text('Try the board on a phone')", ".lane[data-lane=done] h2");
  board = await converged(pages);
  assert.ok(board.lanes.done.includes("Try the board on a phone"), JSON.stringify(board.lanes));

  // Cy's network drops; the others go on; it comes back and catches up, without a reload.
  await cy.page.evaluate(() => { window.__sameDocument = true; });
  await cy.context.setOffline(true);
  await cy.page.waitForSelector("#status.offline");
  await addCard(ada.page, "todo", "Added while cy was away");
  await bob.page.click(".card:has-text('Fix the flaky test')");
  await bob.page.click("[data-act=right]");
  await ada.page.waitForSelector(".card:has-text('Added while cy was away'):not(.pending)");
  assert.equal(await cy.page.locator(".card:has-text('Added while cy was away')").count(), 0);
  // Cy goes on working offline: the card waits, shown as pending, and is sent on the return.
  await addCard(cy.page, "todo", "Written offline");
  await cy.page.waitForSelector(".card.pending:has-text('Written offline')");
  await cy.context.setOffline(false);
  board = await converged(pages);
  assert.ok(board.lanes.todo.includes("Added while cy was away"));
  assert.equal(board.lanes.todo.filter((t) => t === "Written offline").length, 1, "sent once");
  assert.equal(await cy.page.evaluate(() => window.__sameDocument), true, "caught up in the same page");

  // A rename from the phone, and a delete.
  await cy.page.click(".card:has-text('Set up CI')");
  await cy.page.click("[data-act=edit]");
  await cy.page.fill(".card input", "Set up CI (done)");
  await cy.page.press(".card input", "Enter");
  await ada.page.click(".card:has-text('Review the board example')");
  await ada.page.click("[data-act=delete]");
  board = await converged(pages);
  assert.ok(board.lanes.done.includes("Set up CI (done)"));
  assert.ok(!Object.values(board.lanes).flat().includes("Review the board example"));

  // Screenshots, compared loosely: the parts are there, and nobody's console has an error.
  await bob.page.click("[data-act=close]");
  for (const [name, p] of [["board-desktop", ada.page], ["board-phone", cy.page]]) {
    for (const sel of ["header", "#members li", ".lane[data-lane=todo]", ".lane[data-lane=done]", ".card"]) {
      assert.ok(await p.locator(sel).first().isVisible(), `${name}: ${sel} is visible`);
    }
    await screenshot(p, name);
  }
  if (process.env.DOCS_SCREENSHOT) { // the README's picture: the header and the lanes
    const height = await ada.page.evaluate(() =>
      Math.max(...[...document.querySelectorAll(".lane")].map((l) => l.getBoundingClientRect().bottom)) + 16);
    await ada.page.screenshot({ path: process.env.DOCS_SCREENSHOT, clip: { x: 0, y: 0, width: 1200, height } });
  }
  assert.deepEqual(chrome.errors, []);
});
