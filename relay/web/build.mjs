// Builds the phone app into dist/ (served by the relay's LAN listener): one minified ES module
// bundle with tweetnacl and @noble/hashes from the npm registry, plus the page and its styles.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

const out = new URL("./dist/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.js"],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  outfile: out + "app.js",
  legalComments: "none",
});
for (const name of ["index.html", "style.css"]) copyFileSync("src/" + name, out + name);
