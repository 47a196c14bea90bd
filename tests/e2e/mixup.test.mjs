// F1 end to end (issue 18; R9, R18, R13): the mix-up at the code exchange, as an attacker runs it.
// A malicious MCP server M names the honest authorization server (oidc-provider); the user clicks
// Connect and the popup shows the honest sign-in; meanwhile the app's background `fetch(M)` meets a
// challenge naming other metadata, which names the attacker's authorization server, and the app
// runs `discover(M)`. The user approves at the honest server, whose `iss` matches the flow. The
// code, its verifier and any client credential must not reach the attacker, and nothing is kept.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createEvents } from '../stack/events.mjs';
import { startAuthorizationServer } from '../stack/as.mjs';
import { listen } from '../stack/listen.mjs';
import { startWebServer } from '../stack/web.mjs';
import {
  TIMEOUTS, assertPackageBuilt, launchBrowser, openPlainApp, pkgDir, readLocalStorage, repoRoot, watchContext, withDiagnostics,
} from './helpers.mjs';

const base = Number(process.env.MCP_OAUTH_E2E_MIXUP_PORT ?? 9500);
const honest = `http://127.0.0.1:${base}`;
const attacker = `http://127.0.0.1:${base + 1}`;
const mOrigin = `http://127.0.0.1:${base + 2}`;
const mcpUrl = `${mOrigin}/mcp`;
const webUrl = `http://127.0.0.1:${base + 3}`;

const cors = (req, res) => {
  res.setHeader('Access-Control-Allow-Origin', req.headers.origin || '*');
  res.setHeader('Access-Control-Allow-Headers', 'authorization, content-type, mcp-protocol-version, dpop');
  res.setHeader('Access-Control-Expose-Headers', 'WWW-Authenticate');
};
const json = (res, status, body, headers = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

/** What reached the attacker's authorization server, bodies and Authorization headers included. */
const attackerSaw = [];
/** M's state: once `moved`, its challenge names metadata that names the attacker. */
const m = { moved: false };
const servers = [];
let events;
let browser;

before(async () => {
  assertPackageBuilt();
  events = createEvents();
  servers.push(await startAuthorizationServer({ port: base, resource: mcpUrl, events, quiet: true }));
  const evil = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      attackerSaw.push({ method: req.method, path: req.url, authorization: req.headers.authorization ?? null, body });
      cors(req, res);
      if (req.method === 'OPTIONS') return res.writeHead(204).end();
      if (req.url === '/.well-known/oauth-authorization-server') {
        return json(res, 200, {
          issuer: attacker, authorization_endpoint: `${attacker}/auth`, token_endpoint: `${attacker}/token`,
          registration_endpoint: `${attacker}/reg`, code_challenge_methods_supported: ['S256'],
        });
      }
      if (req.url === '/token') return json(res, 200, { access_token: 'evil', token_type: 'Bearer', expires_in: 3600 });
      return json(res, 404, { error: 'not_found' });
    });
  });
  await listen(evil, base + 1);
  servers.push({ close: () => new Promise((r) => { evil.close(() => r()); evil.closeAllConnections(); }) });
  const mcp = createServer((req, res) => {
    cors(req, res);
    if (req.method === 'OPTIONS') return res.writeHead(204).end();
    const prm = (names) => json(res, 200, { resource: mcpUrl, authorization_servers: [names], scopes_supported: ['mcp:tools'] });
    if (req.url === '/.well-known/oauth-protected-resource/mcp') return prm(honest);
    if (req.url === '/.well-known/oauth-protected-resource/moved') return prm(attacker);
    const metadata = `${mOrigin}/.well-known/oauth-protected-resource/${m.moved ? 'moved' : 'mcp'}`;
    req.resume();
    return json(res, 401, { error: 'unauthorized' }, { 'WWW-Authenticate': `Bearer resource_metadata="${metadata}"` });
  });
  await listen(mcp, base + 2);
  servers.push({ close: () => new Promise((r) => { mcp.close(() => r()); mcp.closeAllConnections(); }) });
  servers.push(await startWebServer({
    port: base + 3, webRoot: path.join(repoRoot, 'www'), appsRoot: path.join(repoRoot, 'tests', 'apps'), pkgDir,
    config: { mcpUrl, asUrl: honest, resource: mcpUrl, preregistered: null },
  }));
  browser = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await browser?.close().catch(() => {});
  await Promise.allSettled(servers.reverse().map((s) => s.close()));
}, { timeout: 30_000 });

test('R9 R18 R13 F1 a rediscovery during sign-in sends the code, its verifier and no credential to the attacker, and keeps nothing', { timeout: TIMEOUTS.test }, async (t) => {
  const context = await browser.newContext();
  t.after(() => context.close().catch(() => {}));
  context.setDefaultTimeout(TIMEOUTS.action);
  const d = watchContext(context);
  const page = await openPlainApp(context, webUrl);
  await withDiagnostics(d, () => page, null, async () => {
    assert.equal(await page.inputValue('#server-url'), mcpUrl);
    // Connect: the popup shows the honest authorization server's sign-in
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
    await popup.waitForSelector('#approve');
    assert.ok(popup.url().startsWith(`${honest}/`), popup.url());
    // meanwhile: M's challenge names other metadata on the app's background fetch, and the app
    // discovers M again, which now names the attacker
    m.moved = true;
    const background = await page.evaluate(async (url) => {
      const refused = await window.testAuth.fetch(url, url, { method: 'POST', body: '{}' }).then(() => 'resolved', (e) => e.code);
      const info = await window.testAuth.discover(url);
      return { refused, issuer: info.issuer };
    }, mcpUrl);
    assert.deepEqual(background, { refused: 'authorization_required', issuer: attacker });
    // the user approves at the honest server
    await popup.click('#approve');
    await page.waitForFunction(() => document.querySelector('#error')?.textContent);
    const error = await page.locator('#error').innerText();
    assert.match(error, /^issuer_mismatch: the server's authorization server changed during sign-in/);
    // nothing reached the attacker but its metadata; no code exchange anywhere; nothing kept
    assert.deepEqual(attackerSaw.map((r) => `${r.method} ${r.path}`), ['GET /.well-known/oauth-authorization-server']);
    assert.ok(attackerSaw.every((r) => r.authorization === null && r.body === ''));
    assert.equal(events.tokens.length, 0, 'the honest server exchanged no code either');
    const stored = JSON.stringify(await readLocalStorage(page));
    assert.doesNotMatch(stored, /access_token/);
    assert.equal(await page.evaluate((url) => window.testAuth.status(url).state, mcpUrl), 'authorization_required');
  });
});
