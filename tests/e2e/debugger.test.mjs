// End-to-end: the flow debugger in www/ (what `make demo` serves), clicked through in headless
// Chromium against the local stack with its pre-registered pair. A screenshot of each state goes
// to tests/e2e/artifacts/debugger/.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startStack } from '../stack/stack.mjs';
import {
  artifactsDir, assertPackageBuilt, cspWatchedContext, launchBrowser, pkgDir, withDiagnostics,
} from './helpers.mjs';

const base = Number(process.env.MCP_OAUTH_E2E_DEBUGGER_PORT ?? 9460);
const shots = path.join(artifactsDir, 'debugger');
// tokens live 20 s; the debugger refreshes 15 s before expiry: a refresh is seen in 5 s
const TTL = 20;

let stack;
let browser;

before(async () => {
  assertPackageBuilt();
  await mkdir(shots, { recursive: true });
  stack = await startStack({
    asPort: base, mcpPort: base + 1, webPort: base + 2, closedAsPort: base + 3, closedMcpPort: base + 4,
    pkgDir, quiet: true, preregistered: true, accessTokenTTL: TTL,
  });
  browser = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
}, { timeout: 30_000 });

/** A fresh context on the debugger, with CSP violations collected. */
async function openDebugger(t, viewport) {
  const { context, d } = await cspWatchedContext(browser, t, viewport ? { viewport } : {});
  const page = await context.newPage();
  const run = (fn) => withDiagnostics(d, () => page, stack, fn, `debugger-${t.name.split(' ').slice(0, 4).join('-')}`);
  await run(async () => {
    await page.goto(`${stack.webUrl}/`);
    await page.waitForSelector('body[data-ready="true"]');
  });
  return { context, page, d, run };
}

const card = (page, url) => page.locator(`article.card[data-server="${url}"]`);
const shot = (page, name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

async function addServer(page, url) {
  await page.fill('#server-url', url);
  await page.press('#server-url', 'Enter'); // Enter adds it
  await card(page, url).waitFor();
}

test('R21 R28 R29 R30 the debugger: add, connect in a popup, live countdown, timeline of every step with JSON, tools, step-up, refresh, disconnect', { timeout: 120_000 }, async (t) => {
  const { page, d, run } = await openDebugger(t);
  await run(async () => {
    assert.equal(await page.inputValue('#server-url'), stack.mcpUrl, 'pre-filled with the local MCP server');
    await shot(page, '01-empty');
    await addServer(page, stack.mcpUrl);
    const c = card(page, stack.mcpUrl);
    // discovery ran when the server was added: the probe's 401 and its challenge are on the timeline
    const probe = c.locator('.steps li[data-step="probe"]').first();
    await probe.locator('.status').filter({ hasText: '401' }).waitFor();
    assert.match(await probe.locator('.challenge').innerText(), /WWW-Authenticate: Bearer resource_metadata="[^"]+\/.well-known\/oauth-protected-resource\/mcp"/);
    await c.locator('.steps li[data-step="authorization_server_metadata"][data-status="200"]').waitFor();
    assert.equal(await c.locator('.pill').innerText(), 'Authorization required', 'discovered: the server needs authorization');

    // Connect: the popup, the authorization server's page, Approve
    const [popup] = await Promise.all([page.waitForEvent('popup'), c.locator('button.connect').click()]);
    assert.equal(await c.locator('.pill').innerText(), 'Waiting for sign-in…');
    assert.ok(await c.locator('button.cancel').isVisible(), 'Cancel is offered while the popup waits');
    await popup.waitForSelector('#approve');
    await shot(popup, '02-sign-in-popup');
    await popup.click('#approve');
    await c.locator('.pill[data-state="authorized"]').waitFor();
    // the countdown is live: it reads m:ss and goes down by itself
    const first = await c.locator('.pill').innerText();
    assert.match(first, /^Authorized · expires in 0:(1\d|20)$/);
    await page.waitForFunction(([sel, text]) => document.querySelector(sel)?.textContent !== text,
      [`article.card[data-server="${stack.mcpUrl}"] .pill`, first]);
    assert.match(await c.locator('.f-client').innerText(), /\(registered dynamically\)/);
    assert.equal(await c.locator('.f-issuer').innerText(), stack.asUrl);

    // the timeline: every step with its HTTP exchange, JSON documents, secrets masked
    const steps = await c.locator('.steps li[data-kind="step"]').evaluateAll((lis) => lis.map((li) => `${li.dataset.step}:${li.dataset.status ?? ''}`));
    for (const want of ['probe:401', 'resource_metadata:200', 'authorization_server_metadata:200', 'registration:201', 'authorization:', 'token:200']) {
      assert.ok(steps.includes(want), `the timeline has ${want}: ${steps.join(' ')}`);
    }
    const auth = c.locator('.steps li[data-step="authorization"]');
    const params = await auth.locator('.params').innerText();
    for (const p of ['client_id', 'redirect_uri', 'code_challenge', 'code_challenge_method', 'resource', 'state', 'scope']) {
      assert.match(params, new RegExp(`^${p}$`, 'm'), `the authorization URL's ${p} is shown`);
    }
    assert.match(params, /code_verifier\s+••••• \(masked/);
    const token = c.locator('.steps li[data-step="token"]');
    await token.locator('summary').click();
    const tokenJson = await token.locator('pre.json').allInnerTexts();
    assert.match(tokenJson.join('\n'), /"access_token": "••••• \(masked, \d+ chars\)"/);
    assert.match(tokenJson.join('\n'), /"code_verifier": "••••• \(masked/);
    await c.locator('.steps li[data-step="resource_metadata"] summary').click();
    assert.match((await c.locator('.steps li[data-step="resource_metadata"] pre.json').innerText()), /"authorization_servers": \[\s+"http:\/\/127\.0\.0\.1:\d+"/);
    const text = await page.locator('body').innerText();
    for (const rec of stack.events.tokens) assert.ok(!text.includes(rec.access_token_sha256 ?? '\0'), 'no token fingerprint on the page');
    assert.equal((await page.content()).match(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/), null, 'no JWT anywhere in the page');
    await shot(page, '03-authorized-timeline');
    await page.screenshot({ path: path.join(shots, 'readme.png'), fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1500 } });

    // tools, and a call with JSON arguments
    await c.locator('button.list-tools').click();
    await c.locator('button.tool[data-tool="add"]').click();
    await c.locator('.call-args').fill('{ "a": 40, "b": 2 }');
    await c.locator('button.call-tool').click();
    await c.locator('.call-result[data-outcome="ok"]').waitFor();
    assert.equal(await c.locator('.call-result').innerText(), '42');
    await c.locator('button.tool[data-tool="whoami"]').click();
    await c.locator('button.call-tool').click();
    await c.locator('.call-result[data-outcome="ok"]').filter({ hasText: 'aud' }).waitFor();
    assert.match(await c.locator('.call-result').innerText(), new RegExp(`"aud": "${stack.mcpUrl}"`), 'whoami shows the audience');
    assert.ok(await c.locator('.steps li[data-step="mcp tools/call"][data-status="200"]').count() >= 2, 'MCP traffic is on the timeline');
    await shot(page, '04-tool-called');

    // step-up: admin_stats needs mcp:admin; the call's 403 opens the popup for the union
    await c.locator('button.tool[data-tool="admin_stats"]').click();
    const [stepUpPopup] = await Promise.all([page.waitForEvent('popup'), c.locator('button.call-tool').click()]);
    await stepUpPopup.waitForSelector('#approve');
    assert.match(await stepUpPopup.locator('#scope').innerText(), /mcp:admin/);
    await stepUpPopup.click('#approve');
    await c.locator('.call-result[data-outcome="ok"]').filter({ hasText: 'uptimeSeconds' }).waitFor();
    assert.match(await c.locator('.steps li[data-step="step_up"]').first().innerText(), /mcp:tools mcp:admin/);
    assert.ok(await c.locator('.steps li[data-step="mcp tools/call"][data-status="403"] .challenge').count() >= 1, 'the 403 and its challenge are shown');
    assert.match(await c.locator('.f-scope').innerText(), /mcp:admin/);
    await shot(page, '05-stepped-up');

    // refresh: 15 s before expiry the next request refreshes first, and the timeline shows it
    await page.waitForFunction((sel) => /expires in 0:(0\d|1[0-4])$/.test(document.querySelector(sel)?.textContent ?? ''),
      `article.card[data-server="${stack.mcpUrl}"] .pill`, { timeout: 15_000 });
    await c.locator('button.tool[data-tool="echo"]').click();
    await c.locator('button.call-tool').click();
    await c.locator('.call-result[data-outcome="ok"]').filter({ hasText: 'hello' }).waitFor();
    await c.locator('.steps li[data-step="refresh"][data-status="200"]').waitFor();
    assert.match(await c.locator('.pill').innerText(), /^Authorized · expires in 0:(1\d|20)$/);

    // Disconnect: revoked, "Authorization required", and the access token the server could not
    // revoke is said
    await c.locator('button.disconnect').click();
    await c.locator('.pill[data-state="required"]').waitFor();
    assert.equal(await c.locator('.pill').innerText(), 'Authorization required');
    await c.locator('.steps li[data-step="revocation"][data-status="200"]').first().waitFor();
    assert.match(await c.locator('.steps li[data-kind="warning"]').last().innerText(), /not_revoked[\s\S]*access token/);
    await shot(page, '06-disconnected');

    assert.deepEqual(await page.evaluate(() => window.cspViolations), [], 'no CSP violation');
    assert.deepEqual(d.pageErrors, []);
  });
});

test('R11 R30 the debugger: a server that allows no registration asks for a client ID, and connects with it', { timeout: 90_000 }, async (t) => {
  const { page, run } = await openDebugger(t);
  const url = stack.preregistered.mcpUrl;
  await run(async () => {
    await addServer(page, url);
    const c = card(page, url);
    await c.locator('.pill[data-state="client"]').waitFor();
    assert.equal(await c.locator('.pill').innerText(), 'Needs a client ID');
    assert.ok(await c.locator('.client-form').isVisible(), 'the Client ID form is shown');
    assert.match(await c.locator('.client-hint').innerText(), /demo-app/);
    // Connect without an id: the typed error, with the form
    await c.locator('button.connect').click();
    await c.locator('.error[data-code="client_registration_required"]').waitFor();
    assert.match(await c.locator('.error').innerText(), /allows no registration/);
    await shot(page, '07-needs-client-id');

    await c.locator('.client-id').fill(stack.preregistered.clientId);
    const [popup] = await Promise.all([page.waitForEvent('popup'), c.locator('button.connect').click()]);
    await popup.waitForSelector('#approve');
    assert.equal(await popup.locator('#client-id').innerText(), stack.preregistered.clientId);
    await popup.click('#approve');
    await c.locator('.pill[data-state="authorized"]').waitFor();
    assert.match(await c.locator('.f-client').innerText(), /^demo-app/);
    assert.equal(await c.locator('.steps li[data-step="registration"]').count(), 0, 'no registration was tried');
    await c.locator('button.list-tools').click();
    await c.locator('button.tool[data-tool="whoami"]').waitFor();
    await shot(page, '08-preregistered-connected');
  });
});

test('R8 R10 the debugger: wrong URLs give a sentence and a hint, a phone-width page still works', { timeout: 90_000 }, async (t) => {
  const { page, run } = await openDebugger(t, { width: 390, height: 844 });
  await run(async () => {
    // the right server, the wrong path
    const wrongPath = `http://127.0.0.1:${base + 1}/wrong`;
    await addServer(page, wrongPath);
    const wrong = card(page, wrongPath);
    await wrong.locator('.error').waitFor();
    assert.match(await wrong.locator('.error .hint-line').innerText(), /Is this the MCP endpoint\?.*\/mcp/);
    assert.doesNotMatch(await wrong.locator('.error').innerText(), /undefined/);
    // nothing listens there
    const dead = `http://127.0.0.1:${base + 9}/mcp`;
    await addServer(page, dead);
    const deadCard = card(page, dead);
    await deadCard.locator('.error[data-code="network"]').waitFor();
    assert.match(await deadCard.locator('.error .hint-line').innerText(), /CORS/);
    assert.equal(await deadCard.locator('.pill').innerText(), 'Unreachable');
    // an unsafe port: named as such
    const unsafe = 'http://127.0.0.1:6000/mcp';
    await addServer(page, unsafe);
    await card(page, unsafe).locator('.error[data-code="network"]').waitFor();
    assert.match(await card(page, unsafe).locator('.error .hint-line').innerText(), /unsafe port/);
    // not https: refused before anything is sent
    const clear = 'http://mcp.example.com/mcp';
    await addServer(page, clear);
    await card(page, clear).locator('.error[data-code="insecure_url"]').waitFor();
    assert.match(await card(page, clear).locator('.error').innerText(), /must be https/);
    // not a URL at all: said at the form
    await page.fill('#server-url', 'mcp.example.com');
    await page.press('#server-url', 'Enter');
    assert.match(await page.locator('#add-error').innerText(), /not a valid URL/);
    // phone width: nothing wider than the screen
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page fits a phone's width (overflow ${overflow}px)`);
    await shot(page, '09-errors-phone');
  });
});
