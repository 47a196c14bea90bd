// FastMCP (PyPI `fastmcp`, the 4.x line) with its in-memory OAuth provider
// (fastmcp.server.auth.providers.in_memory.InMemoryOAuthProvider): authorization server and MCP
// server in one process on 9610 (tests/interop/python/fastmcp_stack.py on .tools/interop-venv),
// Streamable HTTP at /mcp, one `echo` tool. The provider auto-approves every authorization request
// (no sign-in or consent page), issues refresh tokens (rotated on use), lists PKCE S256 and no DPoP.
// Dynamic registration and revocation are switched on through the provider's own options; the
// access-token lifetime (3600 s, a module constant the provider has no option for) is set to TTL.
//
// CORS: the AS metadata, /token, /register, /revoke and the protected-resource metadata send
// `Access-Control-Allow-Origin: *`; /mcp sends none, so the (single) origin is in `corsOrigins`.
//
// Known, not hit by this flow (the library refreshes before an access token expires): the provider's
// load_access_token, on meeting an expired access token at /mcp, also deletes the refresh token
// issued with it, so a client that refreshes only after a 401 gets invalid_grant and must sign in again.
import path from 'node:path';
import { installedVersion, portsFree, repoRoot, spawnPython } from './python-procs.mjs';

const script = path.join(repoRoot, 'tests', 'interop', 'python', 'fastmcp_stack.py');

export const info = { id: 'fastmcp', name: 'FastMCP (InMemoryOAuthProvider)', version: installedVersion('fastmcp'), https: false };

const TTL = 5;
const PORT = 9610;

export async function start(o = {}) {
  const log = o.log ?? ((...a) => console.error(...a));
  const origin = `http://127.0.0.1:${PORT}`;
  const procs = [];
  const stop = async () => { await Promise.allSettled(procs.reverse().map((p) => p.stop())); };
  try {
    await portsFree([`${origin}/.well-known/oauth-authorization-server`]);
    procs.push(spawnPython('fastmcp', [script, '--port', String(PORT), '--access-token-ttl', String(TTL)], log, { FASTMCP_CHECK_FOR_UPDATES: 'off' }));
    await procs[0].ready(`${origin}/.well-known/oauth-protected-resource/mcp`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    mcpUrl: `${origin}/mcp`,
    corsOrigins: [origin],
    // /authorize redirects straight to the callback: nothing to fill in, only the wait for it
    signIn: async (popup) => {
      if (o.redirectUri) await popup.waitForURL((u) => u.href.startsWith(o.redirectUri), { timeout: 15000 }).catch(() => {});
    },
    tool: { name: 'echo', arguments: { text: 'interop hello' }, expect: /interop hello/ },
    accessTokenTtl: TTL,
    // oauthError 'invalid_request', description 'client_secret: Field required'
    revoke: {
      code: 'revocation_failed',
      // R38: the message quotes what the server said
      message: /^the revocation endpoint refused \(HTTP 400\); the server said "invalid_request: client_secret: Field required"$/,
      bug: "FastMCP mounts the MCP Python SDK's /revoke, which requires client_secret even from a public client "
        + '(python-sdk issue #3508): a request without the field gets 400 invalid_request "client_secret: Field required"',
    },
    output: () => procs.map((p) => p.output()).join('\n'),
    stop,
  };
}
