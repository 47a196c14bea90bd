// End-to-end DPoP (R34, RFC 9449): oidc-provider binds the tokens to the page's key and both it
// and the MCP server demand a nonce in every proof; the MCP server checks the binding (cnf.jkt),
// ath, htm/htu, iat and jti. A token taken out of the page is useless elsewhere.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startStack } from '../stack/stack.mjs';
import {
  TIMEOUTS, assertPackageBuilt, launchBrowser, openPlainApp, pkgDir, sha256, watchContext, withDiagnostics,
} from './helpers.mjs';

const base = Number(process.env.MCP_OAUTH_E2E_DPOP_PORT ?? 9480);
const TTL = 4;

let stack;
let browser;
let page;
let d;

before(async () => {
  assertPackageBuilt();
  stack = await startStack({
    asPort: base, mcpPort: base + 1, webPort: base + 2, pkgDir, quiet: true, autoApprove: true,
    dpop: true, dpopNonce: true, accessTokenTTL: TTL,
  });
  browser = await launchBrowser();
  const context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUTS.action);
  d = watchContext(context);
  page = await openPlainApp(context, stack.webUrl);
}, { timeout: 60_000 });

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
}, { timeout: 30_000 });

const run = (name, fn) => withDiagnostics(d, () => page, stack, fn, `dpop-${name}`);

/** tools/list through auth.fetch: the names, or the error. */
const listTools = () => page.evaluate(async (url) => {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
  try {
    const res = await window.testAuth.fetch(url, url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    const text = await res.text();
    if (!res.ok) return `HTTP ${res.status}`;
    const data = JSON.parse(text.startsWith('{') ? text : text.split('\n').find((l) => l.startsWith('data:')).slice(5));
    return data.result.tools.map((t) => t.name).join(' ');
  } catch (e) {
    return `${e.code}: ${e.message}`;
  }
}, stack.mcpUrl);

test('R34 DPoP end to end: bound tokens, proofs with nonces at both servers, refresh, a stolen token refused, revoke', { timeout: 90_000 }, async () => {
  await run('flow', async () => {
    // connect (the plain app's Connect button: authorize() in the click)
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
    if (!popup.isClosed()) await popup.waitForEvent('close');
    await page.waitForFunction((url) => window.testAuth.status(url).state === 'authorized' || document.querySelector('#error').textContent, stack.mcpUrl);
    assert.equal(await page.locator('#error').innerText(), '');
    const exchange = stack.events.tokens.find((t) => t.grant_type === 'authorization_code');
    assert.equal(exchange.token_type, 'DPoP', 'the authorization server bound the token');
    const nonceErrors = stack.events.errors.filter((e) => e.error === 'use_dpop_nonce');
    assert.ok(nonceErrors.length >= 1, 'the token endpoint asked for a nonce and the client retried with it');

    // tools through auth.fetch: DPoP scheme, a proof the MCP server accepts after its own nonce
    assert.match(await listTools(), /\becho\b/);
    const mcp = stack.events.mcpRequests.filter((r) => r.method === 'POST' && r.hadAuthorization);
    assert.ok(mcp.some((r) => r.error === 'use_dpop_nonce' && r.status === 401), 'the MCP server asked for its nonce');
    assert.ok(mcp.some((r) => r.status === 200 && r.scheme === 'dpop'), 'and then accepted a DPoP request');

    // a stolen token is useless: as Bearer, or with a proof from another key
    const token = await page.evaluate((url) => window.testAuth.getAccessToken(url), stack.mcpUrl);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const asBearer = await fetch(stack.mcpUrl, { method: 'POST', headers: { ...headers, authorization: `Bearer ${token}` }, body });
    assert.equal(asBearer.status, 401);
    assert.match(asBearer.headers.get('www-authenticate'), /error="invalid_token", error_description="DPoP-bound token sent as Bearer"/);
    const nonce = asBearer.headers.get('dpop-nonce');
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const proof = await new SignJWT({ htm: 'POST', htu: stack.mcpUrl, ath: sha256(token), jti: randomUUID(), nonce })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
      .setIssuedAt()
      .sign(privateKey);
    const otherKey = await fetch(stack.mcpUrl, { method: 'POST', headers: { ...headers, authorization: `DPoP ${token}`, dpop: proof }, body });
    assert.equal(otherKey.status, 401);
    assert.match(otherKey.headers.get('www-authenticate'), /error="invalid_dpop_proof", error_description="DPoP proof key does not match the token"/);

    // refresh: the bound refresh token, with a proof from the same key
    await page.waitForTimeout(TTL * 1000);
    assert.match(await listTools(), /\becho\b/, 'tools again after the access token expired');
    const refresh = stack.events.tokens.find((t) => t.grant_type === 'refresh_token');
    assert.ok(refresh, 'a refresh happened');
    assert.equal(refresh.token_type, 'DPoP');

    // revoke: at the server, then nothing is kept
    const revoked = await page.evaluate((url) => window.testAuth.revoke(url).then(() => 'ok', (e) => `${e.code}: ${e.message}`), stack.mcpUrl);
    assert.equal(revoked, 'ok');
    assert.ok(stack.events.revocations.some((r) => r.kind === 'refresh_token' && r.status === 200), 'the refresh token was revoked');
    assert.equal(await page.evaluate((url) => window.testAuth.status(url).state, stack.mcpUrl), 'authorization_required');
    assert.deepEqual(d.pageErrors, []);
  });
});
