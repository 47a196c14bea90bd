// Local MCP server (Streamable HTTP, stateless) protected by OAuth bearer tokens from the local AS.
//
// - POST /mcp: MCP over Streamable HTTP; tools `echo`, `add`, `whoami`, and `admin_stats`, which
//   needs the wider scope `mcp:admin`: calling it without answers 403 error="insufficient_scope"
//   scope="mcp:tools mcp:admin" (a step-up)
// - no token, or a bad one: 401 + WWW-Authenticate: Bearer resource_metadata="<PRM URL>"
//   (+ scope="mcp:tools" without a token, error="invalid_token" with a bad one); a token without `mcp:tools`: 403
//   error="insufficient_scope"
// - tokens: JWT access tokens verified against the AS JWKS, issuer and audience == resource
// - RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp and /.well-known/oauth-protected-resource
// - CORS for any origin, on every response (401s included); preflights answered without auth
// - without `dpop`: Bearer only, as most MCP servers are: the metadata says nothing of DPoP, and
//   the DPoP scheme is refused with 401 invalid_token, as the MCP SDK's requireBearerAuth does
// - with `dpop: true`: the metadata lists `dpop_signing_alg_values_supported` (RFC 9728 §2) and
//   DPoP-bound tokens (RFC 9449) are accepted with `Authorization: DPoP` and a
//   valid `DPoP` proof (htm, htu, ath, jkt, iat window, jti replay); a bound token sent as Bearer
//   is refused. Challenges then carry a `DPoP algs="..."` challenge after the Bearer one.

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import {
  EmbeddedJWK, calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, jwtVerify,
} from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { listen, onTheWire } from './listen.mjs';

const MAX_BODY = 1024 * 1024;

export const ADMIN_TOOL = 'admin_stats';
const ADMIN_SCOPE = 'mcp:admin';

function buildMcpServer(auth, name) {
  const server = new McpServer({ name, version: '1.0.0' });
  server.registerTool('echo', {
    description: 'Echo the given text back',
    inputSchema: { text: z.string() },
  }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('add', {
    description: 'Add two numbers',
    inputSchema: { a: z.number(), b: z.number() },
  }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
  server.registerTool('whoami', {
    description: 'Describe the access token this request carried (no secrets)',
    inputSchema: {},
  }, async () => ({
    content: [{
      type: 'text',
      text: JSON.stringify({ sub: auth.sub, client_id: auth.client_id, aud: auth.aud, scope: auth.scope, exp: auth.exp }),
    }],
  }));
  server.registerTool(ADMIN_TOOL, {
    description: `Server statistics; needs the scope ${ADMIN_SCOPE} (calling it without is a step-up)`,
    inputSchema: {},
  }, async () => ({
    content: [{ type: 'text', text: JSON.stringify({ uptimeSeconds: Math.round(process.uptime()), scope: auth.scope }) }],
  }));
  return server;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const quote = (s) => `"${String(s).replace(/["\\]/g, '\\$&')}"`;
const DPOP_ALGS = ['ES256', 'EdDSA', 'Ed25519']; // what oidc-provider advertises
const DPOP_MAX_AGE = 300;

/**
 * @param {object} o
 * @param {number} o.port
 * @param {string} o.issuer the authorization server's issuer
 * @param {ReturnType<import('./events.mjs').createEvents>} o.events
 * @param {string} [o.requiredScope] default `mcp:tools`
 * @param {boolean} [o.dpop] accept DPoP-bound tokens (default false: Bearer only)
 * @param {boolean} [o.dpopNonce] with dpop: proofs must carry this server's nonce (RFC 9449 §9)
 * @param {string} [o.name] the MCP server's and the resource's name
 * @param {{ delayMs?: number }} [o.wire] an added delay before every response
 * @param {boolean} [o.quiet]
 */
export async function startMcpServer({
  port, issuer, events, requiredScope = 'mcp:tools', dpop = false, dpopNonce = false, name = 'mcp-oauth-wasm test server', wire, quiet = false,
}) {
  const origin = `http://127.0.0.1:${port}`;
  const resource = `${origin}/mcp`;
  const resourceMetadataUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
  const resourceMetadata = {
    resource,
    authorization_servers: [issuer],
    scopes_supported: [requiredScope, ADMIN_SCOPE],
    bearer_methods_supported: ['header'],
    resource_name: name,
    // RFC 9728 §2: this resource takes DPoP proofs with these algorithms (R34 "auto" binds here)
    ...(dpop && { dpop_signing_alg_values_supported: DPOP_ALGS }),
  };
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`), { timeoutDuration: 5000 });

  const seenProofs = new Map(); // DPoP proof jti -> expiry (ms)
  // RFC 9449 §9: the nonce proofs must carry, changed every minute (the previous one still counts)
  const nonces = [randomBytes(16).toString('base64url')];
  const nonceTimer = setInterval(() => { nonces.unshift(randomBytes(16).toString('base64url')); nonces.length = 2; }, 60_000);
  nonceTimer.unref();

  async function checkDpopProof(req, token, jkt) {
    const proof = req.headers.dpop;
    if (typeof proof !== 'string' || !proof) throw new Error('DPoP proof missing');
    const { alg } = decodeProtectedHeader(proof);
    if (!DPOP_ALGS.includes(alg)) throw new Error(`DPoP proof alg ${alg} not supported`);
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt', algorithms: DPOP_ALGS, maxTokenAge: DPOP_MAX_AGE, clockTolerance: 60,
    });
    if (dpopNonce && !nonces.includes(payload.nonce)) throw Object.assign(new Error('DPoP proof nonce missing or stale'), { useNonce: true });
    if (payload.htm !== req.method) throw new Error('DPoP proof htm mismatch');
    const htu = new URL(payload.htu);
    htu.search = '';
    htu.hash = '';
    const target = new URL(req.url, origin);
    if (htu.href !== `${origin}${target.pathname}`) throw new Error('DPoP proof htu mismatch');
    const ath = createHash('sha256').update(token).digest('base64url');
    if (payload.ath !== ath) throw new Error('DPoP proof ath mismatch');
    if (await calculateJwkThumbprint(protectedHeader.jwk) !== jkt) throw new Error('DPoP proof key does not match the token');
    const now = Date.now();
    for (const [jti, exp] of seenProofs) if (exp < now) seenProofs.delete(jti);
    if (typeof payload.jti !== 'string' || seenProofs.has(payload.jti)) throw new Error('DPoP proof replayed');
    seenProofs.set(payload.jti, now + 2 * DPOP_MAX_AGE * 1000);
  }

  async function authenticate(req) {
    const header = req.headers.authorization;
    if (!header) return { ok: false, hadAuthorization: false };
    const m = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
    if (!m) {
      return { ok: false, hadAuthorization: true, error: 'invalid_request', description: 'malformed Authorization header' };
    }
    if (!dpop && m[1].toLowerCase() === 'dpop') {
      // as the MCP SDK's requireBearerAuth answers any other scheme
      return { ok: false, hadAuthorization: true, error: 'invalid_token', description: "Invalid Authorization header format, expected 'Bearer TOKEN'" };
    }
    const scheme = m[1].toLowerCase();
    const token = m[2];
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        audience: resource,
        typ: 'at+jwt',
        algorithms: ['ES256'],
      });
      const jkt = payload.cnf?.jkt;
      // RFC 9449 §7.1: a resource that takes DPoP refuses a bound token sent as Bearer (a
      // Bearer-only one does not know of bindings)
      if (dpop && jkt && scheme !== 'dpop') throw new Error('DPoP-bound token sent as Bearer');
      if (!jkt && scheme === 'dpop') throw new Error('token is not DPoP-bound');
      if (jkt && scheme === 'dpop') {
        try {
          await checkDpopProof(req, token, jkt);
        } catch (err) {
          if (err.useNonce) return { ok: false, hadAuthorization: true, error: 'use_dpop_nonce', description: err.message };
          return { ok: false, hadAuthorization: true, error: 'invalid_dpop_proof', description: err.code ?? err.message };
        }
      }
      const scopes = String(payload.scope ?? '').split(' ');
      if (requiredScope && !scopes.includes(requiredScope)) {
        return { ok: false, hadAuthorization: true, status: 403, error: 'insufficient_scope', description: `scope ${requiredScope} required` };
      }
      return { ok: true, hadAuthorization: true, payload, scheme };
    } catch (err) {
      return { ok: false, hadAuthorization: true, error: 'invalid_token', description: err.code ?? err.message };
    }
  }

  function setCors(req, res) {
    res.setHeader('Access-Control-Allow-Origin', req.headers.origin || '*');
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Expose-Headers', 'WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version, DPoP-Nonce');
    if (dpopNonce) res.setHeader('DPoP-Nonce', nonces[0]);
  }

  function sendJson(res, status, body, headers = {}) {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  }

  async function handle(req, res) {
    const url = new URL(req.url, origin);
    const record = {
      method: req.method,
      path: url.pathname,
      hadAuthorization: !!req.headers.authorization,
      protocolVersion: req.headers['mcp-protocol-version'] ?? null,
      rpcMethods: [],
    };
    res.on('finish', () => events.push('mcpRequests', { ...record, status: res.statusCode }));

    setCors(req, res);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, DPoP',
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return;
    }

    if (url.pathname === '/.well-known/oauth-protected-resource/mcp'
      || url.pathname === '/.well-known/oauth-protected-resource') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method_not_allowed' });
      return sendJson(res, 200, resourceMetadata, { 'Cache-Control': 'max-age=60' });
    }

    if (url.pathname !== '/mcp') return sendJson(res, 404, { error: 'not_found' });

    const auth = await authenticate(req);
    if (!auth.ok) {
      record.error = auth.error ?? 'no_token';
      // the scope this endpoint needs (MCP 2025-11-25): narrower than scopes_supported
      let challenge = `Bearer resource_metadata=${quote(resourceMetadataUrl)}`;
      if (!auth.error) challenge += `, scope=${quote(requiredScope)}`;
      if (auth.error === 'use_dpop_nonce') {
        // RFC 9449 §9: the DPoP scheme's own challenge, and the nonce in DPoP-Nonce
        challenge = `DPoP error="use_dpop_nonce", error_description=${quote(auth.description)}, algs=${quote(DPOP_ALGS.join(' '))}`;
      }
      if (auth.error) {
        challenge += `, error=${quote(auth.error)}, error_description=${quote(auth.description)}`;
        if (auth.error === 'insufficient_scope') challenge += `, scope=${quote(requiredScope)}`;
      }
      if (dpop && auth.error !== 'use_dpop_nonce') challenge += `, DPoP algs=${quote(DPOP_ALGS.join(' '))}`;
      const status = auth.status ?? (auth.error === 'invalid_request' ? 400 : 401);
      // drain the body so the connection stays usable
      req.resume();
      return sendJson(res, status, {
        error: auth.error ?? 'unauthorized',
        error_description: auth.description ?? 'authorization required',
      }, { 'WWW-Authenticate': challenge });
    }
    record.client_id = auth.payload.client_id;
    record.aud = auth.payload.aud;
    record.scheme = auth.scheme;

    let body;
    if (req.method === 'POST') {
      try {
        const text = await readBody(req);
        body = text ? JSON.parse(text) : undefined;
      } catch (err) {
        return sendJson(res, err.status ?? 400, {
          jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' },
        });
      }
      record.rpcMethods = [].concat(body ?? []).map((m) => m?.method).filter(Boolean);
      const scopes = String(auth.payload.scope ?? '').split(' ');
      const wantsAdmin = [].concat(body ?? []).some((m) => m?.method === 'tools/call' && m.params?.name === ADMIN_TOOL);
      if (wantsAdmin && !scopes.includes(ADMIN_SCOPE)) {
        record.error = 'insufficient_scope';
        const need = `${requiredScope} ${ADMIN_SCOPE}`;
        return sendJson(res, 403, { error: 'insufficient_scope', error_description: `scope ${need} required` }, {
          'WWW-Authenticate': `Bearer resource_metadata=${quote(resourceMetadataUrl)}, error="insufficient_scope", `
            + `error_description=${quote(`${ADMIN_TOOL} needs ${ADMIN_SCOPE}`)}, scope=${quote(need)}`,
        });
      }
    }

    // Stateless Streamable HTTP: a fresh server + transport per request.
    const server = buildMcpServer(auth.payload, name);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close().catch(() => {});
      server.close().catch(() => {});
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  const httpServer = createServer(onTheWire('mcp', (req, res) => {
    handle(req, res).catch((err) => {
      if (!quiet) console.error('[mcp] request failed:', err);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
      else res.end();
    });
  }, events, wire));
  await listen(httpServer, port);

  return {
    url: resource,
    resource,
    resourceMetadataUrl,
    server: httpServer,
    async close() {
      await new Promise((resolve) => {
        clearInterval(nonceTimer);
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
    },
  };
}
