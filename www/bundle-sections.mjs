// Reads a Timbral bundle's header and section table (see
// crates/timbral-core/src/bundle.rs) without decoding the sections, so the
// builds and the tests can check what a bundle carries before it is served.
import fs from "node:fs";

export const USER_SECTIONS = { 5: "users", 6: "user_factors", 7: "user_items" };

/** { version, kinds: [u32] } of the bundle at `file` (or its bytes). */
export function bundleSections(fileOrBytes) {
  const b = typeof fileOrBytes === "string" ? fs.readFileSync(fileOrBytes) : Buffer.from(fileOrBytes);
  if (b.length < 32 || b.subarray(0, 8).toString("latin1") !== "TIMBRAL\0") throw new Error("not a Timbral bundle");
  const version = b.readUInt32LE(8);
  const count = b.readUInt32LE(12);
  // Format 4 entries: kind u32 | codec u32 | stored length u64 | raw
  // length u64; formats 1–3: kind u32 | length u64.
  const [entry, lengthAt] = version >= 4 ? [24, 8] : [12, 4];
  const kinds = [];
  let at = 32;
  for (let i = 0; i < count; i++) {
    if (at + entry > b.length) throw new Error("section table runs past the file");
    kinds.push(b.readUInt32LE(at));
    at += entry + Number(b.readBigUInt64LE(at + lengthAt));
  }
  if (at !== b.length) throw new Error(`section table ends at byte ${at} of ${b.length}`);
  return { version, kinds };
}

/** Throws unless the bundle is a client bundle: no training listener's data. */
export function assertClientBundle(file) {
  const { kinds } = bundleSections(file);
  const found = kinds.filter((k) => k in USER_SECTIONS).map((k) => USER_SECTIONS[k]);
  if (found.length > 0) {
    throw new Error(
      `${file} carries training listeners (${found.join(", ")}): a served bundle must not; ` +
        "write it with `timbral train --client` or `timbral export --client FULL OUT`",
    );
  }
}
