// The MCP Python SDK (PyPI `mcp`), its `examples/servers/simple-auth` split: an authorization
// server built from `mcp.server.auth` (create_auth_routes: dynamic registration, PKCE S256,
// refresh_token grant, /revoke; a login form with the example's demo credentials; RFC 7662
// /introspect) on 9600, and the SDK's MCPServer as a separate resource server on 9601 (Streamable
// HTTP at /mcp, RFC 9728 metadata, tokens checked by introspection against the AS). Both run as
// tests/interop/python/mcp_sdk_stack.py on .tools/interop-venv. No DPoP (none listed).
//
// CORS: the AS's metadata, /token, /register and /revoke send `Access-Control-Allow-Origin: *`, as
// does the RS's protected-resource metadata; the RS's /mcp sends none (nor exposes
// WWW-Authenticate / Mcp-Session-Id), so its origin is in `corsOrigins`.
import path from 'node:path';
import { installedVersion, portsFree, repoRoot, spawnPython } from './python-procs.mjs';

const script = path.join(repoRoot, 'tests', 'interop', 'python', 'mcp_sdk_stack.py');

export const info = { id: 'python-sdk', name: 'MCP Python SDK (mcp.server.auth)', version: installedVersion('mcp'), https: false };

const TTL = 5;
const AS_PORT = 9600;
const RS_PORT = 9601;

export async function start(o = {}) {
  const log = o.log ?? ((...a) => console.error(...a));
  const asUrl = `http://127.0.0.1:${AS_PORT}`;
  const mcpUrl = `http://127.0.0.1:${RS_PORT}/mcp`;
  const procs = [];
  const stop = async () => { await Promise.allSettled(procs.reverse().map((p) => p.stop())); };
  try {
    await portsFree([`${asUrl}/.well-known/oauth-authorization-server`, `http://127.0.0.1:${RS_PORT}/.well-known/oauth-protected-resource/mcp`]);
    procs.push(spawnPython('python-sdk AS', [script, 'as', '--port', String(AS_PORT), '--access-token-ttl', String(TTL)], log));
    await procs[0].ready(`${asUrl}/.well-known/oauth-authorization-server`);
    procs.push(spawnPython('python-sdk RS', [script, 'rs', '--port', String(RS_PORT), '--auth-server', asUrl], log));
    await procs[1].ready(`http://127.0.0.1:${RS_PORT}/.well-known/oauth-protected-resource/mcp`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    mcpUrl,
    corsOrigins: [`http://127.0.0.1:${RS_PORT}`],
    // the example's login page (GET /login?state=…): its fields come filled with the demo credentials
    signIn: async (popup) => {
      await popup.waitForSelector('input[name="username"]', { timeout: 15000 });
      await popup.fill('input[name="username"]', 'demo_user');
      await popup.fill('input[name="password"]', 'demo_password');
      await popup.click('button[type="submit"]', { noWaitAfter: true });
    },
    tool: { name: 'get_time', arguments: {}, expect: /current_time/ },
    accessTokenTtl: TTL,
    // the first request, for the refresh token, already fails; oauthError 'invalid_request',
    // description 'client_secret: Field required'
    revoke: {
      code: 'revocation_failed',
      // R38: the message quotes what the server said
      message: /^the revocation endpoint refused \(HTTP 400\); the server said "invalid_request: client_secret: Field required"$/,
      bug: "the Python SDK's /revoke requires client_secret even from a public client (python-sdk issue #3508): "
        + 'its RevocationRequest declares `client_secret: str | None` with no default, so a request without the '
        + 'field gets 400 invalid_request "client_secret: Field required" before the token is looked at',
    },
    output: () => procs.map((p) => p.output()).join('\n'),
    stop,
  };
}
