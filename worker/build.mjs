// `npm run build`: the two Workers, ready for `wrangler dev` or `deploy`.
//
// 1. worker-build (crates.io, pinned in .ci/setup) compiles this crate for
//    wasm32 and writes build/index.js + index_bg.wasm. It would download
//    wasm-bindgen, wasm-opt and esbuild; it is pointed at the installed
//    ones instead (cargo's wasm-bindgen-cli, npm's binaryen and esbuild).
// 2. The bundle goes to build/assets/ (the recommender's static assets).
// 3. The encoder Worker gets www's timbral-encoder-wasm module (built once,
//    by `npm run build` in www/) in build/encoder/ and the MiniLM files in
//    build/encoder-assets/.
// 4. Sizes, raw and gzipped, go to build/sizes.json and the console.
//
// Inputs: TIMBRAL_BUNDLE (default: the app's, ../www/dist/data/timbral.bundle,
// which www's build makes; a client bundle, or the build fails),
// TIMBRAL_MODEL_DIR (default ../models/minilm).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { assertClientBundle } from "../www/bundle-sections.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const build = path.join(here, "build");
const bin = (name) => path.join(here, "node_modules", ".bin", name);

function need(file, hint) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
  return file;
}

const bundle = need(
  path.resolve(process.env.TIMBRAL_BUNDLE ?? path.join(root, "www", "dist", "data", "timbral.bundle")),
  "set TIMBRAL_BUNDLE, or run `npm run build` in www/ (it trains the app's bundle)",
);
assertClientBundle(bundle);
const modelDir = path.resolve(process.env.TIMBRAL_MODEL_DIR ?? path.join(root, "models", "minilm"));
const encoderPkg = path.join(root, "www", "dist", "pkg");
for (const f of ["timbral_encoder_wasm.js", "timbral_encoder_wasm_bg.wasm"]) {
  need(path.join(encoderPkg, f), "run `npm run build` in www/ first (it builds the encoder module)");
}
for (const f of ["model.onnx", "tokenizer.json"]) need(path.join(modelDir, f), "run .ci/setup (it fetches the MiniLM files)");

// 1. The recommender Worker.
const env = {
  ...process.env,
  WASM_BINDGEN_BIN: process.env.WASM_BINDGEN_BIN ?? "wasm-bindgen",
  WASM_OPT_BIN: process.env.WASM_OPT_BIN ?? bin("wasm-opt"),
  ESBUILD_BIN: process.env.ESBUILD_BIN ?? bin("esbuild"),
};
console.log("$ worker-build --release");
execFileSync("worker-build", ["--release"], { cwd: here, stdio: "inherit", env });

// 2–3. Assets and the encoder Worker's module.
const copy = (from, to) => {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
};
fs.rmSync(path.join(build, "assets"), { recursive: true, force: true });
copy(bundle, path.join(build, "assets", "timbral.bundle"));
for (const f of ["timbral_encoder_wasm.js", "timbral_encoder_wasm_bg.wasm"]) {
  copy(path.join(encoderPkg, f), path.join(build, "encoder", f));
}
for (const f of ["model.onnx", "tokenizer.json"]) copy(path.join(modelDir, f), path.join(build, "encoder-assets", f));

// 4. Sizes. Workers limit the compressed script (3 MB free, 10 MB paid)
// and each static asset (25 MiB).
const gz = (f) => zlib.gzipSync(fs.readFileSync(f), { level: 9 }).length;
const size = (f) => ({ raw: fs.statSync(f).size, gzip: gz(f) });
const sizes = {
  recommender: {
    wasm: size(path.join(build, "index_bg.wasm")),
    js: size(path.join(build, "index.js")),
  },
  encoder: {
    wasm: size(path.join(build, "encoder", "timbral_encoder_wasm_bg.wasm")),
    js: size(path.join(build, "encoder", "timbral_encoder_wasm.js")),
  },
  assets: {
    "timbral.bundle": fs.statSync(path.join(build, "assets", "timbral.bundle")).size,
    "model.onnx": fs.statSync(path.join(build, "encoder-assets", "model.onnx")).size,
    "tokenizer.json": fs.statSync(path.join(build, "encoder-assets", "tokenizer.json")).size,
  },
};
fs.writeFileSync(path.join(build, "sizes.json"), JSON.stringify(sizes, null, 2));
const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
for (const w of ["recommender", "encoder"]) {
  const s = sizes[w];
  console.log(
    `${w} Worker: wasm ${mb(s.wasm.raw)} raw, ${mb(s.wasm.gzip)} gzipped; JS ${mb(s.js.raw)} raw; ` +
      `script ${mb(s.wasm.gzip + s.js.gzip)} compressed`,
  );
}
for (const [name, n] of Object.entries(sizes.assets)) {
  if (n > 25 * 1024 * 1024) throw new Error(`${name} is ${mb(n)}: over the 25 MiB static-asset limit`);
  console.log(`asset ${name}: ${mb(n)}`);
}
