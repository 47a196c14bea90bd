// The package drops into real apps (R36): a Vite app that imports it by name and is built by
// `vite build`, a plain <script type="module"> page, both served with a strict CSP (no
// 'unsafe-eval'), and server rendering (the module imported in Node). The MCP SDK's transport is
// sdk.test.mjs.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, symlink, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { build } from 'vite';
import { startStack } from '../stack/stack.mjs';
import { CSP } from '../stack/web.mjs';
import {
  TIMEOUTS, assertPackageBuilt, cspWatchedContext, launchBrowser, pkgDir, repoRoot, withDiagnostics,
} from './helpers.mjs';

const base = Number(process.env.MCP_OAUTH_E2E_APPS_PORT ?? 9470);
const viteApp = path.join(repoRoot, 'tests', 'apps', 'vite');

let stack;
let browser;

before(async () => {
  assertPackageBuilt();
  // as `npm install <path to pkg>` would: the package linked in the app's node_modules
  const link = path.join(viteApp, 'node_modules', 'mcp-oauth-wasm');
  await mkdir(path.dirname(link), { recursive: true });
  await rm(link, { force: true, recursive: true });
  await symlink(pkgDir, link, 'dir');
  await build({ root: viteApp, configFile: path.join(viteApp, 'vite.config.mjs') });
  stack = await startStack({ asPort: base, mcpPort: base + 1, webPort: base + 2, pkgDir, quiet: true, autoApprove: true });
  browser = await launchBrowser();
}, { timeout: 120_000 });

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
}, { timeout: 30_000 });

/** Open `pagePath` in a fresh context that records CSP violations; returns the page and its response. */
async function open(t, pagePath) {
  const { context, d } = await cspWatchedContext(browser, t);
  const page = await context.newPage();
  const run = (fn) => withDiagnostics(d, () => page, stack, fn, `apps-${t.name.split(' ').slice(0, 5).join('-')}`);
  const response = await run(() => page.goto(`${stack.webUrl}${pagePath}`));
  await run(() => page.waitForSelector('body[data-ready="true"]'));
  return { page, d, run, response };
}

/** No CSP violation in any page of the context, none reported on the console either. */
async function assertNoCspViolation(page, d) {
  assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
  assert.deepEqual(d.console.filter((l) => /Content Security Policy/i.test(l)), []);
  assert.deepEqual(d.pageErrors, []);
}

test('R36 a Vite app importing the package by name (vite build) connects and lists tools, under a strict CSP', { timeout: TIMEOUTS.test }, async (t) => {
  const { page, d, run, response } = await open(t, `/apps/vite/?server=${encodeURIComponent(stack.mcpUrl)}`);
  await run(async () => {
    assert.equal(response.headers()['content-security-policy'], CSP);
    const built = readFileSync(path.join(viteApp, 'dist', 'index.html'), 'utf8');
    assert.doesNotMatch(built, /mcp-oauth-wasm['"]/, 'the bare import was resolved by the bundler');
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
    if (!popup.isClosed()) await popup.waitForEvent('close');
    await page.waitForFunction(() => document.querySelector('#state').textContent === 'authorized' || document.querySelector('#error').textContent);
    assert.equal(await page.locator('#error').innerText(), '');
    await page.click('#tools');
    await page.waitForFunction(() => document.querySelector('#tool-names').textContent !== '-' || document.querySelector('#error').textContent);
    assert.match(await page.locator('#tool-names').innerText(), /\becho\b.*\bwhoami\b/);
    const wasm = d.requests.filter((r) => r.url.endsWith('.wasm')).map((r) => new URL(r.url).pathname);
    assert.ok(wasm.length >= 1 && wasm.every((p) => p.startsWith('/apps/vite/assets/')), `the wasm is Vite's emitted asset: ${wasm.join(' ')}`);
    await assertNoCspViolation(page, d);
  });
});

test("R36 a plain <script type=module> page served with script-src 'self' 'wasm-unsafe-eval' connects with no CSP violation", { timeout: TIMEOUTS.test }, async (t) => {
  const { page, d, run, response } = await open(t, '/apps/plain/');
  await run(async () => {
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
    assert.doesNotMatch(csp, /'unsafe-eval'|'unsafe-inline'/, 'neither eval nor inline script is allowed');
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
    if (!popup.isClosed()) await popup.waitForEvent('close');
    await page.waitForFunction(() => document.querySelector('#status-state').textContent === 'authorized' || document.querySelector('#error').textContent);
    assert.equal(await page.locator('#error').innerText(), '');
    await page.click('#list-tools');
    await page.waitForFunction(() => document.querySelectorAll('#tools li').length > 0 || document.querySelector('#error').textContent);
    assert.ok((await page.locator('#tools li').allInnerTexts()).includes('echo'));
    await assertNoCspViolation(page, d);
  });
});

test('R36 server rendering: importing the package in Node does not throw; McpAuth there is an invalid_input error', async () => {
  const glue = pathToFileURL(path.join(pkgDir, 'mcp_oauth_wasm.js')).href;
  const mod = await import(glue); // what a server-rendered route importing the app's module does
  assert.equal(typeof mod.McpAuth, 'function');
  assert.equal(typeof mod.default, 'function');
  // a server that initializes the module anyway (from the bytes: Node's fetch cannot read files)
  mod.initSync({ module: readFileSync(path.join(pkgDir, 'mcp_oauth_wasm_bg.wasm')) });
  assert.throws(() => new mod.McpAuth({ redirectUri: 'https://app.example/callback.html' }), (err) => {
    assert.equal(err.name, 'McpAuthError');
    assert.equal(err.code, 'invalid_input');
    assert.match(err.message, /browser/);
    return true;
  });
});
