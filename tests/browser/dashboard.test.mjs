// The dashboard example in two browsers at once, one on Server-Sent Events and one on a
// WebSocket: both fill the table and keep ticking; one loses its network and ticks again once
// it is back.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, screenshot, startExample } from "./lib.mjs";

let server, chrome;

before(async () => {
  server = await startExample("dashboard");
  chrome = await launch();
});

after(async () => {
  await chrome?.close();
  await server?.stop();
});

const ticks = (page) => page.evaluate(() => Number((document.getElementById("status").textContent.match(/(\d+) ticks/) || [0, 0])[1]));

async function moreTicks(page, than) {
  await page.waitForFunction((n) => {
    const m = document.getElementById("status").textContent.match(/(\d+) ticks/);
    return m && Number(m[1]) > n;
  }, than, { timeout: 10_000 });
}

test("two viewers, SSE and WebSocket, one through a network drop", async () => {
  const sse = await chrome.newPage("sse");
  const ws = await chrome.newPage("ws", { viewport: { width: 390, height: 700 } });
  for (const { page } of [sse, ws]) await page.goto(server.url);
  await ws.page.check("input[value=ws]");
  for (const { page } of [sse, ws]) {
    await page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 5);
    await moreTicks(page, 1);
  }
  assert.match(await sse.page.textContent("#status"), /^SSE: \d+ ticks$/);
  assert.match(await ws.page.textContent("#status"), /^WebSocket: \d+ ticks$/);

  const before = await ticks(ws.page);
  await ws.context.setOffline(true);
  const sseBefore = await ticks(sse.page);
  await moreTicks(sse.page, sseBefore + 2); // the SSE viewer goes on
  await ws.context.setOffline(false);
  await moreTicks(ws.page, before + 2);

  for (const { page } of [sse, ws]) {
    const prices = await page.locator("td.price").allTextContents();
    assert.equal(prices.length, 5);
    for (const p of prices) assert.match(p, /^\d+\.\d\d$/);
  }
  await screenshot(sse.page, "dashboard");
  await screenshot(ws.page, "dashboard-phone");
  assert.deepEqual(chrome.errors, []);
});
