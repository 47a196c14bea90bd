// panva's oidc-provider (npm) as tests/stack/as.mjs configures it for an MCP deployment — DPoP
// left at its default (on, ES256 listed), dynamic registration open, resource indicators — with
// the MCP SDK's Streamable HTTP server in front taking Bearer tokens only (R34, issue 17).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createEvents } from '../../stack/events.mjs';
import { startAuthorizationServer } from '../../stack/as.mjs';
import { startMcpServer } from '../../stack/mcp.mjs';

const require = createRequire(import.meta.url);
const version = JSON.parse(readFileSync(require.resolve('oidc-provider/package.json'), 'utf8')).version;

export const info = { id: 'oidc-provider', name: 'oidc-provider (Bearer-only MCP server)', version, https: false };

const TTL = 4;

export async function start() {
  const events = createEvents();
  const asPort = 9640;
  const mcpPort = 9641;
  const resource = `http://127.0.0.1:${mcpPort}/mcp`;
  const started = [];
  try {
    started.push(await startAuthorizationServer({ port: asPort, resource, events, accessTokenTTL: TTL, quiet: true }));
    started.push(await startMcpServer({ port: mcpPort, issuer: `http://127.0.0.1:${asPort}`, events, quiet: true }));
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.close()));
    throw err;
  }
  return {
    mcpUrl: resource,
    corsOrigins: [],
    signIn: async (popup) => { await popup.click('#approve'); },
    tool: { name: 'echo', arguments: { text: 'interop hello' }, expect: /interop hello/ },
    accessTokenTtl: TTL,
    revoke: { ok: true },
    events,
    stop: async () => { await Promise.allSettled(started.reverse().map((s) => s.close())); },
  };
}
