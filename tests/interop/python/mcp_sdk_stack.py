"""The MCP Python SDK (`mcp`) as an interop stack: its `examples/servers/simple-auth` split.

Two processes, as in the example:

- ``as``: an authorization server built from ``mcp.server.auth.routes.create_auth_routes`` with a
  provider modelled on the example's ``SimpleOAuthProvider`` (a login form with the example's
  demo credentials, ``demo_user`` / ``demo_password``) and the example's RFC 7662
  ``/introspect`` endpoint. Dynamic client registration is on, as in the example.
- ``rs``: the SDK's ``MCPServer`` (the v1 ``FastMCP``) as a resource server at ``/mcp``
  (Streamable HTTP) that verifies tokens by introspection against the AS, publishes RFC 9728
  metadata and answers 401 with ``WWW-Authenticate: Bearer ... resource_metadata=...``, with
  the example's ``get_time`` tool.

Differences from the example, each needed for the interop run and none changing an SDK
default: everything listens on 127.0.0.1 (not localhost); the access token lives
``--access-token-ttl`` seconds (the example: 3600); refresh tokens are issued and rotated (the
example's provider has none, though the SDK's routes advertise and serve the grant); revocation
is switched on (``RevocationOptions(enabled=True)``; the example leaves it off) and the
provider's ``revoke_token`` takes the token object the SDK passes (the example's takes a string,
its own "TODO(Marcelo)").

    python mcp_sdk_stack.py as --port 9600 --access-token-ttl 5
    python mcp_sdk_stack.py rs --port 9601 --auth-server http://127.0.0.1:9600
"""

from __future__ import annotations

import argparse
import datetime
import logging
import secrets
import time
from typing import Any

import uvicorn
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    TokenVerifier,
    construct_redirect_uri,
)
from mcp.server.auth.routes import cors_middleware, create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver.server import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url

HOST = "127.0.0.1"
DEMO_USERNAME = "demo_user"
DEMO_PASSWORD = "demo_password"
MCP_SCOPE = "user"

logger = logging.getLogger("mcp_sdk_stack")


# ---- authorization server (examples/servers/simple-auth: simple_auth_provider.py, auth_server.py)


class SimpleOAuthProvider(OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]):
    """The example's provider, with refresh tokens and a configurable access-token lifetime."""

    def __init__(self, server_url: str, access_token_ttl: int):
        self.server_url = server_url
        self.auth_callback_url = f"{server_url}/login"
        self.access_token_ttl = access_token_ttl
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.auth_codes: dict[str, AuthorizationCode] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.state_mapping: dict[str, dict[str, str | None]] = {}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        if not client_info.client_id:
            raise ValueError("No client_id provided")
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        state = params.state or secrets.token_hex(16)
        self.state_mapping[state] = {
            "redirect_uri": str(params.redirect_uri),
            "code_challenge": params.code_challenge,
            "redirect_uri_provided_explicitly": str(params.redirect_uri_provided_explicitly),
            "client_id": client.client_id,
            "resource": params.resource,  # RFC 8707
        }
        return f"{self.auth_callback_url}?state={state}&client_id={client.client_id}"

    async def get_login_page(self, state: str) -> HTMLResponse:
        if not state:
            raise HTTPException(400, "Missing state parameter")
        html_content = f"""
        <!DOCTYPE html>
        <html>
        <head>
            <title>MCP Demo Authentication</title>
            <style>
                body {{ font-family: Arial, sans-serif; max-width: 500px; margin: 0 auto; padding: 20px; }}
                .form-group {{ margin-bottom: 15px; }}
                input {{ width: 100%; padding: 8px; margin-top: 5px; }}
                button {{ background-color: #4CAF50; color: white; padding: 10px 15px; border: none; cursor: pointer; }}
            </style>
        </head>
        <body>
            <h2>MCP Demo Authentication</h2>
            <p>This is a simplified authentication demo. Use the demo credentials below:</p>
            <p><strong>Username:</strong> demo_user<br>
            <strong>Password:</strong> demo_password</p>

            <form action="{self.server_url.rstrip("/")}/login/callback" method="post">
                <input type="hidden" name="state" value="{state}">
                <div class="form-group">
                    <label>Username:</label>
                    <input type="text" name="username" value="demo_user" required>
                </div>
                <div class="form-group">
                    <label>Password:</label>
                    <input type="password" name="password" value="demo_password" required>
                </div>
                <button type="submit">Sign In</button>
            </form>
        </body>
        </html>
        """
        return HTMLResponse(content=html_content)

    async def handle_login_callback(self, request: Request) -> Response:
        form = await request.form()
        username = form.get("username")
        password = form.get("password")
        state = form.get("state")
        if not username or not password or not state:
            raise HTTPException(400, "Missing username, password, or state parameter")
        if not isinstance(username, str) or not isinstance(password, str) or not isinstance(state, str):
            raise HTTPException(400, "Invalid parameter types")
        redirect_uri = await self.handle_simple_callback(username, password, state)
        return RedirectResponse(url=redirect_uri, status_code=302)

    async def handle_simple_callback(self, username: str, password: str, state: str) -> str:
        state_data = self.state_mapping.get(state)
        if not state_data:
            raise HTTPException(400, "Invalid state parameter")
        redirect_uri = state_data["redirect_uri"]
        code_challenge = state_data["code_challenge"]
        redirect_uri_provided_explicitly = state_data["redirect_uri_provided_explicitly"] == "True"
        client_id = state_data["client_id"]
        resource = state_data.get("resource")
        assert redirect_uri is not None and code_challenge is not None and client_id is not None

        if username != DEMO_USERNAME or password != DEMO_PASSWORD:
            raise HTTPException(401, "Invalid credentials")

        new_code = f"mcp_{secrets.token_hex(16)}"
        self.auth_codes[new_code] = AuthorizationCode(
            code=new_code,
            client_id=client_id,
            redirect_uri=AnyHttpUrl(redirect_uri),
            redirect_uri_provided_explicitly=redirect_uri_provided_explicitly,
            expires_at=time.time() + 300,
            scopes=[MCP_SCOPE],
            code_challenge=code_challenge,
            resource=resource,
            subject=username,
        )
        del self.state_mapping[state]
        return construct_redirect_uri(redirect_uri, code=new_code, state=state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        code = self.auth_codes.get(authorization_code)
        return code if code and code.client_id == client.client_id else None

    def _issue(self, client_id: str, scopes: list[str], resource: str | None, subject: str | None) -> OAuthToken:
        access = f"mcp_{secrets.token_hex(32)}"
        refresh = f"mcp_rt_{secrets.token_hex(32)}"
        self.tokens[access] = AccessToken(
            token=access,
            client_id=client_id,
            scopes=scopes,
            expires_at=int(time.time()) + self.access_token_ttl,
            resource=resource,
            subject=subject,
        )
        self.refresh_tokens[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, resource=resource, subject=subject
        )
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=self.access_token_ttl,
            refresh_token=refresh,
            scope=" ".join(scopes),
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        if authorization_code.code not in self.auth_codes:
            raise ValueError("Invalid authorization code")
        if not client.client_id:
            raise ValueError("No client_id provided")
        del self.auth_codes[authorization_code.code]
        return self._issue(
            client.client_id, authorization_code.scopes, authorization_code.resource, authorization_code.subject
        )

    async def load_access_token(self, token: str) -> AccessToken | None:
        access_token = self.tokens.get(token)
        if not access_token:
            return None
        if access_token.expires_at and access_token.expires_at < time.time():
            del self.tokens[token]
            return None
        return access_token

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        rt = self.refresh_tokens.get(refresh_token)
        return rt if rt and rt.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        # rotation (OAuth 2.1 §4.3.1 for public clients): the used refresh token is spent
        self.refresh_tokens.pop(refresh_token.token, None)
        assert client.client_id
        return self._issue(client.client_id, scopes, refresh_token.resource, refresh_token.subject)

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        if isinstance(token, RefreshToken):
            self.refresh_tokens.pop(token.token, None)
        else:
            self.tokens.pop(token.token, None)


def create_authorization_server(server_url: str, access_token_ttl: int) -> Starlette:
    provider = SimpleOAuthProvider(server_url, access_token_ttl)
    routes = create_auth_routes(
        provider=provider,
        issuer_url=AnyHttpUrl(server_url),
        client_registration_options=ClientRegistrationOptions(
            enabled=True, valid_scopes=[MCP_SCOPE], default_scopes=[MCP_SCOPE]
        ),
        revocation_options=RevocationOptions(enabled=True),
    )

    async def login_page_handler(request: Request) -> Response:
        state = request.query_params.get("state")
        if not state:
            raise HTTPException(400, "Missing state parameter")
        return await provider.get_login_page(state)

    async def login_callback_handler(request: Request) -> Response:
        return await provider.handle_login_callback(request)

    async def introspect_handler(request: Request) -> Response:
        form = await request.form()
        token = form.get("token")
        if not token or not isinstance(token, str):
            return JSONResponse({"active": False}, status_code=400)
        access_token = await provider.load_access_token(token)
        if not access_token:
            return JSONResponse({"active": False})
        return JSONResponse(
            {
                "active": True,
                "client_id": access_token.client_id,
                "scope": " ".join(access_token.scopes),
                "exp": access_token.expires_at,
                "iat": int(time.time()),
                "token_type": "Bearer",
                "aud": access_token.resource,
                "sub": access_token.subject,
                "iss": server_url,
            }
        )

    routes.append(Route("/login", endpoint=login_page_handler, methods=["GET"]))
    routes.append(Route("/login/callback", endpoint=login_callback_handler, methods=["POST"]))
    routes.append(
        Route(
            "/introspect",
            endpoint=cors_middleware(introspect_handler, ["POST", "OPTIONS"]),
            methods=["POST", "OPTIONS"],
        )
    )
    return Starlette(routes=routes)


# ---- resource server (examples/servers/simple-auth: token_verifier.py, server.py)


class IntrospectionTokenVerifier(TokenVerifier):
    """The example's RFC 7662 token verifier."""

    def __init__(self, introspection_endpoint: str, server_url: str, validate_resource: bool = False):
        self.introspection_endpoint = introspection_endpoint
        self.server_url = server_url
        self.validate_resource = validate_resource
        self.resource_url = resource_url_from_server_url(server_url)

    async def verify_token(self, token: str) -> AccessToken | None:
        import httpx2

        if not self.introspection_endpoint.startswith(("https://", "http://localhost", "http://127.0.0.1")):
            return None
        timeout = httpx2.Timeout(10.0, connect=5.0)
        async with httpx2.AsyncClient(timeout=timeout, verify=True) as client:
            try:
                response = await client.post(
                    self.introspection_endpoint,
                    data={"token": token},
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                if response.status_code != 200:
                    return None
                data = response.json()
                if not data.get("active", False):
                    return None
                if self.validate_resource and not self._validate_resource(data):
                    return None
                return AccessToken(
                    token=token,
                    client_id=data.get("client_id", "unknown"),
                    scopes=data.get("scope", "").split() if data.get("scope") else [],
                    expires_at=data.get("exp"),
                    resource=data.get("aud"),
                    subject=data.get("sub"),
                    claims=data,
                )
            except Exception as e:  # noqa: BLE001 - as in the example
                logger.warning(f"Token introspection failed: {e}")
                return None

    def _validate_resource(self, token_data: dict[str, Any]) -> bool:
        aud = token_data.get("aud")
        if isinstance(aud, list):
            return any(check_resource_allowed(self.resource_url, a) for a in aud)
        return bool(aud) and check_resource_allowed(self.resource_url, aud)


def create_resource_server(port: int, auth_server: str) -> MCPServer:
    server_url = f"http://{HOST}:{port}/mcp"
    app = MCPServer(
        name="MCP Resource Server",
        instructions="Resource Server that validates tokens via Authorization Server introspection",
        debug=True,
        token_verifier=IntrospectionTokenVerifier(f"{auth_server}/introspect", server_url),
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(auth_server),
            required_scopes=[MCP_SCOPE],
            resource_server_url=AnyHttpUrl(server_url),
        ),
    )

    @app.tool()
    async def get_time() -> dict[str, Any]:
        """Get the current server time."""
        now = datetime.datetime.now()
        return {
            "current_time": now.isoformat(),
            "timezone": "UTC",
            "timestamp": now.timestamp(),
            "formatted": now.strftime("%Y-%m-%d %H:%M:%S"),
        }

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["as", "rs"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-token-ttl", type=int, default=3600)
    parser.add_argument("--auth-server", default="http://127.0.0.1:9600")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.role == "as":
        app = create_authorization_server(f"http://{HOST}:{args.port}", args.access_token_ttl)
        uvicorn.run(app, host=HOST, port=args.port, log_level="info")
    else:
        create_resource_server(args.port, args.auth_server).run(
            transport="streamable-http", host=HOST, port=args.port
        )


if __name__ == "__main__":
    main()
