// better-auth + @better-auth/oauth-provider + JWT plugin on the built-in memory adapter, served by
// a plain Node HTTP server through better-auth's `toNodeHandler`. Also serves the two pages the
// plugin redirects to (better-auth ships no UI): a minimal sign-in page and a minimal consent page,
// both calling better-auth's own endpoints the way its client plugin (`oauthProviderClient`) does.
//
// Usage: node auth-server.mjs '<json config>'
//   { port, mcpResource, appOrigin, user: { email, password, name }, accessTokenTtl }
// Prints one line `READY <json>` on stdout once the user exists and the port listens.

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { betterAuth } from 'better-auth';
import { jwt } from 'better-auth/plugins';
import { toNodeHandler } from 'better-auth/node';
import { oauthProvider } from '@better-auth/oauth-provider';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const HOST = '127.0.0.1';
const port = cfg.port ?? 9620;
const origin = `http://${HOST}:${port}`;

const auth = betterAuth({
  baseURL: origin,
  secret: randomBytes(32).toString('hex'),
  // No `database`: better-auth then uses its built-in memory adapter with every table of the
  // configured plugins (better-auth/dist/db/adapter-base.mjs).
  emailAndPassword: { enabled: true },
  // The app page (the OAuth client) lives on another origin; better-auth checks Origin on its
  // state-changing endpoints against these (its own baseURL is always trusted).
  trustedOrigins: cfg.appOrigin ? [cfg.appOrigin] : [],
  telemetry: { enabled: false },
  // As the oauth-provider docs' installation step shows: the JWT plugin's session `/token`
  // endpoint is disabled, OAuth tokens come from /oauth2/token.
  disabledPaths: ['/token'],
  plugins: [
    jwt(),
    oauthProvider({
      loginPage: '/sign-in',
      consentPage: '/consent',
      // What better-auth's MCP preset (`@better-auth/mcp`'s `mcp()`) does on top of
      // oauthProvider(): the MCP server is a known resource, linked to every registered client.
      resources: [cfg.mcpResource],
      clientRegistrationDefaultResources: [cfg.mcpResource],
      // The documented "Optional DCR fallback" for MCP clients without CIMD.
      allowDynamicClientRegistration: true,
      allowUnauthenticatedClientRegistration: true,
      // No allowInsecureRedirectUri: the default policy (a web client's redirect URI is https
      // on a non-loopback host) stands; the harness serves the app on https under a name that
      // only the browser maps to 127.0.0.1.
      // Only the lifetime is shortened (default 1 h) so the harness sees a refresh.
      accessTokenExpiresIn: cfg.accessTokenTtl ?? 5,
    }),
  ],
});

// buildSignedOAuthQuery from @better-auth/oauth-provider/client (src/signed-query.ts): the
// signed part of the page's query, sent back as `oauth_query`.
const signedQueryJs = `
function oauthQuery() {
  const params = new URLSearchParams(location.search);
  if (!params.has('sig')) return undefined;
  const names = new Set(params.getAll('ba_param'));
  if (!names.size) return undefined;
  const out = new URLSearchParams();
  for (const [k, v] of params.entries()) if (k === 'sig' || k === 'ba_param' || names.has(k)) out.append(k, v);
  return out.toString();
}
async function post(path, body) {
  const res = await fetch('/api/auth' + path, {
    method: 'POST',
    credentials: 'include',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, oauth_query: oauthQuery() }),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(path + ': ' + res.status + ' ' + JSON.stringify(data));
  if (data && data.redirect && data.url) { location.href = data.url; return; }
  throw new Error(path + ': no redirect in ' + JSON.stringify(data));
}
function fail(e) { document.getElementById('error').textContent = String(e && e.message || e); }
`;

const page = (title, body, script) => `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>${body}<p id="error" style="color:red"></p>
<script>${signedQueryJs}${script}</script></body></html>`;

const signInPage = page(
  'Sign in',
  `<form id="f">
  <label>Email <input name="email" type="email" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit" id="sign-in">Sign in</button>
</form>`,
  `document.getElementById('f').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  post('/sign-in/email', { email: f.get('email'), password: f.get('password') }).catch(fail);
});`,
);

const consentPage = page(
  'Authorize application',
  `<p>Client <code id="client"></code> asks for: <code id="scope"></code></p>
<button id="allow">Allow</button> <button id="deny">Deny</button>`,
  `const q = new URLSearchParams(location.search);
document.getElementById('client').textContent = q.get('client_id') || '';
document.getElementById('scope').textContent = q.get('scope') || '';
document.getElementById('allow').addEventListener('click', () => post('/oauth2/consent', { accept: true }).catch(fail));
document.getElementById('deny').addEventListener('click', () => post('/oauth2/consent', { accept: false }).catch(fail));`,
);

const authHandler = toNodeHandler(auth);
const server = http.createServer((req, res) => {
  const path = new URL(req.url, origin).pathname;
  const line = `${req.method} ${req.url.length > 120 ? req.url.slice(0, 120) + '…' : req.url}`;
  res.on('finish', () => console.log(`${line} -> ${res.statusCode}`));
  if (req.method === 'GET' && (path === '/sign-in' || path === '/consent')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(path === '/sign-in' ? signInPage : consentPage);
    return;
  }
  authHandler(req, res);
});

await auth.api.signUpEmail({ body: cfg.user });
server.listen(port, HOST, () => {
  console.log(`READY ${JSON.stringify({ origin })}`);
});
const shutdown = () => server.close(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
