import type {
  BundleSummary, ColdStartOptions, RecommendOptions, RecommendedItem, Recommender,
  ScoredItem, SearchOptions, SessionCommand, SessionReply, TasteModelReport, TasteShare,
} from "./timbral_wasm.js";
export type * from "./timbral_wasm.js";

export type Source = string | URL | Uint8Array | ArrayBuffer;

export interface LoadOptions {
  /** The bundle written by `timbral train`. */
  bundle: Source;
  /** model.onnx and tokenizer.json, for semantic search (loaded on first use). */
  model?: Source;
  tokenizer?: Source;
  /** Where the recommender .wasm is (default: beside this file), or its bytes. */
  wasm?: Source;
}

export declare class Timbral {
  static load(options: LoadOptions): Promise<Timbral>;
  readonly recommender: Recommender;
  readonly encoderReady: boolean;
  readonly profileSize: number;
  info(): BundleSummary;
  recommend(options?: RecommendOptions): RecommendedItem[];
  similar(itemId: string, k?: number): ScoredItem[];
  coldStart(options?: ColdStartOptions): ScoredItem[];
  autofill(seedItemIds: string[], k?: number): ScoredItem[];
  feedback(itemId: string, kind: "like" | "dislike" | "skip"): void;
  addPlays(itemId: string, plays?: number): void;
  saveProfile(): Uint8Array;
  loadProfile(bytes: Uint8Array): void;
  resetProfile(): void;
  tasteSummary(n?: number): TasteShare[];
  topGenres(n?: number): string[];
  /** The session protocol: staged, multi-taste recommendations and feedback. */
  session(command: SessionCommand | string): SessionReply;
  /** Trains one taste's classifier on the device; its held-out figures. */
  trainTasteModel(liked: string[], disliked: string[]): TasteModelReport;
  searchText(query: string, options?: SearchOptions): ScoredItem[];
  loadEncoder(): Promise<unknown>;
  embed(query: string): Promise<Float32Array>;
  search(query: string, options?: SearchOptions): Promise<ScoredItem[]>;
}
export { Recommender };
