// An MCP server (@modelcontextprotocol/sdk, Streamable HTTP at /mcp, stateless, one tool `echo`)
// protected by better-auth as a *separate* resource server: access tokens are verified the way the
// oauth-provider docs' "API Server" section says, with `verifyAccessTokenRequest` from
// `better-auth/oauth2` against the JWT plugin's JWKS (it also enforces DPoP when a token is
// DPoP-bound), and failures are answered with `createResourceServerChallenge` from
// `@better-auth/oauth-provider` (401 + `WWW-Authenticate: Bearer resource_metadata="…"`).
// The RFC 9728 document is the one better-auth's MCP preset (`@better-auth/mcp`) builds.
//
// Usage: node mcp-server.mjs '<json config>'  { port, issuer, jwksUrl, appOrigin }
// Prints `READY <json>` on stdout once listening.

import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { DPOP_SIGNING_ALGORITHMS, verifyAccessTokenRequest } from 'better-auth/oauth2';
import { createResourceServerChallenge } from '@better-auth/oauth-provider';
import { z } from 'zod';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const HOST = '127.0.0.1';
const port = cfg.port ?? 9621;
const origin = `http://${HOST}:${port}`;
const resource = `${origin}/mcp`;
const prmPaths = new Set(['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']);

// As @better-auth/mcp's buildResourceServerMetadata: no resource-specific scopes are configured
// (the provider's scopes are all authorization-server scopes), so scopes_supported is omitted.
const protectedResourceMetadata = {
  resource,
  authorization_servers: [cfg.issuer],
  bearer_methods_supported: ['header'],
  dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGORITHMS],
};

// The MCP server is ours, so it sends CORS for the app page itself.
function cors(req, res) {
  const o = req.headers.origin;
  if (!o) return;
  res.setHeader('Access-Control-Allow-Origin', o);
  res.setHeader('Vary', 'Origin');
  res.setHeader('Access-Control-Expose-Headers', 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, DPoP-Nonce');
  if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers',
      req.headers['access-control-request-headers'] ?? 'authorization, content-type, dpop, mcp-protocol-version, mcp-session-id, last-event-id');
    res.setHeader('Access-Control-Max-Age', '600');
  }
}

function makeServer() {
  const server = new McpServer({ name: 'better-auth-interop', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Echoes its message', inputSchema: { message: z.string() } },
    async ({ message }) => ({ content: [{ type: 'text', text: `echo: ${message}` }] }),
  );
  return server;
}

function toResourceInput(req) {
  return {
    authorizationHeader: req.headers.authorization ?? null,
    dpopProofJwt: req.headers.dpop ?? null,
    method: req.method,
    url: new URL(req.url, origin).toString(),
  };
}

const httpServer = http.createServer(async (req, res) => {
  const path = new URL(req.url, origin).pathname;
  const line = `${req.method} ${path} auth=${(req.headers.authorization ?? '-').split(' ')[0]} dpop=${req.headers.dpop ? 'yes' : 'no'}`;
  res.on('finish', () => console.log(`${line} -> ${res.statusCode}`));
  cors(req, res);
  if (req.method === 'OPTIONS') { res.writeHead(204).end(); return; }
  try {
    if (prmPaths.has(path)) {
      if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { Allow: 'GET, HEAD' }).end(); return; }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=15' });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(protectedResourceMetadata));
      return;
    }
    if (path !== '/mcp') { res.writeHead(404).end(); return; }

    const input = toResourceInput(req);
    try {
      const claims = await verifyAccessTokenRequest(input, {
        verifyOptions: { issuer: cfg.issuer, audience: resource },
        jwksUrl: cfg.jwksUrl,
      });
      console.log(`  token ok: sub=${claims.sub} scope=${claims.scope} exp=${claims.exp} cnf=${claims.cnf ? 'jkt' : 'none'}`);
    } catch (error) {
      const challenge = createResourceServerChallenge(error, resource, {
        request: { headers: new Headers(Object.entries(req.headers).filter(([, v]) => typeof v === 'string')) },
        dpopSigningAlgorithms: DPOP_SIGNING_ALGORITHMS,
      });
      if (!challenge) throw error;
      console.log(`  ${challenge.statusCode}: ${challenge.message} | ${challenge.headers?.['WWW-Authenticate']}`);
      res.writeHead(challenge.statusCode, { ...challenge.headers, 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: challenge.message }, id: null }));
      return;
    }

    // Stateless Streamable HTTP: a fresh server and transport per request.
    const server = makeServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  } catch (error) {
    console.error('mcp-server error', error);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null }));
  }
});

httpServer.listen(port, HOST, () => console.log(`READY ${JSON.stringify({ origin, resource })}`));
const shutdown = () => httpServer.close(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
