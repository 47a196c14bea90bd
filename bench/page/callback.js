// This package's redirect URI page: hands the response to the opener and closes.
import init, { McpAuth } from '/pkg/mcp_oauth_wasm.js';

await init();
await new McpAuth({ redirectUri: `${location.origin}/callback.html` }).handleCallback();
