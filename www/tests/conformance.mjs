// The app's bundle and one bundle per CF model kind (cf-bundles.mjs), a
// few histories each, three runtimes: the native CLI, the wasm package
// under Node, and the same package in Chromium must return the same top-20
// ids with the same f32 scores (one summation order on every target).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bundleSections, USER_SECTIONS } from "../bundle-sections.mjs";
import { check, dist, start } from "./browser.mjs";
import { cfBundles } from "../cf-bundles.mjs";
import { timbralCli } from "../timbral-cli.mjs";

const bundlePath = path.join(dist, "data", "timbral.bundle");
const bundle = fs.readFileSync(bundlePath);

// What every visitor downloads holds nobody else's listening: no user
// section at all, and a bundle summary that counts no users.
const { kinds } = bundleSections(bundle);
check(!kinds.some((k) => k in USER_SECTIONS), `the served bundle has no user sections (sections ${kinds.join(",")})`);
const pkg = path.join(dist, "pkg");
const K = 20;

// Node: the package itself, the module given as bytes.
const { Timbral } = await import(path.join(pkg, "index.js"));
const node = await Timbral.load({ bundle, wasm: fs.readFileSync(path.join(pkg, "timbral_wasm_bg.wasm")) });
check(node.info().users === 0 && node.info().formatVersion >= 3, `the package sees a client bundle: ${node.info().users} users, format ${node.info().formatVersion}`);

// The served bundle as the app fetches it; each CF kind's from its bytes.
const root = path.dirname(path.dirname(dist));
const bundles = [
  { kind: `the app's bundle (${node.info().cf})`, path: bundlePath, url: "/data/timbral.bundle" },
  ...cfBundles(path.join(root, "target", "conformance")).map((b) => ({ ...b, kind: `CF ${b.label}`, cf: b.kind })),
];

const env = await start();
try {
  const page = await env.browser.newPage();
  await page.goto(`${env.url}pkg/index.js`);
  for (const b of bundles) {
    const bytes = fs.readFileSync(b.path);
    const t = b.url ? node : await Timbral.load({ bundle: bytes, wasm: fs.readFileSync(path.join(pkg, "timbral_wasm_bg.wasm")) });
    if (b.cf) check(t.info().cf === b.cf, `${b.kind}: the package reports CF model ${t.info().cf}`);
    // A fixed listener: five popular artists of different weight, and a
    // short history of two (which the bundle's short-history weights serve).
    const popular = t.coldStart({ k: 40 }).map((r) => r.item);
    const histories = [
      popular.filter((_, i) => i % 8 === 1).slice(0, 5).map((item, i) => ({ item, plays: 10 * (i + 1) })),
      [{ item: popular[3], plays: 50 }, { item: popular[17], plays: 5 }],
    ];
    const source = b.url ?? bytes.toString("base64");
    for (const history of histories) {
      const tmp = path.join(os.tmpdir(), `timbral-history-${process.pid}.tsv`);
      fs.writeFileSync(tmp, history.map((h) => `${h.item}\t${h.plays}`).join("\n") + "\n");
      const cli = JSON.parse(
        timbralCli(["-q", "recommend", "--bundle", b.path, "--history", tmp, "--k", String(K), "--json"]).toString(),
      );
      fs.rmSync(tmp);
      const wasmNode = t.recommend({ history, k: K });
      const browser = await page.evaluate(
        async ({ history, K, source }) => {
          const { Timbral } = await import("/pkg/index.js");
          const bundle = source.startsWith("/") ? source : Uint8Array.from(atob(source), (c) => c.charCodeAt(0));
          const t = await Timbral.load({ bundle });
          return t.recommend({ history, k: K });
        },
        { history, K, source },
      );
      const ids = (list) => list.map((r) => r.item).join(",");
      const what = `${b.kind}, ${history.length}-item history`;
      check(cli.length === K && wasmNode.length === K && browser.length === K, `${what}: all three return ${K} items`);
      check(ids(cli) === ids(wasmNode), `${what}: native and wasm/Node agree on the top ${K} ids`);
      check(ids(cli) === ids(browser), `${what}: native and wasm/Chromium agree on the top ${K} ids`);
      // The CLI prints an f32's shortest decimal; fround recovers its bits.
      const worst = Math.max(
        ...cli.map((r, i) => Math.max(Math.abs(r.score - wasmNode[i].score), Math.abs(r.score - browser[i].score))),
      );
      const same = cli.every((r, i) => Math.fround(r.score) === Math.fround(wasmNode[i].score) && Math.fround(r.score) === Math.fround(browser[i].score));
      check(same, `${what}: the same f32 scores in all three (worst difference ${worst.toExponential(2)})`);
    }
  }

  const popular = node.coldStart({ k: 40 }).map((r) => r.item);
  // Errors are JS Errors that say what is wrong, never panics.
  const errorOf = (f) => {
    try {
      f();
      return "no error";
    } catch (e) {
      return e instanceof Error ? e.message : `not an Error: ${e}`;
    }
  };
  check(/unknown item `nope`/.test(errorOf(() => node.recommend({ history: [{ item: "nope" }] }))), "an unknown item is named");
  check(/k must be between 1 and 200/.test(errorOf(() => node.recommend({ k: 0 }))), "k = 0 is refused");
  check(/unknown field `histroy`/.test(errorOf(() => node.recommend({ histroy: [] }))), "a misspelt option is named");
  check(/feedback must be/.test(errorOf(() => node.feedback(popular[0], "love"))), "unknown feedback is refused");
  check(/not a saved Timbral profile/.test(errorOf(() => node.loadProfile(new Uint8Array([1, 2, 3])))), "a foreign profile is refused");
  const corrupt = Uint8Array.from(bundle);
  corrupt[corrupt.length - 100] ^= 0xff;
  const err = await Timbral.load({ bundle: corrupt }).then(() => "loaded", (e) => e.message);
  check(/checksum/.test(err), `a corrupt bundle is refused: ${err}`);
  const cut = await Timbral.load({ bundle: bundle.subarray(0, 1000) }).then(() => "loaded", (e) => e.message);
  check(/truncated/.test(cut), `a truncated bundle is refused: ${cut}`);
} finally {
  await env.close();
}
