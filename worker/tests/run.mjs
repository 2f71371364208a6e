// `npm test`: both Workers on a local workerd (wrangler dev, 127.0.0.1
// only), then
//   1. every endpoint, and every kind of bad input, over HTTP;
//   2. conformance: /recs for fixed histories gives the native CLI's top 20,
//      on the app's bundle and on one bundle per CF model kind (each on a
//      Worker of its own: the same build, BUNDLE_PATH set to it);
//   3. the stateful edge: signed listener tokens (forged, expired, missing,
//      another listener's), profiles in the local Workers KV, and
//      concurrent feedback of one listener losing no event;
//   4. a bounded load test of /recs (autocannon, 2 × 10 s, 127.0.0.1):
//      zero errors; it prints requests/s, p50/p99 latency and peak memory.
// Needs `npm run build` first. Figures go to test-results/load.json too.
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { bundleSections, USER_SECTIONS } from "../../www/bundle-sections.mjs";
import { timbralCli } from "../../www/timbral-cli.mjs";
import { cfBundles } from "../../www/cf-bundles.mjs";

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const root = path.dirname(here);
const bundlePath = path.join(here, "build", "assets", "timbral.bundle");
const LOAD_SECONDS = Number(process.env.TIMBRAL_LOAD_SECONDS ?? 20);

function check(cond, msg) {
  if (!cond) throw new Error(`FAILED: ${msg}`);
  console.log(`ok - ${msg}`);
}

// ---- servers -------------------------------------------------------------

const servers = [];

/** Starts `wrangler dev` for one config on 127.0.0.1:port; resolves when
 * `probe` answers 200. The encoder runs as its own dev process: the
 * recommender's service binding finds it through wrangler's local dev
 * registry (static assets do not work for a second config in one process). */
async function startWorker(config, port, probe, extra = []) {
  const child = spawn(
    path.join(here, "node_modules", ".bin", "wrangler"),
    ["dev", "-c", config, "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(port + 1000), "--show-interactive-dev-session=false", ...extra],
    { cwd: here, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" }, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  servers.push(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev -c ${config} exited:\n${log}`);
    try {
      const r = await fetch(url + probe);
      if (r.status === 200) return { url, child, log: () => log };
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`wrangler dev -c ${config} did not answer ${probe} within 180 s:\n${log}`);
}

function stopAll() {
  for (const c of servers) {
    try {
      process.kill(-c.pid, "SIGTERM");
    } catch {}
  }
}
process.on("exit", stopAll);

/** Resident memory (kB) of a process and its descendants, from /proc. */
function treeRssKb(pid) {
  const children = new Map();
  for (const p of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(p));
    } catch {}
  }
  let total = 0;
  const walk = (p) => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) total += Number(m[1]);
    } catch {}
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return total;
}

// ---- helpers -------------------------------------------------------------

let base;
async function call(method, route, body, token) {
  const init = { method, headers: { "content-type": "application/json" } };
  if (token !== undefined) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  // One retry: workerd may close an idle keep-alive socket as it is reused.
  const r = await fetch(base + route, init).catch(() => fetch(base + route, init));
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: r.status, json, text, type: r.headers.get("content-type") ?? "" };
}
const ids = (list) => list.map((x) => x.item);

// Listener tokens as the app's back end would sign them (timbral_api::auth):
// base64url(claims) "." base64url(HMAC-SHA256(secret, claims part)).
const TOKEN_SECRET = crypto.randomBytes(32).toString("hex");
function sign(claims, secret = TOKEN_SECRET) {
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `${payload}.${crypto.createHmac("sha256", secret).update(payload).digest("base64url")}`;
}

async function refused(method, route, body, status, pattern, what) {
  const r = await call(method, route, body);
  check(
    r.status === status && r.type.startsWith("application/json") && pattern.test(r.json?.error ?? ""),
    `${what}: ${r.status} ${JSON.stringify(r.json?.error)}`,
  );
}

// ---- run -------------------------------------------------------------------

// The native CLI for the conformance check, built before the servers start.
if (!process.env.TIMBRAL_BIN) execFileSync("cargo", ["build", "-q", "--locked", "-p", "timbral-train"], { cwd: root, stdio: "inherit" });
// One bundle per CF kind, among the static assets while the tests run.
const kinds = cfBundles(path.join(root, "target", "conformance"));
for (const b of kinds) fs.copyFileSync(b.path, path.join(here, "build", "assets", b.file));
const removeKindBundles = () => kinds.forEach((b) => fs.rmSync(path.join(here, "build", "assets", b.file), { force: true }));
process.on("exit", removeKindBundles);

try {
  const encoder = await startWorker("encoder/wrangler.toml", 8790, "/healthz");
  const enc = await (await fetch(encoder.url + "/healthz")).json();
  console.log(`encoder Worker up on ${encoder.url}; wasm memory ${(enc.wasmMemoryBytes / 1e6).toFixed(1)} MB`);
  // The listeners' KV and objects in a fresh local store of this run.
  const state = fs.mkdtempSync(path.join(os.tmpdir(), "timbral-worker-state-"));
  process.on("exit", () => fs.rmSync(state, { recursive: true, force: true }));
  const main = await startWorker("wrangler.toml", 8787, "/healthz", ["--var", `TOKEN_SECRET:${TOKEN_SECRET}`, "--persist-to", state]);
  base = main.url;

  // 1. Endpoints.
  const health = await call("GET", "/healthz");
  // HetRec where ../shared has it, else the embedded default catalogue.
  const hetrec = health.json.source?.startsWith("hetrec");
  check(
    health.status === 200 && health.json.bundleLoaded && health.json.formatVersion >= 3 && health.json.items >= (hetrec ? 10000 : 1000),
    `/healthz: bundle loaded, format ${health.json.formatVersion}, ${health.json.items} items (${health.json.source})`,
  );
  const served = bundleSections(bundlePath).kinds;
  check(
    health.json.users === 0 && !served.some((k) => k in USER_SECTIONS),
    `the Worker's bundle holds no training listener: /healthz counts ${health.json.users} users, sections ${served.join(",")}`,
  );
  const popular = ids((await call("POST", "/coldstart", { k: 40 })).json.items);
  check(popular.length === 40 && new Set(popular).size === 40, "/coldstart without genres: 40 distinct popular items");
  const history = popular.filter((_, i) => i % 8 === 1).slice(0, 5).map((item, i) => ({ item, plays: 10 * (i + 1) }));
  const recs = await call("POST", "/recs", { history, k: 20 });
  check(recs.status === 200 && recs.json.items.length === 20, "/recs: 20 items");
  check(
    recs.json.items.every((r) => r.explanation && typeof r.explanation.cf === "number" && Array.isArray(r.explanation.because)),
    "/recs: every item is explained (cf, content, popularity parts, supporting history, shared tags)",
  );
  check(!recs.json.items.some((r) => history.some((h) => h.item === r.item)), "/recs: no history item is recommended");
  check(recs.json.items.some((r) => r.explanation.because.length > 0), "/recs: explanations name supporting history items");

  const coldNames = (await call("POST", "/coldstart", { k: 40 })).json.items.map((x) => x.name);
  const track = hetrec ? "289" : popular[0];
  const similar = await call("GET", `/recs/track/${encodeURIComponent(track)}?k=5`);
  check(
    similar.status === 200 && similar.json.item.name === (hetrec ? "Britney Spears" : coldNames[0]) && similar.json.items.length === 5,
    `/recs/track/${track} (${similar.json.item?.name}): ${similar.json.items?.map((x) => x.name).join(", ")}`,
  );
  const search = await call("POST", "/search", { query: "sad acoustic songs", k: 10 });
  check(
    search.status === 200 && search.json.mode === "semantic" && search.json.items.length === 10,
    `/search (semantic, via the encoder Worker): ${search.json.items?.slice(0, 5).map((x) => x.name).join(", ")}`,
  );
  const accents = await call("POST", "/search", { query: "Sigur Rós — música triste", k: 5 });
  check(
    accents.status === 200 && accents.json.mode === "semantic" && accents.json.items.length === 5,
    `/search with a non-ASCII query: ${accents.json.items?.map((x) => x.name).join(", ") ?? JSON.stringify(accents.json)}`,
  );
  const metal = await call("POST", "/search", { query: "fast aggressive guitars", k: 5, genre: "metal" });
  check(metal.status === 200 && metal.json.items.length === 5, `/search with genre metal: ${metal.json.items?.map((x) => x.name).join(", ")}`);
  // Filters by the bundle's item facts: energy measured or predicted, moods.
  const calm = await call("POST", "/search", { query: "music", k: 20, energy: "..0.4" });
  const wild = await call("POST", "/search", { query: "music", k: 20, energy: "0.8.." });
  const itemSet = (r) => new Set((r.json.items ?? []).map((x) => x.item));
  const overlap = [...itemSet(calm)].filter((x) => itemSet(wild).has(x));
  check(
    calm.status === 200 && wild.status === 200 && calm.json.items.length > 0 && wild.json.items.length > 0 && overlap.length === 0,
    `/search with energy ..0.4 and 0.8.. give disjoint items: ${calm.json.items?.slice(0, 3).map((x) => x.name).join(", ")} | ${wild.json.items?.slice(0, 3).map((x) => x.name).join(", ")}`,
  );
  // Queries of every length up to the tokenizer's 128 pieces; wasm memory
  // never shrinks, so the isolate must stay under the Workers limit after
  // all of them.
  for (const words of [5, 12, 28, 60, 140]) {
    const r = await fetch(encoder.url + "/embed", {
      method: "POST",
      body: JSON.stringify({ text: Array.from({ length: words }, (_, i) => ["rain", "guitar", "night", "slow"][i % 4]).join(" ") }),
    });
    check(r.status === 200 && (await r.json()).embedding.length === 384, `/embed with ${words} words`);
  }
  const encMb = (await (await fetch(encoder.url + "/healthz")).json()).wasmMemoryBytes / 1e6;
  check(encMb < 128, `encoder Worker: wasm memory ${encMb.toFixed(1)} MB after queries of 5 to 140 words, under the 128 MB limit`);
  const cold = await call("POST", "/coldstart", { genres: ["rock", "jazz"], seedItems: [popular[0]], k: 10 });
  check(cold.status === 200 && cold.json.items.length === 10 && !ids(cold.json.items).includes(popular[0]), "/coldstart with genres and a seed");
  const seeds = [popular[1], popular[9]];
  const fill = await call("POST", "/autofill", { seeds, k: 10 });
  check(fill.status === 200 && fill.json.items.length === 10 && !ids(fill.json.items).some((i) => seeds.includes(i)), "/autofill: 10 items, seeds left out");
  const home = await call("POST", "/recs/home", { history });
  const titles = home.json.carousels?.map((c) => c.title) ?? [];
  check(
    home.status === 200 && titles[0] === "For you" && titles.some((t) => t.startsWith("Because you like")) && titles.some((t) => t.endsWith(" mix")) && titles.at(-1) === "Popular now",
    `/recs/home carousels: ${titles.join(" | ")}`,
  );
  check(
    home.json.carousels.every((c) => c.items.length > 0 && !c.items.some((x) => history.some((h) => h.item === x.item))),
    "/recs/home: every carousel has items, none from the history",
  );
  const taste = await call("POST", "/taste/summary", { history });
  const share = taste.json.labels?.reduce((s, l) => s + l.share, 0);
  check(taste.status === 200 && taste.json.labels.length > 0 && share <= 1.0001, `/taste/summary: ${taste.json.labels?.slice(0, 3).map((l) => l.label).join(", ")}`);

  // The session protocol, stateless: the profile goes in and comes back.
  const liked = history[0].item;
  const sess = await call("POST", "/session", {
    commands: [{ op: "recommend", k: 5 }, { op: "feedback", item: liked, kind: "like" }, { op: "dance" }],
  });
  const r = sess.json.replies ?? [];
  check(
    sess.status === 200 && r[0]?.stage === "cold_start" && r[0].items.length === 5 && r[1]?.ok === true && r[2]?.ok === false && /unknown variant `dance`/.test(r[2].error),
    `/session: cold start of ${r[0]?.items?.length}, a like, a bad command answered in its place`,
  );
  const again = await call("POST", "/session", { profile: sess.json.profile, commands: [{ op: "profile" }, { op: "recommend", k: 5 }] });
  const tastes = again.json.replies?.[0]?.tastes ?? [];
  check(
    again.status === 200 && tastes.length === 1 && tastes[0].liked === 1 && again.json.replies[1].stage === "fallback" && again.json.replies[1].items.every((x) => x.item !== liked),
    `/session: the returned profile carries the taste (${tastes[0]?.cluster ?? "no cluster"}) into the next call`,
  );

  // 3. The stateful edge: the listener comes from the signed token alone.
  const now = Math.floor(Date.now() / 1000);
  const runId = crypto.randomUUID();
  const ana = sign({ sub: `ana-${runId}`, exp: now + 3600 });
  const bob = sign({ sub: `bob-${runId}`, exp: now + 3600 });
  const unauthorized = async (token, method, route, body, pattern, what) => {
    const r = await call(method, route, body, token);
    check(r.status === 401 && pattern.test(r.json?.error ?? ""), `${what}: ${r.status} ${JSON.stringify(r.json?.error)}`);
  };
  await unauthorized(undefined, "GET", "/profile", undefined, /no Authorization/, "GET /profile without a token is 401");
  await unauthorized(undefined, "POST", "/feedback", { item: liked, kind: "like" }, /no Authorization/, "POST /feedback without a token is 401");
  await unauthorized(undefined, "POST", "/recs", { k: 5 }, /no Authorization/, "POST /recs without a history or a token is 401");
  const [anaClaims, anaSig] = ana.split(".");
  const asBob = Buffer.from(JSON.stringify({ sub: `bob-${runId}`, exp: now + 3600 })).toString("base64url");
  await unauthorized(`${asBob}.${anaSig}`, "GET", "/profile", undefined, /does not match/, "another listener's claims under ana's signature are 401");
  await unauthorized(sign({ sub: `ana-${runId}`, exp: now + 3600 }, "not the Worker's secret, but long enough"), "GET", "/profile", undefined, /does not match/, "a token signed with another secret is 401");
  await unauthorized(sign({ sub: `ana-${runId}`, exp: now - 5 }), "POST", "/feedback", { item: liked, kind: "like" }, /expired/, "an expired token is 401");
  await unauthorized(anaClaims, "GET", "/profile", undefined, /claims\.signature/, "a token without a signature is 401");

  const fb = await call("POST", "/feedback", { item: liked, kind: "like" }, ana);
  check(fb.status === 200 && fb.json.ok === true, `POST /feedback (like ${liked}) into ana's stored profile: ${fb.status} ${fb.text}`);
  const profileOf = async (token) => (await call("GET", "/profile", undefined, token)).json;
  const liked1 = await profileOf(ana);
  const likes = (p) => (p.tastes ?? []).reduce((n, t) => n + t.liked, 0);
  check(liked1.interactions === 1 && likes(liked1) === 1, `GET /profile: ana's profile, read back from KV, holds the like (${liked1.interactions} interaction)`);
  check((await profileOf(bob)).interactions === 0, "GET /profile as bob: none of ana's feedback");
  const stored = await call("POST", "/recs", { k: 5 }, ana);
  check(
    stored.status === 200 && stored.json.items.length === 5 && typeof stored.json.stage === "string" && !ids(stored.json.items).includes(liked),
    `POST /recs without a history: ana's stored tastes, stage ${stored.json.stage}, ${stored.json.items?.map((x) => x.name).join(", ")}`,
  );
  await refused("POST", "/feedback", { item: "nope-42", kind: "like" }, 401, /no Authorization/, "a bad body without a token is still 401 first");
  const bad = await call("POST", "/feedback", { item: "nope-42", kind: "like" }, ana);
  check(bad.status === 404 && /nope-42/.test(bad.json?.error ?? ""), `a bad feedback names the item: ${bad.status} ${bad.json?.error}`);

  // Concurrent feedback from one listener: every event lands.
  const burst = popular.slice(10, 40);
  const beforeBurst = await profileOf(ana);
  const replies = await Promise.all(burst.map((item) => call("POST", "/feedback", { item, kind: "like" }, ana)));
  const afterBurst = await profileOf(ana);
  check(
    replies.every((r) => r.status === 200) && afterBurst.interactions - beforeBurst.interactions === burst.length,
    `${burst.length} concurrent likes from one listener: ${afterBurst.interactions - beforeBurst.interactions} interactions added (${likes(afterBurst) - likes(beforeBurst)} likes across ${afterBurst.tastes.length} tastes), none lost`,
  );
  check((await profileOf(bob)).interactions === 0, "bob's profile is still empty after ana's burst");
  // The profile is in the local Workers KV, under the listener's key.
  const kv = execFileSync(path.join(here, "node_modules", ".bin", "wrangler"), ["kv", "key", "get", `profile:ana-${runId}`, "--binding", "PROFILES", "--local", "--persist-to", state, "-c", "wrangler.toml"], { cwd: here, env: { ...process.env, WRANGLER_SEND_METRICS: "false" } }).toString().trim();
  check(kv.length > 0 && Buffer.from(kv, "base64").length > 0, `Workers KV holds profile:ana-… (${kv.length} base64 characters)`);

  // Known users' precomputed top-K from Workers KV: `timbral precompute
  // --kv-bulk` on a full bundle, loaded by `wrangler kv bulk put`.
  const full = path.join(state, "full.bundle");
  const bulk = path.join(state, "recs.json");
  timbralCli(["-q", "train", "--no-content", "--no-tune", "--cf", "als", "--out", full]);
  timbralCli(["-q", "precompute", "--bundle", full, "--k", "20", "--kv-bulk", bulk]);
  const entries = JSON.parse(fs.readFileSync(bulk, "utf8"));
  execFileSync(path.join(here, "node_modules", ".bin", "wrangler"), ["kv", "bulk", "put", bulk, "--binding", "RECS", "--local", "--persist-to", state, "-c", "wrangler.toml"], { cwd: here, env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, stdio: "ignore" });
  const knownUser = entries[0].key.replace(/^timbral:user:/, "");
  const wanted = JSON.parse(entries[0].value).slice(0, 5).map((x) => x.item);
  const fromKv = await call("GET", `/rec/users/${encodeURIComponent(knownUser)}?k=5`);
  check(
    fromKv.status === 200 && fromKv.json.source === "kv" && ids(fromKv.json.items).join() === wanted.join(),
    `GET /rec/users/${knownUser}?k=5 from Workers KV (${entries.length} users bulk-loaded): the precompute's first 5`,
  );
  await refused("GET", "/rec/users/nobody-here", undefined, 400, /nobody-here.*client bundle/, "a user with no precomputed list, on a client bundle: the error says why");

  // Bad input: 4xx with a JSON error that names the problem.
  await refused("POST", "/recs", '{"history": [', 400, /malformed JSON.*column/, "malformed JSON");
  await refused("POST", "/recs", { history, kk: 5 }, 400, /unknown field `kk`/, "an unknown field is named");
  await refused("POST", "/recs", { history, k: 0 }, 400, /between 1 and 200/, "k = 0");
  await refused("POST", "/recs", { history, k: 201 }, 400, /between 1 and 200/, "k = 201");
  await refused("GET", "/recs/track/289?k=500", undefined, 400, /between 1 and 200/, "k = 500 on a similar-tracks query");
  await refused("POST", "/recs", { history, pad: "x".repeat(300 * 1024) }, 413, /limit is 262144/, "a body over 256 KiB");
  await refused("POST", "/search", { query: "   " }, 400, /query is empty/, "an empty query");
  await refused("POST", "/search", { query: "x", mood: "sleepy" }, 400, /unknown mood `sleepy`/, "an unknown mood");
  await refused("POST", "/search", { query: "x", year: "1990..1980" }, 400, /year: .*A ≤ B/, "a backwards year range");
  await refused("POST", "/recs", { history: [{ item: "nope-42" }] }, 404, /`nope-42`/, "an unknown id in a history is named");
  await refused("GET", "/recs/track/99999999", undefined, 404, /`99999999`/, "an unknown track id is named");
  await refused("POST", "/autofill", { seeds: [] }, 400, /at least one seed/, "autofill without seeds");
  await refused("POST", "/recs", "", 400, /body is required/, "an empty body");
  await refused("GET", "/recs", undefined, 405, /takes POST/, "the wrong method");
  await refused("GET", "/nowhere", undefined, 404, /no route/, "an unknown path");

  const metrics = await call("GET", "/metrics");
  check(
    metrics.status === 200 && /timbral_requests_total\{route="\/recs",status="200"\} \d+/.test(metrics.text) && /timbral_request_duration_seconds_bucket/.test(metrics.text),
    "/metrics: Prometheus counters by route and status, a latency histogram",
  );
  check(!/timbral_errors_total\{/.test(metrics.text), "no request ended in a server error");

  // 2. Conformance with the native CLI: the app's bundle here, then each
  // CF kind's on a Worker of its own.
  const conform = async (what, file, h) => {
    const tmp = path.join(os.tmpdir(), `timbral-worker-history-${process.pid}.tsv`);
    fs.writeFileSync(tmp, h.map((x) => `${x.item}\t${x.plays}`).join("\n") + "\n");
    const cli = JSON.parse(
      timbralCli(["-q", "recommend", "--bundle", file, "--history", tmp, "--k", "20", "--json"]).toString(),
    );
    fs.rmSync(tmp);
    const edge = (await call("POST", "/recs", { history: h, k: 20 })).json.items;
    check(ids(cli).join() === ids(edge).join(), `${what}, ${h.length}-item history: /recs and the native CLI agree on the top 20 ids`);
    // The CLI prints an f32's shortest decimal; fround recovers its bits.
    const worst = Math.max(...cli.map((r, i) => Math.abs(r.score - edge[i].score)));
    const same = cli.every((r, i) => Math.fround(r.score) === Math.fround(edge[i].score));
    check(same, `${what}: the same f32 scores (worst difference ${worst.toExponential(2)})`);
  };
  for (const h of [history, history.slice(0, 2)]) await conform(`the app's bundle (${health.json.cf})`, bundlePath, h);
  const mainBase = base;
  for (const [n, b] of kinds.entries()) {
    const port = 8800 + 2 * n;
    const w = await startWorker("wrangler.toml", port, "/healthz", ["--name", `timbral-${b.file.replace(".bundle", "")}`, "--var", `BUNDLE_PATH:/${b.file}`]);
    base = w.url;
    const hz = (await call("GET", "/healthz")).json;
    check(hz.cf === b.kind, `a Worker on ${b.file}: /healthz reports CF model ${hz.cf}`);
    const top = ids((await call("POST", "/coldstart", { k: 40 })).json.items);
    const h = top.filter((_, i) => i % 8 === 1).slice(0, 5).map((item, i) => ({ item, plays: 10 * (i + 1) }));
    for (const hh of [h, h.slice(0, 2)]) await conform(`CF ${b.label}`, b.path, hh);
    process.kill(-w.child.pid, "SIGTERM");
  }
  base = mainBase;

  // 4. Load on /recs, 127.0.0.1 only: one connection (latency as one
  // listener sees it), then 8 (throughput; latency then includes queueing
  // behind the other requests, since an isolate serves one at a time).
  const idleKb = treeRssKb(main.child.pid);
  let peakKb = idleKb;
  const sampler = setInterval(() => (peakKb = Math.max(peakKb, treeRssKb(main.child.pid))), 200);
  const runs = [];
  for (const connections of [1, 8]) {
    const result = await autocannon({
      url: `${base}/recs`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ history, k: 20 }),
      connections,
      duration: LOAD_SECONDS / 2,
    });
    const run = {
      connections,
      seconds: LOAD_SECONDS / 2,
      requests: result.requests.total,
      requestsPerSecond: result.requests.average,
      latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
    };
    runs.push(run);
    console.log(
      `load, ${connections} connection(s): ${run.requests} requests in ${run.seconds} s, ${run.requestsPerSecond.toFixed(0)} req/s; ` +
        `latency p50 ${run.latencyMs.p50} ms, p90 ${run.latencyMs.p90} ms, p99 ${run.latencyMs.p99} ms, max ${run.latencyMs.max} ms`,
    );
    check(run.requests > 0 && run.errors === 0 && run.timeouts === 0 && run.non2xx === 0, `load, ${connections} connection(s): zero errors, timeouts and non-2xx replies`);
  }
  clearInterval(sampler);
  const after = (await call("GET", "/healthz")).json;
  const load = {
    route: "POST /recs (5-item history, k 20, explained)",
    runs,
    workerdRssMb: { idle: idleKb / 1024, peak: peakKb / 1024 },
    wasmMemoryMb: after.wasmMemoryBytes / 1e6,
  };
  fs.mkdirSync(path.join(here, "test-results"), { recursive: true });
  fs.writeFileSync(path.join(here, "test-results", "load.json"), JSON.stringify(load, null, 2));
  console.log(
    `memory: wrangler dev + workerd RSS idle ${load.workerdRssMb.idle.toFixed(0)} MB, peak ${load.workerdRssMb.peak.toFixed(0)} MB; ` +
      `the isolate's wasm memory ${load.wasmMemoryMb.toFixed(1)} MB (the Workers limit is 128 MB per isolate)`,
  );
} finally {
  stopAll();
}
