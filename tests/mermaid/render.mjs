// Real Mermaid for planner's suite: many diagrams through one headless
// Chromium, because starting the browser (as `mmdc` does for every file) is
// the slow part. Mermaid is loaded once into one page; each diagram goes
// through `mermaid.render`, as on GitHub.
//
//   node render.mjs --serve          JSON lines {"id", "text"[, "parseOnly"]} on stdin →
//                                    {"id", "svg" | "parsed" | "error"} on stdout
//   node render.mjs IN.mmd... [-o DIR]  each file to IN.svg (or DIR/IN.svg)
//
// Chromium comes from puppeteer.json (Debian's /usr/bin/chromium, flags for
// running as root without a sandbox); PUPPETEER_EXECUTABLE_PATH overrides it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import url from "node:url";
import puppeteer from "puppeteer";

const here = path.dirname(url.fileURLToPath(import.meta.url));
const require = (await import("node:module")).createRequire(import.meta.url);
const mermaidDir = path.dirname(require.resolve("mermaid/package.json"));
const mermaidVersion = JSON.parse(fs.readFileSync(path.join(mermaidDir, "package.json"), "utf8")).version;
const RENDER_TIMEOUT_MS = Number(process.env.MERMAID_RENDER_TIMEOUT_MS) || 60_000;

async function openPage() {
  const config = JSON.parse(fs.readFileSync(path.join(here, "puppeteer.json"), "utf8"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "planner-mermaid-"));
  const browser = await puppeteer.launch({
    ...config,
    executablePath: process.env.PUPPETEER_EXECUTABLE_PATH || config.executablePath,
    headless: true,
    userDataDir: profile,
    timeout: 90_000,
  });
  const page = await browser.newPage();
  await page.setContent('<!doctype html><html><body><div id="container"></div></body></html>');
  await page.addScriptTag({ path: path.join(mermaidDir, "dist", "mermaid.min.js") });
  await page.evaluate(() => globalThis.mermaid.initialize({ startOnLoad: false }));
  const close = async () => {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { page, close };
}

/** {svg} or {error}: Mermaid throws on a parse error (after drawing its error box).
 * With `parseOnly`, {parsed: true} or {error}: Mermaid's parser alone (its
 * edge limit included, its text limit not), without the layout. */
async function render(page, text, parseOnly = false) {
  const work = page.evaluate(async (definition, parseOnly) => {
    try {
      if (parseOnly) {
        await globalThis.mermaid.parse(definition);
        return { parsed: true };
      }
      const { svg } = await globalThis.mermaid.render("planner-diagram", definition);
      // serialised as XML, as mmdc writes its files (Mermaid's string has HTML's <br>)
      const container = document.getElementById("container");
      container.innerHTML = svg;
      const xml = new XMLSerializer().serializeToString(container.firstElementChild);
      container.innerHTML = "";
      return { svg: xml };
    } catch (error) {
      return { error: String(error?.message ?? error) };
    }
  }, text, parseOnly);
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(
      () => resolve({ error: `no answer from Mermaid in ${RENDER_TIMEOUT_MS / 1000} s`, timedOut: true }),
      RENDER_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function serve() {
  let { page, close } = await openPage();
  process.stdout.write(JSON.stringify({ ready: true, mermaid: mermaidVersion }) + "\n");
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const { id, text, parseOnly } = JSON.parse(line);
    const result = await render(page, text, parseOnly);
    process.stdout.write(JSON.stringify({ id, ...result }) + "\n");
    if (result.timedOut) {  // the page is still busy with it: start afresh
      await close();
      ({ page, close } = await openPage());
    }
  }
  await close();
}

async function files(args) {
  const out = args.indexOf("-o");
  const folder = out >= 0 ? args[out + 1] : null;
  const inputs = out >= 0 ? [...args.slice(0, out), ...args.slice(out + 2)] : args;
  let { page, close } = await openPage();
  let failed = 0;
  try {
    for (const input of inputs) {
      const result = await render(page, fs.readFileSync(input, "utf8"));
      if (result.timedOut) {
        await close();
        ({ page, close } = await openPage());
      }
      const target = path.join(folder ?? path.dirname(input), path.basename(input).replace(/\.\w+$/, "") + ".svg");
      if (result.error) {
        failed += 1;
        console.error(`${input}: ${result.error}`);
      } else {
        fs.writeFileSync(target, result.svg);
        console.log(`wrote ${target} (Mermaid ${mermaidVersion})`);
      }
    }
  } finally {
    await close();
  }
  process.exitCode = failed ? 1 : 0;
}

const args = process.argv.slice(2);
if (args[0] === "--serve") {
  await serve();
} else if (args.length) {
  await files(args);
} else {
  console.error("usage: node render.mjs --serve | IN.mmd... [-o DIR]");
  process.exitCode = 2;
}
