// One Worker that is both the OAuth 2.1 authorization server (@cloudflare/workers-oauth-provider's
// combined `OAuthProvider`, at its defaults) and the MCP server it protects (/mcp, its apiHandler).
//
// Only changed from the defaults: accessTokenTTL (3600 s) is shortened to the library's minimum,
// 60 s (it refuses less: Cloudflare KV's minimum expiration window), so a refresh shows in a test.
//
// ORIGIN is substituted by `wrangler dev --define` from the stack module (http://127.0.0.1:<port>).
import { OAuthProvider, AuthorizationError, authorizationErrorRedirect } from '@cloudflare/workers-oauth-provider';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { z } from 'zod';

/* global ORIGIN */
const origin = typeof ORIGIN === 'string' ? ORIGIN : 'http://127.0.0.1:9630';

// The MCP endpoint: the MCP TypeScript SDK's web-standard Streamable HTTP transport, stateless
// (no session id) with JSON responses, a fresh server per request, as a Worker suits.
const mcpHandler = {
  async fetch(request, env, ctx) {
    const server = new McpServer({ name: 'workers-oauth-provider interop', version: '1.0.0' });
    server.registerTool('echo', {
      description: 'Echoes its text back, with the signed-in user',
      inputSchema: { text: z.string() },
    }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text} (user ${ctx.props?.userId})` }] }));
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    return transport.handleRequest(request);
  },
};

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const html = (body, status = 200) => new Response(`<!doctype html><meta charset="utf-8">${body}`, {
  status, headers: { 'content-type': 'text/html; charset=utf-8', 'x-frame-options': 'DENY' },
});

// The application's own part: a minimal authorize page. GET shows the request, parsed and
// validated by the library, with an Approve button; the form posts back to the same URL (the
// query is kept), so POST parses the same request again and completes it. The test user is fixed.
const defaultHandler = {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== '/authorize') return new Response('not found', { status: 404 });
    try {
      const oauthRequest = await env.OAUTH_PROVIDER.parseAuthRequest(request);
      if (request.method === 'POST') {
        const form = await request.formData();
        if (form.get('decision') !== 'approve') {
          return Response.redirect(authorizationErrorRedirect(oauthRequest, 'access_denied'), 302);
        }
        const { redirectTo } = await env.OAUTH_PROVIDER.completeAuthorization({
          request: oauthRequest,
          userId: 'interop-user',
          metadata: {},
          scope: oauthRequest.scope,
          props: { userId: 'interop-user' },
        });
        return Response.redirect(redirectTo, 302);
      }
      if (request.method !== 'GET') return new Response(null, { status: 405 });
      const client = await env.OAUTH_PROVIDER.lookupClient(oauthRequest.clientId);
      return html(`<title>Authorize</title>
<h1>Allow ${escape(client?.clientName || oauthRequest.clientId)} to access the MCP server?</h1>
<p>Access will be sent to <strong>${escape(new URL(oauthRequest.redirectUri).host)}</strong>.
Scopes: ${escape(oauthRequest.scope.join(' ') || '(none)')}.</p>
<form method="post">
<button id="approve" name="decision" value="approve">Approve</button>
<button id="deny" name="decision" value="deny">Deny</button>
</form>`);
    } catch (error) {
      if (error instanceof AuthorizationError && error.redirectTo) return Response.redirect(error.redirectTo, 302);
      if (error instanceof AuthorizationError) return html(`<p>${escape(error.description)}</p>`, 400);
      throw error;
    }
  },
};

export default new OAuthProvider({
  apiRoute: '/mcp',
  apiHandler: mcpHandler,
  defaultHandler,
  authorizeEndpoint: '/authorize',
  tokenEndpoint: '/token',
  clientRegistrationEndpoint: '/register',
  resourceMetadata: { resource: `${origin}/mcp` },
  accessTokenTTL: 60,
});
