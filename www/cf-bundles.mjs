// One client bundle per CF model kind (`timbral train --cf KIND`), on the
// embedded default catalogue and without content, so that the conformance
// tests (www/tests/conformance.mjs, worker/tests/run.mjs) hold every
// runtime to the native CLI on each kind, not only on the kind the app's
// bundle happens to hold. The factors are as given (`--no-tune`: seconds,
// not the whole grid); the item-item model is still tuned.
import fs from "node:fs";
import path from "node:path";
import { timbralCli } from "./timbral-cli.mjs";

export const CF_KINDS = ["als", "als+rp3beta", "als+ease"];

/** Trains the bundles into `dir`: `[{ kind, file, path }]`. */
export function cfBundles(dir) {
  fs.mkdirSync(dir, { recursive: true });
  return CF_KINDS.map((kind) => {
    const file = `cf-${kind.replace("+", "-")}.bundle`;
    const out = path.join(dir, file);
    timbralCli(["-q", "train", "--client", "--no-content", "--no-tune", "--cf", kind, "--out", out]);
    return { kind, file, path: out };
  });
}
