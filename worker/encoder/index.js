// The encoder Worker: POST /embed {"text": "..."} → {"embedding": [...384],
// "modelSha256", "tokenizerSha256"}. The recommender Worker checks the two
// hashes against its bundle's, so a mismatched model is refused there.
//
// The wasm module and its glue are www's build output, copied to
// ../build/encoder/ by build.mjs; Workers compile the imported .wasm at
// deploy time (they forbid compiling wasm from bytes at run time).
import wasmModule from "../build/encoder/timbral_encoder_wasm_bg.wasm";
import { initSync, MiniLmEncoder } from "../build/encoder/timbral_encoder_wasm.js";

const MAX_BODY = 64 * 1024;
let loading = null; // one load per isolate, shared by concurrent requests
let memory = null; // the module's linear memory, reported by /healthz

async function asset(env, path) {
  const resp = await env.ASSETS.fetch(`https://assets.invalid${path}`);
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
  return new Uint8Array(await resp.arrayBuffer());
}

function encoder(env) {
  loading ??= (async () => {
    memory = initSync({ module: wasmModule }).memory;
    const [model, tokenizer] = await Promise.all([asset(env, "/model.onnx"), asset(env, "/tokenizer.json")]);
    return MiniLmEncoder.fromBytes(model, tokenizer);
  })().catch((e) => {
    loading = null; // try again on the next request
    throw e;
  });
  return loading;
}

const json = (status, value) =>
  new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
const error = (status, message) => json(status, { error: message, status });

async function embed(request, env) {
  const text = await request.text();
  if (text.length > MAX_BODY) return error(413, `the request body is ${text.length} bytes; the limit is ${MAX_BODY}`);
  let body;
  try {
    body = JSON.parse(text);
  } catch (e) {
    return error(400, `malformed JSON: ${e.message}`);
  }
  if (typeof body?.text !== "string" || !body.text.trim()) return error(400, "text must be a non-empty string");
  const extra = Object.keys(body).filter((k) => k !== "text");
  if (extra.length) return error(400, `unknown field \`${extra[0]}\`, expected \`text\``);
  let enc;
  try {
    enc = await encoder(env);
  } catch (e) {
    return error(503, `the text encoder could not be loaded: ${e.message}`);
  }
  try {
    return json(200, {
      embedding: Array.from(enc.embed(body.text)),
      modelSha256: enc.modelSha256,
      tokenizerSha256: enc.tokenizerSha256,
    });
  } catch (e) {
    return error(400, e.message);
  }
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/embed") {
      return request.method === "POST" ? embed(request, env) : error(405, "/embed takes POST");
    }
    if (pathname === "/healthz" && request.method === "GET") {
      try {
        const enc = await encoder(env);
        return json(200, {
          status: "ok",
          modelSha256: enc.modelSha256,
          tokenizerSha256: enc.tokenizerSha256,
          wasmMemoryBytes: memory.buffer.byteLength,
        });
      } catch (e) {
        return error(503, `the text encoder could not be loaded: ${e.message}`);
      }
    }
    return error(404, `no route for ${pathname}`);
  },
};
