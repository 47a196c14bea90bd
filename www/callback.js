// The OAuth redirect URI page. In a popup, handleCallback() hands the authorization response to
// the opener (which exchanges the code) and closes the window. On a full page (redirect mode) it
// exchanges the code here, recorded into the same timeline as the debugger's, and goes back.
import init, { McpAuth } from '/pkg/mcp_oauth_wasm.js';
import { explain } from './explain.js';
import { Timeline, createRecorder } from './inspector.js';

const message = document.querySelector('#message');
const error = document.querySelector('#error');

try {
  await init();
  const recorder = createRecorder(new Timeline(), () => undefined);
  const auth = new McpAuth({ redirectUri: `${location.origin}/callback.html`, fetch: recorder.fetch });
  auth.subscribe(recorder.onEvent);
  const result = await auth.handleCallback();
  if (result.popup) {
    message.textContent = `Signed in (${result.status.state}): the debugger takes it from here.`;
  } else {
    message.textContent = `Signed in (${result.status.state}).`;
    location.replace(result.returnTo || '/');
  }
} catch (err) {
  const e = explain(err);
  message.textContent = 'Sign-in failed.';
  error.textContent = `${e.sentence} ${e.message}${e.hint ? ` ${e.hint}` : ''}`;
}
