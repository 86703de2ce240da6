// The chat example in three browsers at once: log in, join one room, see who is online, talk,
// drop one browser's network and see it receive what was said meanwhile once it is back.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, screenshot, startExample } from "./lib.mjs";

let server, chrome;

before(async () => {
  server = await startExample("chat");
  chrome = await launch();
});

after(async () => {
  await chrome?.close();
  await server?.stop();
});

async function join(name) {
  const { context, page } = await chrome.newPage(name);
  await page.goto(server.url);
  await page.fill("#name", name);
  await page.fill("#room", "lobby");
  await page.click("#login button");
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected");
  return { context, page };
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

const line = (page, text) => page.waitForSelector(`#log li:text-is("${text}")`);

test("three people chat in a room, one through a network drop", async () => {
  const ada = await join("ada");
  const bob = await join("bob");
  const cy = await join("cy");
  for (const { page } of [ada, bob, cy]) {
    await page.waitForFunction(() => document.querySelectorAll("#online li").length === 3);
    assert.deepEqual(await page.locator("#online li").allTextContents(), ["ada", "bob", "cy"]);
  }

  await say(ada.page, "hello, room");
  for (const { page } of [ada, bob, cy]) await line(page, "ada: hello, room");
  await say(cy.page, "hi ada");
  for (const { page } of [ada, bob]) await line(page, "cy: hi ada");

  // Cy's network drops: nothing reaches it; the others go on talking.
  await cy.context.setOffline(true);
  await say(bob.page, "cy, are you there?");
  await line(ada.page, "bob: cy, are you there?");
  await cy.page.waitForTimeout(300);
  assert.equal(await cy.page.locator('#log li:text-is("bob: cy, are you there?")').count(), 0);
  // Back: what was said meanwhile arrives, and cy can answer.
  await cy.context.setOffline(false);
  await line(cy.page, "bob: cy, are you there?");
  await say(cy.page, "back now");
  for (const { page } of [ada, bob]) await line(page, "cy: back now");

  // Bob leaves: the others see it.
  await bob.context.close();
  for (const { page } of [ada, cy]) {
    await line(page, "bob left");
    await page.waitForFunction(() => document.querySelectorAll("#online li").length === 2);
  }

  for (const sel of ["#online li", "#log li", "#text"]) assert.ok(await ada.page.locator(sel).first().isVisible(), sel);
  await screenshot(ada.page, "chat");
  assert.deepEqual(chrome.errors, []);
});
