// What every browser test shares: the example's server (built by scripts/browser.sh, started
// here on a free loopback port, stopped after), Debian's Chromium driven by playwright-core,
// pages whose console errors and page errors fail the test, and screenshots for a person to
// look at under target/browser-screenshots/.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SHOTS = join(ROOT, "target", "browser-screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run"];

/// Starts `target/debug/examples/NAME` with `args` on a free 127.0.0.1 port (the example
/// prints the address it bound): `{url, stop}`. Fails after 20 s without that line.
export async function startExample(name, args = [], env = {}) {
  const bin = join(ROOT, "target", "debug", "examples", name);
  const child = spawn(bin, args, {
    cwd: ROOT,
    env: { ...process.env, RUST_LOG: "warn", ...env, ADDR: "127.0.0.1:0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => { log += d; });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} printed no address in 20 s:\n${log}`)), 20_000);
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (https?:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    child.on("exit", (code) => { clearTimeout(timer); fail(new Error(`${name} exited with ${code}:\n${log}`)); });
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((ok) => child.on("exit", ok));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { url, stop, log: () => log };
}

/// Launches Chromium with a fresh profile: `{browser, newPage, errors, close}`. Every page made
/// by `newPage` (each in its own context: its own cookies, its own network) records its console
/// errors and uncaught exceptions in `errors`.
export async function launch() {
  // (playwright gives every launch a fresh, temporary user-data-dir of its own, removed at
  // close, and refuses `--user-data-dir` in `args`.)
  const b = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
  const errors = [];
  const contexts = [];
  async function newPage(label, options = {}) {
    const context = await b.newContext(options);
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    const page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      errors.push(`${label}: console error: ${m.text()} (${m.location().url})`);
    });
    page.on("pageerror", (e) => errors.push(`${label}: page error: ${e.message}`));
    return { context, page };
  }
  async function close() {
    for (const c of contexts) await c.close().catch(() => {});
    await b.close();
  }
  return { browser: b, newPage, errors, close };
}

/// Saves a screenshot of `page` as target/browser-screenshots/NAME.png: its path.
export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
