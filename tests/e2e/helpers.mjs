// Shared pieces of the end-to-end tests: the browser, diagnostics collected from it, and
// a few checks that look into the page's storage.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../shared/browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

/** The built npm package the web server serves at /pkg/ (env MCP_OAUTH_PKG_DIR overrides). */
export const pkgDir = process.env.MCP_OAUTH_PKG_DIR
  ? path.resolve(process.env.MCP_OAUTH_PKG_DIR)
  : path.join(repoRoot, 'pkg');

export function assertPackageBuilt() {
  const entry = path.join(pkgDir, 'mcp_oauth_wasm.js');
  if (!existsSync(entry)) {
    throw new Error(`${path.relative(repoRoot, entry) || entry} does not exist: build the package first (make pkg)`);
  }
}

// Ports away from the demo's 9410-9412 so a running `make demo` does not collide.
export const PORTS = {
  asPort: Number(process.env.MCP_OAUTH_E2E_AS_PORT ?? 9420),
  mcpPort: Number(process.env.MCP_OAUTH_E2E_MCP_PORT ?? 9421),
  webPort: Number(process.env.MCP_OAUTH_E2E_WEB_PORT ?? 9422),
};

export const TIMEOUTS = {
  test: 90_000,
  action: 15_000, // any single Playwright action / wait
};

/** Headless Chromium, as every browser-driven suite launches it (tests/shared/browser.mjs). */
export const launchBrowser = () => launchChromium();

/**
 * Record what every page of `context` does: console output, uncaught errors, every request URL
 * (redirect hops included) and every top-level navigation, labelled `page`, `popup1`, ...
 */
export function watchContext(context) {
  const d = { console: [], pageErrors: [], requests: [], navigations: [], pages: [] };
  context.on('page', (page) => {
    const label = d.pages.length === 0 ? 'page' : `popup${d.pages.length}`;
    d.pages.push(page);
    page.on('console', (m) => d.console.push(`[${label}] ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => d.pageErrors.push(`[${label}] ${e.message}`));
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) d.navigations.push({ label, url: frame.url() });
    });
    page.on('close', () => d.navigations.push({ label, url: '(closed)' }));
  });
  context.on('request', (request) => {
    const page = request.frame()?.page?.();
    const i = page ? d.pages.indexOf(page) : -1;
    const label = i === 0 ? 'page' : i > 0 ? `popup${i}` : '?';
    d.requests.push({ label, method: request.method(), url: request.url() });
  });
  return d;
}

const clip = (s, n = 400) => (s.length > n ? `${s.slice(0, n)}...` : s);

/** A readable dump of the page and the stack, appended to a failure message. */
export async function describeFailure(d, page, stack) {
  const text = async (sel) => {
    try {
      return await page.locator(sel).innerText({ timeout: 1000 });
    } catch {
      return '(unavailable)';
    }
  };
  const parts = [
    `#status-state: ${await text('#status-state')}`,
    `#error: ${await text('#error')}`,
    `#log:\n${await text('#log')}`,
    `console (${d.console.length}):\n${d.console.map((l) => clip(l)).join('\n')}`,
    `page errors:\n${d.pageErrors.join('\n')}`,
    `navigations:\n${d.navigations.map((n) => `[${n.label}] ${clip(n.url, 200)}`).join('\n')}`,
    `requests:\n${d.requests.map((r) => `[${r.label}] ${r.method} ${clip(r.url, 200)}`).join('\n')}`,
  ];
  if (stack) parts.push(`stack events:\n${clip(JSON.stringify(stack.events.snapshot(), null, 1), 6000)}`);
  return parts.join('\n\n');
}

export const artifactsDir = path.join(here, 'artifacts');

/**
 * Run `fn`; if it throws, rethrow with the diagnostics appended, and leave a screenshot of each
 * open page plus the dump in tests/e2e/artifacts/ (git-ignored).
 */
export async function withDiagnostics(d, getPage, stack, fn, name = 'failure') {
  try {
    return await fn();
  } catch (err) {
    const page = getPage();
    const dump = page ? await describeFailure(d, page, stack).catch((e) => `(no diagnostics: ${e.message})`) : '(no page)';
    err.message = `${err.message}\n\n---- diagnostics ----\n${dump}`;
    try {
      await mkdir(artifactsDir, { recursive: true });
      const base = name.replace(/[^\w.-]+/g, '_').slice(0, 80);
      await writeFile(path.join(artifactsDir, `${base}.txt`), `${err.message}\n\n${err.stack ?? ''}\n`);
      for (const [i, p] of d.pages.entries()) {
        if (!p.isClosed()) await p.screenshot({ path: path.join(artifactsDir, `${base}.${i}.png`), timeout: 5000 }).catch(() => {});
      }
    } catch { /* artifacts are best effort */ }
    throw err;
  }
}

export const sha256 = (s) => createHash('sha256').update(s).digest('base64url');

/** localStorage of the page's origin, as { key: value }. */
export function readLocalStorage(page) {
  return page.evaluate(() => Object.fromEntries(
    Array.from({ length: localStorage.length }, (_, i) => localStorage.key(i)).map((k) => [k, localStorage.getItem(k)]),
  ));
}

/** JWT-shaped substrings of `s`. */
export const jwtsIn = (s) => s.match(/eyJ[\w-]*\.[\w-]+\.[\w-]+/g) ?? [];

export function decodeJwtPayload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

/**
 * The plain app (tests/apps/plain/) in a new page of `context`, ready, with an `McpAuth` of its
 * own (refresh skew 1 s) as `window.testAuth` beside the app's.
 */
export async function openPlainApp(context, webUrl) {
  const page = await context.newPage();
  await page.goto(`${webUrl}/apps/plain/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(async () => {
    const { McpAuth } = await import('/pkg/mcp_oauth_wasm.js');
    window.testAuth = new McpAuth({ redirectUri: `${location.origin}/apps/plain/callback.html`, refreshSkewSeconds: 1 });
  });
  return page;
}

/**
 * A new context, closed after test `t`, whose pages are watched (`d`) and record every CSP
 * violation in `window.cspViolations`.
 */
export async function cspWatchedContext(browser, t, options = {}) {
  const context = await browser.newContext(options);
  t.after(() => context.close().catch(() => {}));
  context.setDefaultTimeout(TIMEOUTS.action);
  await context.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return { context, d: watchContext(context) };
}
