// `node tests/bench-large.mjs A.bundle [B.bundle …]`: the wasm package in
// headless Chromium on large client bundles (benchmarks/million-items makes
// them with `timbral synth-bundle`). Printed, never asserted:
// - bundle fetch + check + load time, and the wasm memory after;
// - recommend top-50 with explanations (fold-in, CF, content, popularity):
//   median and p99 over 200 calls after 30 warm-up, on histories of 3–10
//   popular items (as tests/bench.mjs);
// - similar items, top 10: median and p99 over 100 items.
// Figures go to test-results/bench-large.json too.
import fs from "node:fs";
import path from "node:path";
import { results, start } from "./browser.mjs";

const bundles = process.argv.slice(2).map((p) => path.resolve(p));
if (bundles.length === 0) throw new Error("usage: node tests/bench-large.mjs BUNDLE [BUNDLE …]");
const roots = Object.fromEntries(bundles.map((b, i) => [`/large${i}/`, path.dirname(b)]));
const env = await start(roots);
const figures = [];
try {
  for (const [i, b] of bundles.entries()) {
    const page = await env.browser.newPage();
    page.on("console", (m) => m.type() === "error" && console.error("page:", m.text()));
    await page.goto(`${env.url}pkg/index.js`);
    const r = await page.evaluate(
      async ({ url }) => {
        const stats = (xs) => {
          const s = [...xs].sort((a, b) => a - b);
          const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
          return { median: q(0.5), p99: q(0.99), n: s.length };
        };
        const time = (f, n) => {
          const out = [];
          for (let i = 0; i < n; i++) {
            const t = performance.now();
            f(i);
            out.push(performance.now() - t);
          }
          return out;
        };
        const out = {};
        const { Timbral } = await import("/pkg/index.js");
        const wasmInit = (await import("/pkg/timbral_wasm.js")).default;
        let t0 = performance.now();
        const t = await Timbral.load({ bundle: url });
        out.loadMs = performance.now() - t0;
        out.items = t.info().items;
        out.wasmMemoryMb = (await wasmInit()).memory.buffer.byteLength / 1e6;
        const pop = t.coldStart({ k: 60 }).map((x) => x.item);
        const histories = Array.from({ length: 20 }, (_, h) =>
          pop.filter((_, i) => (i + h) % 7 === 0).slice(0, 3 + (h % 8)).map((item, i) => ({ item, plays: 1 + ((i * 7 + h) % 30) })),
        );
        time((i) => t.recommend({ history: histories[i % 20], k: 50 }), 30);
        out.recommend = stats(time((i) => t.recommend({ history: histories[i % 20], k: 50 }), 200));
        const ids = Array.from({ length: 100 }, (_, q) => `item-${String(Math.floor((q * out.items) / 100)).padStart(7, "0")}`);
        time((i) => t.similar(ids[i], 10), 10);
        out.similar = stats(time((i) => t.similar(ids[i], 10), 100));
        out.wasmMemoryAfterMb = (await wasmInit()).memory.buffer.byteLength / 1e6;
        return out;
      },
      { url: `/large${i}/${path.basename(b)}` },
    );
    const f = { bundle: path.basename(b), bytes: fs.statSync(b).size, ...r };
    figures.push(f);
    console.log(
      `${f.bundle}: ${f.items} items, ${(f.bytes / 1e6).toFixed(1)} MB; load ${f.loadMs.toFixed(0)} ms, wasm memory ${f.wasmMemoryMb.toFixed(0)} MB ` +
        `(${f.wasmMemoryAfterMb.toFixed(0)} MB after the calls); recommend top-50 median ${f.recommend.median.toFixed(1)} ms, ` +
        `p99 ${f.recommend.p99.toFixed(1)} ms; similar top-10 median ${f.similar.median.toFixed(1)} ms, p99 ${f.similar.p99.toFixed(1)} ms`,
    );
    await page.close();
  }
  fs.mkdirSync(results, { recursive: true });
  fs.writeFileSync(path.join(results, "bench-large.json"), JSON.stringify(figures, null, 2));
} finally {
  await env.close();
}
