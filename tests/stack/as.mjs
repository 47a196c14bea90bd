// Local OAuth 2.1 authorization server for tests and the demo: panva's oidc-provider.
//
// - issuer http://127.0.0.1:<port> (no trailing slash), metadata at both
//   /.well-known/oauth-authorization-server and /.well-known/openid-configuration
// - PKCE S256 required for every client
// - open dynamic client registration (RFC 7591) at /reg, with CORS (oidc-provider sends none there);
//   or, with `registration: false`, none at all and only the pre-registered `clients`
// - revocation (/token/revocation) and introspection (/token/introspection)
// - one resource server (RFC 8707): the MCP server's resource URL, scopes `mcp:tools` and `mcp:admin`,
//   JWT access tokens (ES256) whose `aud` is that resource
// - refresh tokens for any client allowed the refresh_token grant (no offline_access needed), rotated
// - /interaction/:uid: a one-button page that signs in `test-user` and grants what was asked
//   (or no page at all with autoApprove)
// - what happened goes to `events` (tests read it from startStack's result)

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { listen, onTheWire } from './listen.mjs';

export const TEST_ACCOUNT = 'test-user';
export const RESOURCE_SCOPE = 'mcp:tools';
/** A wider scope, for the MCP server's one tool that needs a step-up. */
export const ADMIN_SCOPE = 'mcp:admin';

// oidc-provider prints warnings that are expected here: "Unsupported runtime" when imported on
// Node < 22 (it works on Node 20 for everything this stack does) and "in-memory adapter" (the
// stack is throwaway by design). Those two lines are filtered out while importing/constructing.
const EXPECTED_WARNINGS = ['Unsupported runtime', 'development-only in-memory adapter'];
async function withExpectedWarningsFiltered(fn) {
  const warn = console.warn;
  console.warn = (...args) => {
    if (typeof args[0] === 'string' && EXPECTED_WARNINGS.some((w) => args[0].includes(w))) return;
    warn.apply(console, args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

let providerModule;
async function loadProvider() {
  providerModule ??= await withExpectedWarningsFiltered(() => import('oidc-provider'));
  return providerModule;
}

function signingKeys() {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return [
    { ...ec, kid: 'stack-es256', use: 'sig', alg: 'ES256' },
    { ...rsa, kid: 'stack-rs256', use: 'sig', alg: 'RS256' },
  ];
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function interactionPage({ uid, clientName, clientId, scope, resource, prompt }) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sign in - test authorization server</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; font-size: .9rem; color: #444; }
  dd { margin: 0; word-break: break-all; }
  button { font: inherit; padding: .4rem 1.2rem; margin-right: .5rem; }
</style>
</head>
<body>
<h1>Sign in as ${escapeHtml(TEST_ACCOUNT)} to ${escapeHtml(clientName)}</h1>
<dl>
  <dt>client_id</dt><dd id="client-id">${escapeHtml(clientId)}</dd>
  <dt>scope</dt><dd id="scope">${escapeHtml(scope ?? '')}</dd>
  <dt>resource</dt><dd id="resource">${escapeHtml(resource ?? '')}</dd>
  <dt>prompt</dt><dd id="prompt">${escapeHtml(prompt)}</dd>
</dl>
<form method="post" action="/interaction/${escapeHtml(uid)}/approve" style="display:inline">
  <button id="approve" type="submit" autofocus>Approve</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/deny" style="display:inline">
  <button id="deny" type="submit">Deny</button>
</form>
</body>
</html>`;
}

/**
 * @param {object} o
 * @param {number} o.port
 * @param {string} o.resource the MCP server's resource URL (RFC 8707 / RFC 9728 `resource`)
 * @param {ReturnType<import('./events.mjs').createEvents>} o.events
 * @param {boolean} [o.autoApprove] skip the approval page
 * @param {number} [o.accessTokenTTL] seconds (default 600)
 * @param {number} [o.refreshTokenTTL] seconds (default 14 days)
 * @param {boolean} [o.dpopNonce] every DPoP proof must carry a server nonce (RFC 9449 §8); DPoP
 *   itself is on, as oidc-provider ships it
 * @param {boolean} [o.registration] open dynamic client registration (default true)
 * @param {object[]} [o.clients] pre-registered clients (oidc-provider client metadata)
 * @param {{ delayMs?: number }} [o.wire] an added delay before every response
 * @param {boolean} [o.quiet]
 */
export async function startAuthorizationServer({
  port, resource, events, autoApprove = false, accessTokenTTL = 600, refreshTokenTTL = 14 * 24 * 3600,
  dpopNonce = false, registration = true, clients = [], wire, quiet = false,
}) {
  const { default: Provider, errors } = await loadProvider();
  const issuer = `http://127.0.0.1:${port}`;
  const staticScopes = ['openid', 'offline_access', RESOURCE_SCOPE, ADMIN_SCOPE];
  const resourceScopes = [RESOURCE_SCOPE, ADMIN_SCOPE];

  const configuration = {
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, name: 'Test User' }),
    }),
    jwks: { keys: signingKeys() },
    clients,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // `mcp:tools` is also listed here so a registration that carries `scope: "mcp:tools"` (R12) is
    // accepted: oidc-provider validates registered `scope` against this list only.
    scopes: staticScopes,
    responseTypes: ['code'],
    pkce: { required: () => true }, // oidc-provider 9 supports S256 only
    // Any origin may call the token/revocation endpoints for any client (test stack).
    clientBasedCORS: () => true,
    features: {
      devInteractions: { enabled: false },
      // DPoP as oidc-provider 9 ships it: on, advertising dpop_signing_alg_values_supported
      // (R34: a Bearer-only resource behind it must still work). Never switched off here.
      ...(dpopNonce && { dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true } }),
      registration: { enabled: registration }, // open: no initial access token
      revocation: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No resource in the request: no audience-bound token (the MCP server then refuses the
        // opaque token), so a client that forgets `resource` (R15) is noticed.
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        // A token request without `resource` gets the one resource the grant holds.
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== resource) {
            throw new errors.InvalidTarget(`unknown resource indicator: ${indicator}`);
          }
          return {
            scope: resourceScopes.join(' '),
            audience: resource,
            accessTokenTTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    // Refresh tokens for every client allowed the refresh_token grant, public ones included,
    // without requiring offline_access (the default asks for offline_access).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    // Tokens outlive the AS browser session (the default ties them to it without offline_access).
    expiresWithSession: async () => false,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: accessTokenTTL,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      Grant: refreshTokenTTL,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: refreshTokenTTL,
      Session: 24 * 3600,
    },
  };

  const provider = await withExpectedWarningsFiltered(() => new Provider(issuer, configuration));

  // ---- events -------------------------------------------------------------------------------
  const tokenInfo = (t) => ({
    client_id: t.clientId,
    grantId: t.grantId,
    scope: t.scope,
    resource: t.resource,
    aud: t.aud,
    exp: t.exp,
  });
  provider.on('registration_create.success', (_ctx, client) => {
    const m = client.metadata();
    events.push('registrations', {
      client_id: m.client_id,
      client_name: m.client_name,
      redirect_uris: m.redirect_uris,
      grant_types: m.grant_types,
      response_types: m.response_types,
      token_endpoint_auth_method: m.token_endpoint_auth_method,
      application_type: m.application_type,
      scope: m.scope,
    });
  });
  provider.on('authorization.accepted', (ctx) => {
    const p = ctx.oidc.params;
    events.push('authorizations', {
      client_id: p.client_id,
      redirect_uri: p.redirect_uri,
      resource: p.resource,
      scope: p.scope,
      code_challenge_method: p.code_challenge_method,
      has_state: !!p.state,
    });
  });
  // Token values are never recorded, only their SHA-256 (base64url), so a test can look for them
  // in places they must not be (URLs, storage) without the log holding secrets.
  const fingerprint = (v) => (typeof v === 'string' ? createHash('sha256').update(v).digest('base64url') : undefined);
  provider.on('grant.success', (ctx) => {
    const p = ctx.oidc.params;
    const body = ctx.body ?? {};
    events.push('tokens', {
      client_id: ctx.oidc.client?.clientId,
      grant_type: p.grant_type,
      resource: p.resource,
      requested_scope: p.scope,
      scope: body.scope,
      token_type: body.token_type,
      expires_in: body.expires_in,
      refresh_token_issued: !!body.refresh_token,
      access_token_sha256: fingerprint(body.access_token),
      refresh_token_sha256: fingerprint(body.refresh_token),
    });
  });
  const accessToken = (format) => (t) => {
    events.push('accessTokens', { ...tokenInfo(t), format, aud: t.aud ?? t.resourceServer?.audience ?? null });
  };
  provider.on('access_token.issued', accessToken('jwt'));
  provider.on('access_token.saved', accessToken('opaque'));
  for (const e of ['saved', 'consumed', 'destroyed']) {
    provider.on(`refresh_token.${e}`, (t) => events.push('refreshTokens', { event: e, ...tokenInfo(t) }));
  }
  provider.on('grant.revoked', (_ctx, grantId) => events.push('grantsRevoked', { grantId }));
  for (const where of ['authorization.error', 'grant.error', 'registration_create.error', 'revocation.error',
    'introspection.error', 'discovery.error', 'server_error']) {
    provider.on(where, (_ctx, err) => {
      events.push('errors', { where, error: err?.error ?? err?.name, error_description: err?.error_description ?? err?.message });
      if (!quiet) console.error(`[as] ${where}: ${err?.error ?? err?.name}: ${err?.error_description ?? err?.message}`);
    });
  }

  // ---- middleware in front of oidc-provider -------------------------------------------------
  // CORS for the registration endpoint (oidc-provider only does CORS on discovery, jwks, token,
  // revocation, introspection, userinfo...). Preflights are answered here.
  const regPath = '/reg';
  provider.use(async (ctx, next) => {
    if (ctx.path !== regPath && !ctx.path.startsWith(`${regPath}/`)) return next();
    const origin = ctx.get('Origin');
    const setCors = () => {
      if (!origin) return;
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.vary('Origin');
      ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate, Location');
    };
    if (ctx.method === 'OPTIONS') {
      setCors();
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, OPTIONS');
      const reqHeaders = ctx.get('Access-Control-Request-Headers');
      ctx.set('Access-Control-Allow-Headers', reqHeaders || 'Content-Type, Authorization');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return undefined;
    }
    setCors();
    try {
      await next();
    } finally {
      setCors();
    }
    return undefined;
  });

  // Interactions: one page that logs in `test-user` and consents to what was requested.
  async function approve(ctx, details) {
    const { prompt, params, session } = details;
    const accountId = session?.accountId ?? TEST_ACCOUNT;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });

    // Grant everything requested: the OIDC-level (static) scopes, and for each resource
    // indicator the requested scopes that resource knows. Built from the request params so the
    // login step also satisfies the consent step (one click), and topped up with what the
    // consent prompt says is missing when that is the prompt.
    const requested = (params.scope ?? '').split(' ').filter(Boolean);
    const oidcScopes = requested.filter((s) => staticScopes.includes(s));
    if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
    const resources = params.resource === undefined ? [] : [].concat(params.resource);
    for (const indicator of resources) {
      const scopes = requested.filter((s) => resourceScopes.includes(s));
      if (scopes.length) grant.addResourceScope(indicator, scopes.join(' '));
    }
    const d = prompt.details ?? {};
    if (d.missingOIDCScope?.length) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims?.length) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();

    const result = { consent: { grantId } };
    if (prompt.name === 'login' || !session?.accountId) result.login = { accountId: TEST_ACCOUNT };
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.redirect(returnTo);
    ctx.status = 303;
  }

  provider.use(async (ctx, next) => {
    const m = /^\/interaction\/([^/]+)(?:\/(approve|deny))?$/.exec(ctx.path);
    if (!m) return next();
    const [, uid, action] = m;
    ctx.set('Cache-Control', 'no-store');
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.type = 'text/plain';
      ctx.body = `interaction not found: ${err.message}`;
      return undefined;
    }
    if (details.uid !== uid) {
      ctx.status = 400;
      ctx.type = 'text/plain';
      ctx.body = 'interaction uid mismatch';
      return undefined;
    }
    if (!action && ctx.method === 'GET') {
      if (autoApprove) return approve(ctx, details);
      const client = await provider.Client.find(details.params.client_id);
      ctx.type = 'text/html';
      ctx.body = interactionPage({
        uid,
        clientName: client?.clientName ?? details.params.client_id,
        clientId: details.params.client_id,
        scope: details.params.scope,
        resource: [].concat(details.params.resource ?? []).join(' '),
        prompt: details.prompt.name,
      });
      return undefined;
    }
    if (action && ctx.method === 'POST') {
      if (action === 'approve') return approve(ctx, details);
      const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
        error: 'access_denied',
        error_description: 'the user denied the request',
      }, { mergeWithLastSubmission: false });
      ctx.redirect(returnTo);
      ctx.status = 303;
      return undefined;
    }
    ctx.status = 405;
    return undefined;
  });

  // Record revocation endpoint calls (outcome + which kind of token it was).
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'revocation' && ctx.method === 'POST') {
      const { entities, params, client } = ctx.oidc;
      events.push('revocations', {
        client_id: client?.clientId,
        token_type_hint: params?.token_type_hint,
        kind: entities?.RefreshToken ? 'refresh_token' : entities?.AccessToken ? 'access_token' : null,
        status: ctx.status,
        error: ctx.body?.error,
      });
    }
  });

  // ---- listen ------------------------------------------------------------------------------
  const server = createServer(onTheWire('as', provider.callback(), events, wire));
  await listen(server, port);

  return {
    issuer,
    provider,
    server,
    async close() {
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
