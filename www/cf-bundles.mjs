// One client bundle per CF model kind (`timbral train --cf KIND`), on the
// embedded default catalogue and without content, so that the conformance
// tests (www/tests/conformance.mjs, worker/tests/run.mjs) hold every
// runtime to the native CLI on each kind, not only on the kind the app's
// bundle happens to hold. The factors are as given (`--no-tune`: seconds,
// not the whole grid); the item-item model is still tuned.
import fs from "node:fs";
import path from "node:path";
import { timbralCli } from "./timbral-cli.mjs";

// Each kind as `Model::cf_kind` names it, with the flags that train it:
// `ials` is ALS with frequency-scaled regularisation (a listener's λ
// depends on their play count, so fold-in reads ν and the reference from
// the bundle in every runtime); `nmf` is non-negative factors; `bpr` is
// fitted to rank plays first; `lightgcn` smooths item embeddings over the
// listener–item graph.
export const CF_KINDS = [
  { kind: "als", flags: ["--cf", "als"] },
  { kind: "ials", flags: ["--cf", "als", "--reg-exponent", "1", "--regularization", "5"] },
  // NMF folds a listener in by its own non-negative solve, not ALS's.
  { kind: "nmf", flags: ["--cf", "als", "--factor-model", "nmf", "--regularization", "20", "--alpha", "0.3"] },
  // BPR folds a listener in by Newton's method against the seed's shared
  // negatives, which every runtime draws for itself.
  { kind: "bpr", flags: ["--cf", "als", "--factor-model", "bpr"] },
  // LightGCN folds a listener in by propagating their history through the
  // graph, with degrees read from the bundle's popularity.
  { kind: "lightgcn", flags: ["--cf", "als", "--factor-model", "lightgcn"] },
  { kind: "als+rp3beta", flags: ["--cf", "als+rp3beta"] },
  { kind: "als+ease", flags: ["--cf", "als+ease"] },
];

/**
 * Trains the bundles into `dir`: `[{ kind, label, file, path }]`. The last
 * is a synthetic catalogue with content and a shortlist index
 * (`synth-bundle --shortlist always`; a trained one gets it from 200,000
 * items), so that fusion through the index is held to the same agreement.
 */
export function cfBundles(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const trained = CF_KINDS.map(({ kind, flags }) => {
    const file = `cf-${kind.replace("+", "-")}.bundle`;
    const out = path.join(dir, file);
    timbralCli(["-q", "train", "--client", "--no-content", "--no-tune", ...flags, "--out", out]);
    return { kind, label: kind, file, path: out };
  });
  const file = "shortlist-als.bundle";
  const out = path.join(dir, file);
  timbralCli(["-q", "synth-bundle", "--items", "6000", "--clusters", "40", "--shortlist", "always", "--out", out]);
  return [...trained, { kind: "als", label: "als, fused through a shortlist", file, path: out }];
}
