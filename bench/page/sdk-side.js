// The MCP TypeScript SDK's side: a minimal browser OAuthClientProvider (the popup opened blank in
// the click and sent to the authorization URL when the SDK has it; localStorage for the client,
// the tokens and the discovery state; the verifier in sessionStorage) under the SDK's own
// StreamableHTTPClientTransport and Client.
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '/sdk.js';

const KEY = 'sdk-bench:';
const get = (k) => {
  const v = localStorage.getItem(KEY + k);
  return v == null ? undefined : JSON.parse(v);
};
const set = (k, v) => localStorage.setItem(KEY + k, JSON.stringify(v));

export class PopupProvider {
  constructor() {
    this.popup = null;
  }
  get redirectUrl() {
    return `${location.origin}/sdk-callback.html`;
  }
  get clientMetadata() {
    return {
      client_name: 'bench (MCP SDK)',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return get('client'); }
  saveClientInformation(info) { set('client', info); }
  tokens() { return get('tokens'); }
  saveTokens(tokens) { set('tokens', tokens); }
  saveCodeVerifier(v) { sessionStorage.setItem(`${KEY}verifier`, v); }
  codeVerifier() { return sessionStorage.getItem(`${KEY}verifier`); }
  discoveryState() { return get('discovery'); }
  saveDiscoveryState(state) { set('discovery', state); }
  invalidateCredentials(scope) {
    for (const k of { all: ['tokens', 'client', 'discovery'], tokens: ['tokens'], client: ['client'], discovery: ['discovery'] }[scope] ?? []) {
      localStorage.removeItem(KEY + k);
    }
  }
  /** In the click: the popup, blank until the SDK knows where to send it. */
  openPopup() {
    this.popup = window.open('about:blank', 'sdk-bench-auth', 'popup,width=500,height=600');
  }
  redirectToAuthorization(url) {
    if (!this.popup || this.popup.closed) throw new Error('no popup');
    this.popup.location.href = url.href;
  }
}

function nextCode() {
  return new Promise((resolve, reject) => {
    const channel = new BroadcastChannel('sdk-bench');
    channel.onmessage = (e) => {
      channel.close();
      if (e.data.code) resolve(e.data.code);
      else reject(new Error(e.data.error ?? 'no code'));
    };
  });
}

async function newClient(serverUrl, provider) {
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider });
  const client = new Client({ name: 'bench', version: '0' });
  await client.connect(transport);
  return { client, transport };
}

/** Connect as the SDK's documentation shows: a 401 ends in UnauthorizedError, the popup's
 *  code goes to `finishAuth`, and a new transport connects. */
export async function connect(serverUrl, provider) {
  const code = nextCode();
  let transport;
  try {
    return (await newClient(serverUrl, provider)).client;
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider });
    await transport.finishAuth(await code);
  }
  return (await newClient(serverUrl, provider)).client;
}

export { newClient };
