// `npm run bench`: figures from headless Chromium (printed, never asserted).
// - bundle and model load times;
// - recommend top-50: median and p99 over 1000 calls (after 200 warm-up);
// - query embedding (8 and 32 word pieces) and search including it, ours
//   and transformers.js on the same model.onnx/tokenizer.json from local
//   files (remote models off, one thread), same browser, same run;
// - each .wasm raw and gzipped, and the JS glue.
import fs from "node:fs";
import path from "node:path";
import { dist, root, start, www } from "./browser.mjs";

const WARMUP = Number(process.env.BENCH_WARMUP ?? 150);
const RUNS = Number(process.env.BENCH_RUNS ?? 100);
const models = path.join(root, "models", "minilm");
const env = await start({
  "/tjs/": path.join(www, "node_modules", "@huggingface", "transformers", "dist"),
  "/ort/": path.join(www, "node_modules", "onnxruntime-web", "dist"),
  "/tjs-models/minilm/onnx/": models,
  "/tjs-models/minilm/": models,
});
try {
  const page = await env.browser.newPage();
  page.on("console", (m) => m.type() === "error" && console.error("page:", m.text()));
  await page.goto(`${env.url}pkg/index.js`);
  const r = await page.evaluate(
    async ({ WARMUP, RUNS }) => {
      const stats = (xs) => {
        const s = [...xs].sort((a, b) => a - b);
        const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
        return { median: q(0.5), p99: q(0.99), n: s.length };
      };
      const time = async (f, n) => {
        const out = [];
        for (let i = 0; i < n; i++) {
          const t = performance.now();
          await f(i);
          out.push(performance.now() - t);
        }
        return out;
      };
      const out = {};
      let t0 = performance.now();
      const { Timbral } = await import("/pkg/index.js");
      const t = await Timbral.load({ bundle: "/data/timbral.bundle", model: "/models/model.onnx", tokenizer: "/models/tokenizer.json" });
      out.bundleLoadMs = performance.now() - t0;
      out.items = t.info().items;
      t0 = performance.now();
      await t.loadEncoder();
      out.encoderLoadMs = performance.now() - t0;

      const pop = t.coldStart({ k: 60 }).map((r) => r.item);
      const histories = Array.from({ length: 20 }, (_, h) =>
        pop.filter((_, i) => (i + h) % 7 === 0).slice(0, 3 + (h % 8)).map((item, i) => ({ item, plays: 1 + ((i * 7 + h) % 30) })),
      );
      await time((i) => t.recommend({ history: histories[i % 20], k: 50 }), 200);
      out.recommend = stats(await time((i) => t.recommend({ history: histories[i % 20], k: 50 }), 1000));

      // Our encoder and transformers.js, on texts of exactly 8 and 32 pieces.
      const enc = await t.loadEncoder();
      const texts = {};
      for (const n of [8, 32]) {
        texts[n] = Array(n - 2).fill("rock").join(" ");
        if (enc.tokenize(texts[n]).length !== n) throw new Error(`text for ${n} pieces tokenizes differently`);
      }
      const tjs = await import("/tjs/transformers.js");
      tjs.env.allowRemoteModels = false;
      tjs.env.allowLocalModels = true;
      tjs.env.localModelPath = "/tjs-models/";
      tjs.env.useBrowserCache = false;
      tjs.env.backends.onnx.wasm.wasmPaths = "/ort/";
      tjs.env.backends.onnx.wasm.numThreads = 1;
      t0 = performance.now();
      const extractor = await tjs.pipeline("feature-extraction", "minilm", { dtype: "fp32", device: "wasm" });
      out.transformersLoadMs = performance.now() - t0;
      out.transformersVersion = tjs.env.version;
      const theirs = async (text) => (await extractor(text, { pooling: "mean", normalize: true })).data;
      out.embed = {};
      for (const n of [8, 32]) {
        const a = enc.embed(texts[n]);
        const b = await theirs(texts[n]);
        let dot = 0;
        for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
        await time(() => enc.embed(texts[n]), WARMUP);
        await time(() => theirs(texts[n]), WARMUP);
        const ours = stats(await time(() => enc.embed(texts[n]), RUNS));
        const tj = stats(await time(() => theirs(texts[n]), RUNS));
        out.embed[n] = { ours, transformers: tj, ratio: ours.median / tj.median, cosine: dot };
      }
      const queries = ["sad acoustic songs", "energetic german industrial metal", "calm piano for studying", "80s synth pop"];
      await time((i) => t.search(queries[i % 4], { k: 10 }), 40);
      out.search = stats(await time((i) => t.search(queries[i % 4], { k: 10 }), RUNS));
      out.searchText = stats(await time((i) => t.searchText(queries[i % 4], { k: 10 }), RUNS));

      // One taste's model trained on the device: 50 likes (an item and its
      // nearest), 50 dislikes (another's), 100 sampled negatives = 200.
      const a = pop[0];
      const liked = [a, ...t.similar(a, 49).map((x) => x.item)];
      const b = pop.find((x) => !liked.includes(x) && !t.similar(a, 200).some((y) => y.item === x)) ?? pop[30];
      const disliked = [b, ...t.similar(b, 60).map((x) => x.item).filter((x) => !liked.includes(x))].slice(0, 50);
      out.tasteModel = t.trainTasteModel(liked, disliked);
      await time(() => t.trainTasteModel(liked, disliked), 3);
      out.tasteTrain = stats(await time(() => t.trainTasteModel(liked, disliked), 20));
      return out;
    },
    { WARMUP, RUNS },
  );
  const sizes = JSON.parse(fs.readFileSync(path.join(dist, "pkg", "sizes.json"), "utf8"));
  const ms = (x) => `${x.toFixed(3)} ms`;
  const kib = (x) => `${(x / 1024).toFixed(1)} KiB`;
  console.log(`Timbral in headless ${await env.browser.version()} (one thread), ${r.items} items`);
  console.log(`load: bundle ${ms(r.bundleLoadMs)}; text encoder module + model ${ms(r.encoderLoadMs)}; transformers.js ${r.transformersVersion} pipeline ${ms(r.transformersLoadMs)}`);
  console.log(`recommend top-50 (fold-in + fusion + explanations): median ${ms(r.recommend.median)}, p99 ${ms(r.recommend.p99)} over ${r.recommend.n} calls`);
  for (const [n, e] of Object.entries(r.embed)) {
    console.log(
      `embed ${n} pieces: ours median ${ms(e.ours.median)} (p99 ${ms(e.ours.p99)}), transformers.js ${ms(e.transformers.median)} (p99 ${ms(e.transformers.p99)}); ours/theirs ${e.ratio.toFixed(2)}; cosine ${e.cosine.toFixed(6)}`,
    );
  }
  console.log(`search incl. query embedding: median ${ms(r.search.median)}, p99 ${ms(r.search.p99)}; word search ${ms(r.searchText.median)}`);
  const m = r.tasteModel;
  console.log(
    `a taste's model trained in wasm (${m.samples} samples: featurise, logistic regression${m.boosted_auc === null ? "" : " and boosting with early stopping"}, held-out AUC): median ${ms(r.tasteTrain.median)}, p99 ${ms(r.tasteTrain.p99)} over ${r.tasteTrain.n}; chose ${m.kind}, AUC ${m.auc.toFixed(3)} (logistic ${m.logistic_auc.toFixed(3)}${m.boosted_auc === null ? "" : `, boosted ${m.boosted_auc.toFixed(3)}`}); goal < 50 ms`,
  );
  for (const [crate, s] of Object.entries(sizes)) {
    console.log(`${crate}.wasm: ${kib(s.raw)} raw, ${kib(s.gzip)} gzipped (before wasm-opt ${kib(s.beforeWasmOpt)}); JS glue ${kib(s.glue)} (${kib(s.glueGzip)} gzipped)`);
  }
  const wrapper = fs.statSync(path.join(dist, "pkg", "index.js")).size;
  console.log(`package wrapper index.js: ${kib(wrapper)}`);
  fs.writeFileSync(path.join(www, "test-results", "bench.json"), JSON.stringify({ ...r, sizes }, null, 2));
} finally {
  await env.close();
}
