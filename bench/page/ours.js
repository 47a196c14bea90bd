// This package's side: McpAuth, and the MCP SDK's Client over `auth.fetchFor` for the MCP
// traffic (the same Client as the SDK side, so only the authorization differs).
import init, { McpAuth } from '/pkg/mcp_oauth_wasm.js';
import { Client, StreamableHTTPClientTransport } from '/sdk.js';

export async function ready() {
  await init();
  return new McpAuth({ redirectUri: `${location.origin}/callback.html`, clientName: 'bench (mcp-oauth-wasm)', refreshSkewSeconds: 1 });
}

/** An MCP client for `serverUrl` whose requests carry this package's tokens. */
export async function mcpClient(auth, serverUrl) {
  const client = new Client({ name: 'bench', version: '0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(serverUrl), { fetch: auth.fetchFor(serverUrl) }));
  return client;
}
