// The native CLI, for the app's build (training its bundle) and the
// conformance tests: $TIMBRAL_BIN where set (tests/run.sh points it at the
// binary the workspace's test build made, so no second build with other
// features), else `cargo run -p timbral-train`.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export function timbralCli(args, opts = {}) {
  const bin = process.env.TIMBRAL_BIN;
  const [cmd, argv] = bin ? [bin, args] : ["cargo", ["run", "-q", "--locked", "-p", "timbral-train", "--", ...args]];
  if (opts.stdio === "inherit") console.log(`$ ${bin ? path.basename(bin) : "cargo run -p timbral-train --"} ${args.join(" ")}`);
  return execFileSync(cmd, argv, { cwd: root, ...opts });
}
