// A static server for dist/ on 127.0.0.1 (the tests and `npm run serve`).
// Usage: node serve.mjs [port] — port 0 picks a free one; prints the URL.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".json": "application/json", ".wasm": "application/wasm",
  ".webmanifest": "application/manifest+json", ".onnx": "application/octet-stream", ".bundle": "application/octet-stream",
};

/** Serves `roots` (URL prefix → directory); resolves to { server, url }. */
export function serve(roots, port = 0) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    let pathname = decodeURIComponent(url.pathname);
    const [prefix, dir] = Object.entries(roots).find(([p]) => pathname.startsWith(p)) ?? [];
    if (dir === undefined) return res.writeHead(404).end();
    let file = path.normalize(path.join(dir, pathname.slice(prefix.length)));
    if (!file.startsWith(dir)) return res.writeHead(403).end();
    if (pathname.endsWith("/")) file = path.join(file, "index.html");
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return res.writeHead(404).end("not found");
      res.writeHead(200, {
        "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
        "content-length": st.size,
        "cache-control": "no-cache",
      });
      fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/` })),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url } = await serve({ "/": path.join(here, "dist") }, Number(process.argv[2] ?? 8080));
  console.log(`Timbral demo at ${url}`);
}
