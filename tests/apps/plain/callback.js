// The OAuth redirect URI page. In a popup, handleCallback() hands the authorization response to
// the opener (which exchanges the code) and closes the window; on a full page (redirect mode) it
// completes the flow and resolves, and we go back to the app.
import init, { McpAuth } from '/pkg/mcp_oauth_wasm.js';

const message = document.querySelector('#message');
const error = document.querySelector('#error');

try {
  await init();
  const auth = new McpAuth({ redirectUri: new URL('callback.html', location.href).href });
  // called twice, as React StrictMode would run an effect: one exchange, the same result (R35)
  const [result] = await Promise.all([auth.handleCallback(), auth.handleCallback()]);
  console.info(`handleCallback: ${JSON.stringify({ serverUrl: result.serverUrl, popup: result.popup, state: result.status.state })}`);
  if (result.popup) {
    // the opener finished the flow; this window closes
    message.textContent = `Signed in (${result.status.state}): the app takes it from here.`;
  } else {
    message.textContent = `Signed in (${result.status.state}).`;
    location.replace(result.returnTo || new URL('./', location.href).href);
  }
} catch (err) {
  message.textContent = 'Sign-in failed.';
  error.textContent = `${err.code ?? err.name ?? 'error'}: ${err.message ?? err}`;
}
