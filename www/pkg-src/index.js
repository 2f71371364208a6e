// Timbral for the browser: one class over the two wasm modules. The
// recommender module loads at once; the text encoder (tract + tokenizer)
// is fetched the first time `search` needs it. Everything runs on the
// listener's device: no history leaves it.

import initRecommender, { initSync as initRecommenderSync, Recommender } from "./timbral_wasm.js";

const bytesOf = async (src, what) => {
  if (src instanceof Uint8Array) return src;
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (typeof src === "string" || src instanceof URL) {
    const r = await fetch(src);
    if (!r.ok) throw new Error(`cannot fetch the ${what} from ${src}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  }
  throw new Error(`the ${what} must be a URL or bytes (Uint8Array/ArrayBuffer)`);
};

export class Timbral {
  #rec;
  #model;
  #tokenizer;
  #encoder = null;
  #encoderLoading = null;

  constructor(recommender, { model, tokenizer } = {}) {
    this.#rec = recommender;
    this.#model = model;
    this.#tokenizer = tokenizer;
  }

  /**
   * Loads a bundle (URL or bytes); `model` and `tokenizer` (URLs or bytes)
   * are kept for the encoder, loaded on first search. `wasm` overrides the
   * recommender module's URL or bytes (e.g. under Node).
   */
  static async load({ bundle, model, tokenizer, wasm } = {}) {
    if (bundle === undefined) throw new Error("Timbral.load needs a bundle (URL or bytes)");
    if (wasm instanceof Uint8Array || wasm instanceof ArrayBuffer) initRecommenderSync({ module: wasm });
    else await initRecommender(wasm ? { module_or_path: wasm } : undefined);
    const rec =
      typeof bundle === "string" || bundle instanceof URL
        ? await Recommender.fetch(String(bundle))
        : Recommender.fromBytes(await bytesOf(bundle, "bundle"));
    return new Timbral(rec, { model, tokenizer });
  }

  /** The underlying wasm-bindgen object, for calls this wrapper lacks. */
  get recommender() { return this.#rec; }
  info() { return this.#rec.info(); }
  recommend(opts) { return this.#rec.recommend(opts); }
  similar(itemId, k = 10) { return this.#rec.similar(itemId, k); }
  coldStart(opts) { return this.#rec.coldStart(opts); }
  autofill(seedItemIds, k = 15) { return this.#rec.autofill(seedItemIds, k); }
  feedback(itemId, kind) { this.#rec.feedback(itemId, kind); }
  addPlays(itemId, plays = 1) { this.#rec.addPlays(itemId, plays); }
  saveProfile() { return this.#rec.saveProfile(); }
  loadProfile(bytes) { this.#rec.loadProfile(bytes); }
  resetProfile() { this.#rec.resetProfile(); }
  get profileSize() { return this.#rec.profileSize(); }
  tasteSummary(n) { return this.#rec.tasteSummary(n); }
  topGenres(n = 16) { return this.#rec.topGenres(n); }
  /** One command of the session protocol (what `timbral session` reads):
   *  {op: "coldstart" | "recommend" | "feedback" | "profile" | "save" |
   *  "load", …}. Tastes, stages and the per-taste models run here, in wasm;
   *  a bad command answers {ok: false, error}. */
  session(command) { return this.#rec.session(command); }
  /** Trains one taste's classifier here, from its liked and disliked ids. */
  trainTasteModel(liked, disliked) { return this.#rec.trainTasteModel(liked, disliked); }
  /** Word matches in names and tags: instant, no encoder. */
  searchText(query, opts) { return this.#rec.searchText(query, opts); }
  get encoderReady() { return this.#encoder !== null; }

  /** Loads the text encoder module and model (once); checks their hashes against the bundle. */
  async loadEncoder() {
    if (this.#encoder) return this.#encoder;
    this.#encoderLoading ??= (async () => {
      if (this.#model === undefined || this.#tokenizer === undefined) {
        throw new Error("semantic search needs `model` and `tokenizer` in Timbral.load");
      }
      const mod = await import("./timbral_encoder_wasm.js");
      const [model, tokenizer] = await Promise.all([
        bytesOf(this.#model, "model"),
        bytesOf(this.#tokenizer, "tokenizer"),
        mod.default(),
      ]);
      const enc = mod.MiniLmEncoder.fromBytes(model, tokenizer);
      this.#rec.checkEncoder(enc.modelSha256, enc.tokenizerSha256);
      this.#encoder = enc;
      return enc;
    })();
    try {
      return await this.#encoderLoading;
    } catch (e) {
      this.#encoderLoading = null;
      throw e;
    }
  }

  /** The query's MiniLM embedding (loads the encoder on first use). */
  async embed(query) {
    return (await this.loadEncoder()).embed(query);
  }

  /** Semantic search: the query is embedded on this device, and ranked
   *  with what the crowd ties to its words (labels, popularity, names). */
  async search(query, options = {}) {
    if (typeof query !== "string" || query.trim() === "") throw new Error("the search query is empty");
    const v = await this.embed(query);
    // Every option (genre, year, energy, mood) goes through: the module
    // checks them, and refuses one it does not know.
    const given = Object.entries(options).filter(([, x]) => x !== undefined);
    return this.#rec.searchVector(v, { k: 10, ...Object.fromEntries(given), query });
  }
}

export { Recommender };
