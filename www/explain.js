// Every McpAuthError as a sentence a person can act on, with a hint where the code alone cannot
// say what went wrong (a network failure, a URL that is not the MCP endpoint, an unsafe port).

const SENTENCES = {
  invalid_input: 'That input is not valid.',
  insecure_url: 'The URL must be https, or http on a loopback address (127.0.0.1, [::1], localhost).',
  network: 'The request did not complete.',
  server_error: 'The server answered with an error or an unexpected status.',
  invalid_response: 'The server sent a response that does not parse or lacks required members.',
  resource_mismatch: 'The server\'s protected-resource metadata names another resource than this URL.',
  issuer_mismatch: 'The authorization server\'s issuer does not match the one expected.',
  pkce_unsupported: 'The authorization server does not support PKCE with S256, which OAuth 2.1 requires.',
  client_registration_required: 'This authorization server allows no registration: a client ID registered there is needed.',
  registration_failed: 'The authorization server refused to register this app.',
  popup_blocked: 'The browser blocked the sign-in popup.',
  popup_closed: 'The sign-in window was closed before signing in finished.',
  timeout: 'Signing in took too long.',
  cancelled: 'Signing in was cancelled.',
  state_mismatch: 'The sign-in response does not belong to a flow this page started.',
  authorization_failed: 'The authorization server refused the authorization.',
  authorization_required: 'There is no usable token: connect first.',
  insufficient_scope: 'The server asks for more scope than the token carries.',
  revocation_failed: 'The authorization server could not revoke the tokens; they are kept.',
  storage_unavailable: 'The browser\'s storage is not available.',
};

// https://fetch.spec.whatwg.org/#bad-port
const BAD_PORTS = new Set([1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95,
  101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512,
  513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720,
  1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

function portOf(url) {
  try {
    const u = new URL(url);
    return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  } catch {
    return null;
  }
}

function hintFor(err, serverUrl) {
  const url = err.serverUrl ?? serverUrl ?? '';
  switch (err.code) {
    case 'network': {
      const port = portOf(url);
      if (port && BAD_PORTS.has(port)) {
        return `Port ${port} is one browsers never connect to (an "unsafe port"): run the server on another port.`;
      }
      return 'A browser does not say why a request failed. Either nothing answers there (a typo, a server that is '
        + 'down, a name that does not resolve), or the server answered without CORS headers for this origin '
        + '(its 401 and its metadata need Access-Control-Allow-Origin, and WWW-Authenticate in '
        + 'Access-Control-Expose-Headers). The browser console names the cause.';
    }
    case 'resource_mismatch':
    case 'server_error':
    case 'invalid_response':
      if ([404, 405].includes(err.status) || err.code === 'resource_mismatch') {
        return 'Is this the MCP endpoint? It is the URL an MCP client posts to, usually ending in /mcp '
          + '(the protected-resource metadata\'s `resource` names it).';
      }
      if (err.status >= 500) return 'The server failed: its logs say why. Trying again later may work.';
      return null;
    case 'insecure_url':
      return 'Tokens must never travel in clear text: use the https URL.';
    case 'client_registration_required':
      return 'Enter the client ID in the form above (the secret only if the server issued one), then Connect.';
    case 'popup_blocked':
      return 'Allow popups for this page, or choose the redirect mode.';
    case 'popup_closed':
    case 'timeout':
    case 'cancelled':
      return 'Connect again when ready: nothing was lost.';
    case 'authorization_failed':
      return err.oauthError === 'access_denied' ? 'Approve the request on the sign-in page to connect.' : null;
    case 'insufficient_scope':
      return `Connect again with the scope ${err.scope ? `"${err.scope}"` : 'the server asks for'} (it is filled in above).`;
    case 'authorization_required':
      return 'Click Connect.';
    default:
      return null;
  }
}

/**
 * @returns {{ sentence: string, code: string, status?: number, oauthError?: string,
 *   description?: string, message: string, hint: string | null }}
 */
export function explain(err, serverUrl) {
  if (err?.name !== 'McpAuthError') {
    return { sentence: 'Something failed outside the OAuth flow.', code: err?.name ?? 'error', message: String(err?.message ?? err), hint: null };
  }
  return {
    sentence: SENTENCES[err.code] ?? 'The flow failed.',
    code: err.code,
    status: err.status,
    oauthError: err.oauthError,
    description: err.description,
    message: err.message,
    hint: hintFor(err, serverUrl),
  };
}
