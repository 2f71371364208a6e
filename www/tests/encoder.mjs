// The shipped MiniLM module (dist/pkg, after wasm-opt) under Node against
// onnxruntime's fixture: token ids exact, cosine ≥ 0.999 for every case,
// the same bar as the native test (crates/timbral-encoder/tests). Testing
// the module the app and the encoder Worker load, not a debug build of it.
// Load time and query latency are printed, never asserted.
import fs from "node:fs";
import path from "node:path";
import { check, dist, root } from "./browser.mjs";

const pkg = path.join(dist, "pkg");
const fixture = JSON.parse(
  fs.readFileSync(path.join(root, "crates", "timbral-encoder", "tests", "fixtures", "minilm.json"), "utf8"),
);
const { initSync, MiniLmEncoder } = await import(path.join(pkg, "timbral_encoder_wasm.js"));
initSync({ module: fs.readFileSync(path.join(pkg, "timbral_encoder_wasm_bg.wasm")) });
const model = fs.readFileSync(path.join(dist, "models", "model.onnx"));
const tokenizer = fs.readFileSync(path.join(dist, "models", "tokenizer.json"));

let t = performance.now();
const encoder = MiniLmEncoder.fromBytes(model, tokenizer);
const load = performance.now() - t;
check(encoder.modelSha256 === fixture.model_sha256, `the module runs the fixture's model (${encoder.modelSha256.slice(0, 12)}…)`);

const cosine = (a, b) => {
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) [ab, aa, bb] = [ab + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]];
  return ab / Math.sqrt(aa * bb);
};
let worst = 1;
let idsMatch = 0;
for (const c of fixture.cases) {
  const ids = Array.from(encoder.tokenize(c.text));
  if (ids.length === c.ids.length && ids.every((v, i) => v === c.ids[i])) idsMatch++;
  const e = encoder.embed(c.text);
  if (e.length !== 384) check(false, `a 384-d embedding for ${JSON.stringify(c.text)}, not ${e.length}`);
  worst = Math.min(worst, cosine(e, c.embedding));
}
check(idsMatch === fixture.cases.length, `token ids match onnxruntime's exactly for ${idsMatch} of ${fixture.cases.length} texts`);
check(worst >= 0.999, `every embedding within cosine 0.999 of onnxruntime's: worst ${worst.toFixed(6)}`);
check(/empty/.test(String(tryEmbed(""))), "an empty text is a clear error");

function tryEmbed(text) {
  try {
    encoder.embed(text);
    return "no error";
  } catch (e) {
    return e;
  }
}

for (const pieces of [8, 32]) {
  const text = Array(pieces - 2).fill("rock").join(" ");
  encoder.embed(text); // warm-up
  const times = [];
  for (let i = 0; i < 50; i++) {
    t = performance.now();
    encoder.embed(text);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`wasm32 simd128 under Node: ${pieces} word pieces, median ${times[25].toFixed(1)} ms over 50 runs`);
}
console.log(`encoder module loaded in ${load.toFixed(0)} ms`);
