// The OAuth redirect URI page. In a popup, handleCallback() hands the result to the opener and
// closes the window; on a full page (redirect mode) it resolves and we go back to the app.
import init, { McpAuth } from '/pkg/mcp_oauth_wasm.js';

const message = document.querySelector('#message');
const error = document.querySelector('#error');

try {
  await init();
  const auth = new McpAuth({ redirectUri: `${location.origin}/callback.html` });
  const result = await auth.handleCallback();
  message.textContent = `Signed in (${result?.status?.state ?? 'done'}).`;
  if (!window.opener) {
    location.replace(result?.returnTo || '/');
  }
} catch (err) {
  message.textContent = 'Sign-in failed.';
  error.textContent = `${err.code ?? err.name ?? 'error'}: ${err.message ?? err}`;
}
