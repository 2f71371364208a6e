// Shared by the browser tests: Debian's chromium driven by playwright-core
// (no browser download), headless, --no-sandbox (CI runs as root), and the
// built app served on 127.0.0.1.
import { execSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "../serve.mjs";

export const www = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const root = path.dirname(www);
export const dist = path.join(www, "dist");
export const results = path.join(www, "test-results");

export function chromiumPath() {
  try {
    return execSync("command -v chromium", { shell: "/bin/sh" }).toString().trim();
  } catch {
    throw new Error("chromium is not installed (apt-get install chromium); .ci/setup does this");
  }
}

export async function start(extraRoots = {}) {
  if (!fs.existsSync(path.join(dist, "index.html"))) throw new Error("www/dist is missing: run `npm run build` first");
  const { server, url } = await serve({ ...extraRoots, "/": dist });
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  fs.mkdirSync(results, { recursive: true });
  return {
    url,
    browser,
    async close() {
      await browser.close();
      server.close();
    },
  };
}

export function check(cond, msg) {
  if (!cond) throw new Error(`FAILED: ${msg}`);
  console.log(`ok - ${msg}`);
}
