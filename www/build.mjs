// `npm run build`: the wasm package and the demo app in one step.
//
// 1. cargo builds the crates that ../wasm-pack.toml lists, for wasm32;
// 2. wasm-bindgen (the CLI pinned to Cargo.lock's version) writes the JS
//    glue and .d.ts; wasm-opt (npm `binaryen`) shrinks each module, and a
//    module over its gzip budget fails the build;
// 3. the package wrapper (pkg-src/) joins them into one npm-style package;
// 4. the app (src/), the bundle and the model files go into dist/, with a
//    service worker whose cache list and version come from their hashes.
//
// Inputs: TIMBRAL_BUNDLE (default: ../target/www/hetrec-client.bundle,
// trained here from ../../shared/data when missing, or without it
// default-client.bundle from the embedded default), TIMBRAL_SONGS_BUNDLE
// (the song catalogue the app can switch to; default:
// ../target/www/songs-client.bundle, trained here from
// ../../shared/data/spotify-songs when that is there; none without it,
// and the app shows no switch), TIMBRAL_MODEL_DIR
// (default: ../models/minilm, filled by .ci/setup). TIMBRAL_ALLOW_OVERSIZE=1
// turns the size budgets into warnings, for experiments only. The bundle
// must be a client bundle (no training listener in it): every visitor
// downloads it, so a full one fails the build.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { parse } from "smol-toml";
import { assertClientBundle } from "./bundle-sections.mjs";
import { timbralCli } from "./timbral-cli.mjs";

const www = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(www);
const config = parse(fs.readFileSync(path.join(root, "wasm-pack.toml"), "utf8"));
const { profile, target } = config.build;
const dist = path.join(www, "dist");
const pkg = path.join(root, config.build["out-dir"]);

function run(cmd, args, opts = {}) {
  console.log(`$ ${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
}

const gzipSize = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;

// The HetRec bundle where ../shared/data has HetRec, else the embedded
// default's (a synthetic catalogue with tags, genres and audio features),
// so a fresh clone builds the app with nothing but the repository.
function defaultBundle() {
  const shared = process.env.TIMBRAL_SHARED_DATA ?? path.join(root, "..", "shared", "data");
  const data = path.join(shared, "hetrec2011-lastfm-2k");
  if (fs.existsSync(data)) return { out: path.join(root, "target", "www", "hetrec-client.bundle"), data };
  return { out: path.join(root, "target", "www", "default-client.bundle"), data: null };
}

function bundlePath() {
  if (process.env.TIMBRAL_BUNDLE) return path.resolve(process.env.TIMBRAL_BUNDLE);
  const { out, data } = defaultBundle();
  if (!fs.existsSync(out)) {
    if (!data) console.log("no HetRec data beside the repository: the app gets the embedded default catalogue");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const from = data ? ["--data", data] : [];
    timbralCli(["-q", "train", ...from, "--client", "--out", out], { stdio: "inherit" });
  }
  return out;
}

// The song catalogue, where there is one: TIMBRAL_SONGS_BUNDLE, else
// trained from spotify_songs.csv beside the repository; else none.
function songsBundlePath() {
  if (process.env.TIMBRAL_SONGS_BUNDLE) return path.resolve(process.env.TIMBRAL_SONGS_BUNDLE);
  if (process.env.TIMBRAL_BUNDLE) return null; // an explicit artist bundle alone
  const shared = process.env.TIMBRAL_SHARED_DATA ?? path.join(root, "..", "shared", "data");
  const csv = path.join(shared, "spotify-songs", "spotify_songs.csv");
  if (!fs.existsSync(csv)) return null;
  const out = path.join(root, "target", "www", "songs-client.bundle");
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    timbralCli(["-q", "train", "--items", csv, "--client", "--out", out], { stdio: "inherit" });
  }
  return out;
}

// wasm-opt in place, through a cache keyed by the module's bytes, the flags
// and binaryen's version: npm's binaryen is itself wasm, single-threaded,
// and takes minutes over the encoder; a rebuild of unchanged modules (the
// second build in tests/run.sh, an edit to the app alone) reuses its output.
const binaryen = JSON.parse(fs.readFileSync(path.join(www, "node_modules", "binaryen", "package.json"), "utf8")).version;
function wasmOpt(wasm, flags) {
  const key = createHash("sha256")
    .update(JSON.stringify([binaryen, flags]))
    .update(fs.readFileSync(wasm))
    .digest("hex");
  const cache = path.join(root, "target", "www", "wasm-opt-cache");
  const hit = path.join(cache, `${key}.wasm`);
  if (fs.existsSync(hit)) {
    console.log(`wasm-opt ${path.basename(wasm)}: unchanged input, output from ${path.relative(root, hit)}`);
    fs.copyFileSync(hit, wasm);
    return;
  }
  run(path.join(www, "node_modules", ".bin", "wasm-opt"), [...flags, wasm, "-o", wasm]);
  fs.mkdirSync(cache, { recursive: true });
  // Written whole, then renamed: a killed build leaves no half file.
  fs.copyFileSync(wasm, `${hit}.tmp`);
  fs.renameSync(`${hit}.tmp`, hit);
}

// 1–2. The wasm modules.
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(pkg, { recursive: true });
const sizes = {};
for (const m of config.module) {
  // One cargo call per module: built together, cargo would unify
  // timbral-core's features and put the encoder into the recommender.
  run("cargo", ["build", "--locked", "--profile", profile, "--target", target, "-p", m.crate]);
  const name = m.crate.replaceAll("-", "_");
  const input = path.join(root, "target", target, profile, `${name}.wasm`);
  run("wasm-bindgen", [input, "--target", config.build["bindgen-target"], "--out-dir", pkg, "--typescript"]);
  const wasm = path.join(pkg, `${name}_bg.wasm`);
  const before = fs.statSync(wasm).size;
  wasmOpt(wasm, m["wasm-opt"]);
  const raw = fs.statSync(wasm).size;
  const gz = gzipSize(wasm);
  const glue = fs.statSync(path.join(pkg, `${name}.js`)).size;
  sizes[m.crate] = { raw, gzip: gz, beforeWasmOpt: before, glue, glueGzip: gzipSize(path.join(pkg, `${name}.js`)) };
  console.log(`${m.crate}: ${kb(before)} → wasm-opt → ${kb(raw)} raw, ${kb(gz)} gzipped; JS glue ${kb(glue)}`);
  if (gz > m["max-gzip-bytes"] && process.env.TIMBRAL_ALLOW_OVERSIZE !== "1") {
    throw new Error(`${m.crate}: ${gz} bytes gzipped is over its budget of ${m["max-gzip-bytes"]} (wasm-pack.toml)`);
  }
}

// 3. The package wrapper.
for (const f of fs.readdirSync(path.join(www, "pkg-src"))) {
  fs.copyFileSync(path.join(www, "pkg-src", f), path.join(pkg, f));
}
fs.writeFileSync(path.join(pkg, "sizes.json"), JSON.stringify(sizes, null, 2));

// 4. The app, the bundle, the model; the service worker's cache list.
fs.cpSync(path.join(www, "src"), dist, { recursive: true });
fs.mkdirSync(path.join(dist, "data"), { recursive: true });
const bundle = bundlePath();
assertClientBundle(bundle);
fs.copyFileSync(bundle, path.join(dist, "data", "timbral.bundle"));
const songs = songsBundlePath();
if (songs) {
  assertClientBundle(songs);
  fs.copyFileSync(songs, path.join(dist, "data", "songs.bundle"));
}
// What the app can switch between.
fs.writeFileSync(
  path.join(dist, "data", "catalogues.json"),
  JSON.stringify({ artists: "data/timbral.bundle", ...(songs ? { songs: "data/songs.bundle" } : {}) }),
);
const modelDir = path.resolve(process.env.TIMBRAL_MODEL_DIR ?? path.join(root, "models", "minilm"));
fs.mkdirSync(path.join(dist, "models"), { recursive: true });
for (const f of ["model.onnx", "tokenizer.json"]) {
  const from = path.join(modelDir, f);
  if (!fs.existsSync(from)) throw new Error(`${from} is missing: run bash .ci/setup first`);
  fs.copyFileSync(from, path.join(dist, "models", f));
}
const assets = [];
const walk = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name !== "sw.js") assets.push(path.relative(dist, p).split(path.sep).join("/"));
  }
};
walk(dist);
assets.sort();
const version = createHash("sha256");
for (const a of assets) version.update(a).update(fs.readFileSync(path.join(dist, a)));
const sw = fs
  .readFileSync(path.join(dist, "sw.js"), "utf8")
  .replace("__ASSETS__", JSON.stringify(["./", ...assets]))
  .replace("__VERSION__", version.digest("hex").slice(0, 16));
fs.writeFileSync(path.join(dist, "sw.js"), sw);
console.log(
  `dist/: ${assets.length} files; bundle ${kb(fs.statSync(path.join(dist, "data", "timbral.bundle")).size)}` +
    (songs ? `; songs bundle ${kb(fs.statSync(path.join(dist, "data", "songs.bundle")).size)}` : "; no songs bundle"),
);
