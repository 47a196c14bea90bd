import init, { McpAuth } from 'mcp-oauth-wasm';

await init();
// in the popup: hands the response to the opener and closes
await new McpAuth({ redirectUri: new URL('callback.html', location.href).href }).handleCallback()
  .catch((err) => { document.querySelector('#message').textContent = `${err.code}: ${err.message}`; });
