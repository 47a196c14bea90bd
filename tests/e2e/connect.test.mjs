// End-to-end: the real stack (oidc-provider, MCP SDK server, static server) + headless Chromium
// + the plain ES module app in tests/apps/plain/ + the built package in pkg/.
//
//   node --test tests/e2e/
//
// Env: CHROMIUM (browser binary, default /usr/bin/chromium), MCP_OAUTH_PKG_DIR (default pkg/),
// MCP_OAUTH_E2E_AS_PORT / _MCP_PORT / _WEB_PORT (default 9420 / 9421 / 9422).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStack } from '../stack/stack.mjs';
import {
  PORTS, TIMEOUTS, assertPackageBuilt, decodeJwtPayload, jwtsIn, launchBrowser, pkgDir,
  readLocalStorage, sha256, watchContext, withDiagnostics,
} from './helpers.mjs';

let stack;
let browser;

before(async () => {
  stack = await startStack({ ...PORTS, pkgDir, quiet: true });
}, { timeout: 30_000 });

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
}, { timeout: 30_000 });

async function getBrowser() {
  browser ??= await launchBrowser();
  return browser;
}

/**
 * Open the demo page in a fresh context and connect through the popup (clicking Approve on the
 * authorization server's page). Returns once #status-state reads `authorized`.
 */
/**
 * The demo page (with `query`) in a fresh context, ready; `run` wraps a step with diagnostics.
 */
async function openPage(t, query = '') {
  assertPackageBuilt();
  const context = await (await getBrowser()).newContext();
  t.after(() => context.close().catch(() => {}));
  context.setDefaultTimeout(TIMEOUTS.action);
  const d = watchContext(context);
  const page = await context.newPage();
  const run = (fn) => withDiagnostics(d, () => page, stack, fn, t.name.split(' ').slice(0, 6).join('-'));
  await run(async () => {
    await page.goto(`${stack.webUrl}/apps/plain/${query}`);
    await page.waitForSelector('body[data-ready="true"]');
  });
  return { context, page, d, run };
}

async function openAndConnect(t, query = '') {
  const { context, page, d, run } = await openPage(t, query);
  await run(async () => {
    assert.equal(await page.inputValue('#server-url'), stack.mcpUrl, 'the page is pre-filled with the local MCP server');

    const [popup] = await Promise.all([
      page.waitForEvent('popup'),
      page.click('#connect'),
    ]);
    await popup.waitForSelector('#approve');
    assert.match(await popup.locator('h1').innerText(), /Sign in as test-user to mcp-oauth-wasm demo/);
    await popup.click('#approve');
    await page.waitForFunction(
      () => document.querySelector('#status-state')?.textContent === 'authorized'
        || document.querySelector('#error')?.textContent,
    );
    const error = await page.locator('#error').innerText();
    assert.equal(error, '', 'no error is shown after connecting');
    assert.equal(await page.locator('#status-state').innerText(), 'authorized');
    // the library closes its popup once the result is handed over
    if (!popup.isClosed()) await popup.waitForEvent('close');
  });
  return { context, page, d, run };
}

test('R1 R3 R28 a request to the MCP server without a token gets 401 with a resource_metadata challenge', async () => {
  const origin = `http://127.0.0.1:${PORTS.webPort}`;
  const res = await fetch(stack.mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      origin,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '0' } },
    }),
    signal: AbortSignal.timeout(TIMEOUTS.action),
  });
  assert.equal(res.status, 401);
  const resourceMetadataUrl = `http://127.0.0.1:${PORTS.mcpPort}/.well-known/oauth-protected-resource/mcp`;
  assert.equal(res.headers.get('www-authenticate'), `Bearer resource_metadata="${resourceMetadataUrl}", scope="mcp:tools"`);
  // a browser can read the challenge: CORS headers are on the 401 too
  assert.equal(res.headers.get('access-control-allow-origin'), origin);
  assert.match(res.headers.get('access-control-expose-headers') ?? '', /WWW-Authenticate/i);

  // with a bad token: error="invalid_token"
  const bad = await fetch(stack.mcpUrl, {
    method: 'POST',
    headers: { authorization: 'Bearer not-a-token', 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(TIMEOUTS.action),
  });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get('www-authenticate'), /^Bearer resource_metadata="[^"]+", error="invalid_token"/);

  // the metadata the challenge points at (RFC 9728)
  const prm = await (await fetch(resourceMetadataUrl, { signal: AbortSignal.timeout(TIMEOUTS.action) })).json();
  assert.deepEqual(prm.resource, stack.resource);
  assert.deepEqual(prm.authorization_servers, [stack.asUrl]);
  assert.deepEqual(prm.scopes_supported, ['mcp:tools', 'mcp:admin']);
});

test('R11 R12 R14 R15 R21 connect: popup completes, status becomes authorized, tools list comes back through auth.fetch', { timeout: TIMEOUTS.test }, async (t) => {
  const { page, d, run } = await openAndConnect(t);
  const redirectUri = `${stack.webUrl}/apps/plain/callback.html`;
  const ev = stack.events;

  await run(async () => {
    // ---- tools through auth.fetch
    await page.click('#list-tools');
    await page.waitForFunction(
      () => document.querySelectorAll('#tools li').length > 0 || document.querySelector('#error')?.textContent,
    );
    assert.equal(await page.locator('#error').innerText(), '', 'no error is shown after listing tools');
    const tools = await page.locator('#tools li').allInnerTexts();
    assert.ok(tools.includes('echo') && tools.includes('add'), `tools listed: ${tools.join(', ')}`);

    // ---- the authorization server's side
    const reg = ev.registrations.find((r) => r.redirect_uris?.includes(redirectUri));
    assert.ok(reg, `a client was registered with redirect URI ${redirectUri}`);
    assert.equal(reg.client_name, 'mcp-oauth-wasm demo');
    assert.equal(reg.token_endpoint_auth_method, 'none', 'R12: a public client');
    assert.equal(reg.application_type, 'web', 'R12: application_type web');
    assert.deepEqual([...reg.grant_types].sort(), ['authorization_code', 'refresh_token'], 'R12: grant_types');
    assert.deepEqual(reg.response_types, ['code'], 'R12: response_types');
    const clientId = reg.client_id;
    assert.equal(await page.locator('#status-client-id').innerText(), clientId, 'status shows the registered client');
    assert.equal(await page.locator('#status-issuer').innerText(), stack.asUrl, 'status shows the issuer');

    const authz = ev.authorizations.filter((a) => a.client_id === clientId);
    assert.equal(authz.length, 1, 'one authorization request');
    assert.equal(authz[0].code_challenge_method, 'S256', 'R14: PKCE S256');
    assert.equal(authz[0].resource, stack.resource, 'R15: resource on the authorization request');
    assert.equal(authz[0].redirect_uri, redirectUri);
    assert.ok(authz[0].scope?.split(' ').includes('mcp:tools'), `R16: the resource's scope is requested (scope: ${authz[0].scope})`);

    const codeExchange = ev.tokens.find((x) => x.client_id === clientId && x.grant_type === 'authorization_code');
    assert.ok(codeExchange, 'the code was exchanged');
    // issue 17: the popup's handleCallback resolves with the flow's server and the status the
    // opener finished with, never an empty URL
    const handed = JSON.stringify({ serverUrl: stack.mcpUrl, popup: true, state: 'authorized' });
    assert.ok(d.console.includes(`[popup1] info: handleCallback: ${handed}`), d.console.filter((l) => l.includes('handleCallback')).join('\n'));
    // R34 (issue 17): oidc-provider runs at its defaults — DPoP on, ES256 listed — and this MCP
    // server takes Bearer only and says nothing of DPoP: the tokens are Bearer, and they work
    const asMeta = await (await fetch(`${stack.asUrl}/.well-known/oauth-authorization-server`)).json();
    assert.ok(asMeta.dpop_signing_alg_values_supported?.includes('ES256'), 'the authorization server advertises DPoP with ES256');
    assert.equal(codeExchange.token_type, 'Bearer', 'R34: no DPoP binding for a Bearer-only resource');
    const toolCalls = ev.mcpRequests.filter((r) => r.method === 'POST' && r.hadAuthorization && r.status === 200);
    assert.ok(toolCalls.length > 0 && toolCalls.every((r) => r.scheme === 'bearer'), 'R34: the MCP server got Bearer requests');
    assert.equal(codeExchange.resource, stack.resource, 'R15: resource on the code exchange');

    const at = ev.accessTokens.find((x) => x.client_id === clientId);
    assert.ok(at, 'an access token was issued to the registered client');
    assert.equal(at.aud, stack.resource, 'the access token audience is the MCP resource');
    assert.match(at.scope, /\bmcp:tools\b/);

    // ---- the MCP server's side
    const ok = ev.mcpRequests.filter((r) => r.path === '/mcp' && r.hadAuthorization && r.status === 200);
    assert.ok(ok.length > 0, 'the MCP server saw an authorized request answered 200');
    assert.ok(ok.every((r) => r.client_id === clientId));
    assert.ok(ok.some((r) => r.rpcMethods.includes('tools/list')), 'tools/list went through with the token');

    // ---- tokens are stored under the library's prefix
    const storage = await readLocalStorage(page);
    const keys = Object.keys(storage);
    assert.ok(keys.some((k) => k.startsWith('mcp-oauth')), `localStorage has mcp-oauth keys (keys: ${keys.join(', ')})`);
    const stray = keys.filter((k) => !k.startsWith('mcp-oauth'));
    assert.deepEqual(stray, [], 'every localStorage key starts with the library prefix');
    const storedJwts = Object.values(storage).flatMap(jwtsIn);
    const issued = new Set(ev.tokens.map((x) => x.access_token_sha256));
    const storedAt = storedJwts.find((j) => issued.has(sha256(j)));
    assert.ok(storedAt, 'an issued access token is stored in localStorage under an mcp-oauth key');
    assert.equal(decodeJwtPayload(storedAt).aud, stack.resource);

    // ---- no secret ever travels in a URL (R24)
    const urls = [...d.requests.map((r) => r.url), ...d.navigations.map((n) => n.url)];
    assert.ok(d.navigations.some((n) => n.label === 'popup1' && n.url.startsWith(`${stack.asUrl}/`)),
      'the popup went to the authorization server');
    for (const url of urls) {
      assert.ok(!/code_verifier/i.test(url), `no code_verifier in ${url}`);
      assert.ok(!/[?&#](access_token|refresh_token)=/i.test(url), `no token parameter in ${url}`);
      for (const jwt of storedJwts) assert.ok(!url.includes(jwt), `no access token in ${url}`);
    }
  });
});

for (const storage of ['memory', 'session']) {
  test(`R22 R25 R33 storage "${storage}" connects through the popup, which hands the response to the opener`, { timeout: TIMEOUTS.test }, async (t) => {
    const { page, run } = await openAndConnect(t, `?storage=${storage}`);
    await run(async () => {
      await page.click('#list-tools');
      await page.waitForFunction(
        () => document.querySelectorAll('#tools li').length > 0 || document.querySelector('#error')?.textContent,
      );
      assert.equal(await page.locator('#error').innerText(), '', 'no error is shown after listing tools');
      // the flow, its verifier and the tokens stayed out of localStorage
      const keys = Object.keys(await readLocalStorage(page));
      assert.deepEqual(keys.filter((k) => k.includes(':flow:') || k.includes(':server:')), [], `localStorage keys: ${keys.join(', ')}`);
    });
  });
}

test('R33 a dump of localStorage, sessionStorage and IndexedDB after connecting holds no refresh token', { timeout: TIMEOUTS.test }, async (t) => {
  const { page, run } = await openAndConnect(t);
  await run(async () => {
    const dump = await page.evaluate(async () => {
      const texts = [];
      for (const s of [localStorage, sessionStorage]) {
        for (let i = 0; i < s.length; i += 1) texts.push(s.key(i), s.getItem(s.key(i)));
      }
      const request = (r) => new Promise((ok, ko) => { r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
      const asText = (v) => {
        if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
          return Array.from(new Uint8Array(v.buffer ?? v, v.byteOffset ?? 0, v.byteLength), (b) => String.fromCharCode(b)).join('');
        }
        if (v && typeof v === 'object' && !(v instanceof CryptoKey)) return Object.values(v).map(asText).join(' ');
        return String(v);
      };
      const databases = await indexedDB.databases();
      for (const { name } of databases) {
        const db = await request(indexedDB.open(name));
        for (const store of db.objectStoreNames) {
          const all = await request(db.transaction(store).objectStore(store).getAll());
          texts.push(...all.map(asText));
        }
        db.close();
      }
      return { texts, databases: databases.map((d) => d.name) };
    });
    assert.ok(dump.databases.some((n) => n.startsWith('mcp-oauth')), `the vault's database exists: ${dump.databases}`);
    const issued = new Set(stack.events.tokens.map((x) => x.refresh_token_sha256).filter(Boolean));
    assert.ok(issued.size > 0, 'the authorization server issued a refresh token');
    const candidates = dump.texts.flatMap((text) => text.match(/[\w-]{20,}/g) ?? []);
    const found = candidates.filter((c) => issued.has(sha256(c)));
    assert.deepEqual(found, [], 'no refresh token in any storage');
    // and the library can still refresh: the status says so
    const refreshable = await page.evaluate(async (url) => {
      const { McpAuth } = await import('/pkg/mcp_oauth_wasm.js');
      return new McpAuth({ redirectUri: `${location.origin}/apps/plain/callback.html` }).status(url).refreshable;
    }, stack.mcpUrl);
    assert.equal(refreshable, true);
  });
});

test('R24 R33 R35 a full-page redirect: the flow waits in sessionStorage, the callback page completes it and returns to the app', { timeout: TIMEOUTS.test }, async (t) => {
  const exchangesBefore = stack.events.tokens.filter((x) => x.grant_type === 'authorization_code').length;
  const { page, d, run } = await openPage(t, '?mode=redirect#here');
  await run(async () => {
    await page.click('#connect');
    await page.waitForURL((url) => url.href.startsWith(stack.asUrl));
    // the authorization server's page, in the same tab
    await page.waitForSelector('#approve');
    await page.click('#approve');
    await page.waitForURL(`${stack.webUrl}/apps/plain/?mode=redirect#here`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForFunction(() => document.querySelector('#status-state')?.textContent === 'authorized');
    const navigations = d.navigations.filter((n) => n.label === 'page').map((n) => n.url);
    assert.ok(navigations.some((u) => u.startsWith(`${stack.webUrl}/apps/plain/callback.html?code=`)), 'the callback page ran in the tab');
    const keys = Object.keys(await readLocalStorage(page));
    assert.deepEqual(keys.filter((k) => k.includes(':flow:')), [], 'no flow in localStorage');
    const session = await page.evaluate(() => Object.keys(sessionStorage));
    assert.deepEqual(session.filter((k) => k.includes(':flow:')), [], 'the flow was taken out of sessionStorage');
    // R35: the callback page called handleCallback twice at once: one code exchange
    const codes = stack.events.tokens.filter((x) => x.grant_type === 'authorization_code');
    assert.equal(codes.length - exchangesBefore, 1, 'one code exchange for two handleCallback calls');
  });
});

test('R23 a popup the user closes while discovery is still running rejects popup_closed at once', { timeout: TIMEOUTS.test }, async (t) => {
  const { context, page, run } = await openPage(t, `?server=${encodeURIComponent(`${stack.mcpUrl}?slow=1`)}`);
  await run(async () => {
    // discovery takes 5 s: the probe of this server URL answers late
    await context.route((url) => url.href === `${stack.mcpUrl}?slow=1`, async (route) => {
      await new Promise((r) => { setTimeout(r, 5000); });
      await route.continue().catch(() => {});
    });
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
    assert.equal(popup.url(), 'about:blank', 'the popup waits on about:blank for the authorization URL');
    await popup.close();
    const closedAt = Date.now();
    await page.waitForFunction(() => document.querySelector('#error')?.textContent);
    const elapsed = Date.now() - closedAt;
    assert.match(await page.locator('#error').innerText(), /^popup_closed:/);
    assert.ok(elapsed < 2000, `rejected ${elapsed} ms after the close, before discovery ended`);
  });
});
