// One headless Chromium (Debian's /usr/bin/chromium) for a test, driven by JSON lines on stdin;
// each answered by one JSON line on stdout: {"ok": true, "value": ...} or {"ok": false, "error"}.
// Usage: node driver.mjs USER_DATA_DIR
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const context = await chromium.launchPersistentContext(process.argv[2], {
  executablePath: process.env.HITL_CHROMIUM || "/usr/bin/chromium", headless: true, ignoreDefaultArgs: true,
  // Exactly our flags, plus the pipe playwright talks over (its own defaults are left out).
  args: [...args, `--user-data-dir=${process.argv[2]}`, "--remote-debugging-pipe", "about:blank"],
  viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
});
const errors = [];
let page = context.pages()[0] || (await context.newPage());
const watch = (p) => {
  p.on("pageerror", (e) => errors.push(String(e)));
  p.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
};
watch(page);

const ops = {
  goto: async ({ url }) => { const t = Date.now(); await page.goto(url); return Date.now() - t; },
  reload: async () => { await page.reload(); },
  newPage: async () => { await page.close(); page = await context.newPage(); watch(page); },
  wait: async ({ selector, text, gone, timeout }) => {
    const loc = text ? page.locator(selector, { hasText: text }) : page.locator(selector);
    await loc.first().waitFor({ state: gone ? "detached" : "visible", timeout: timeout || 10000 });
  },
  text: async ({ selector }) => page.locator(selector).first().innerText(),
  count: async ({ selector }) => page.locator(selector).count(),
  click: async ({ selector, text }) => {
    await (text ? page.locator(selector, { hasText: text }) : page.locator(selector)).first().tap();
  },
  fill: async ({ selector, value }) => page.locator(selector).first().fill(value),
  eval: async ({ expr }) => page.evaluate(expr),
  viewport: async ({ width, height }) => page.setViewportSize({ width, height }),
  scheme: async ({ dark }) => page.emulateMedia({ colorScheme: dark ? "dark" : "light" }),
  screenshot: async ({ path }) => { await page.screenshot({ path, fullPage: false }); },
  errors: async () => errors,
  close: async () => { await context.close(); setTimeout(() => process.exit(0), 10); },
};

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line);
  try {
    const value = await ops[cmd.op](cmd);
    process.stdout.write(JSON.stringify({ ok: true, value: value ?? null }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message) }) + "\n");
  }
}
