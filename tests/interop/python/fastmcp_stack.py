"""FastMCP (PyPI `fastmcp`) with its in-memory OAuth provider as an interop stack.

One process: a ``FastMCP`` server whose ``auth`` is ``InMemoryOAuthProvider`` (the authorization
server and the resource server in one, on one origin), Streamable HTTP at ``/mcp``, one ``echo``
tool. The provider auto-approves every authorization request (no sign-in or consent page).

Kept at FastMCP's defaults except:
- dynamic client registration and revocation are switched on through the provider's own
  ``client_registration_options`` / ``revocation_options`` (both off when not given);
- the access token lifetime: the provider has no option for it, only the module constant
  ``DEFAULT_ACCESS_TOKEN_EXPIRY_SECONDS`` (3600 s) that ``exchange_authorization_code`` and
  ``exchange_refresh_token`` read on every call; it is set to ``--access-token-ttl``.

    python fastmcp_stack.py --port 9610 --access-token-ttl 5
"""

from __future__ import annotations

import argparse

import fastmcp.server.auth.providers.in_memory as in_memory
from fastmcp import FastMCP
from fastmcp.server.auth.auth import ClientRegistrationOptions, RevocationOptions
from fastmcp.server.auth.providers.in_memory import InMemoryOAuthProvider

HOST = "127.0.0.1"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-token-ttl", type=int, default=in_memory.DEFAULT_ACCESS_TOKEN_EXPIRY_SECONDS)
    args = parser.parse_args()

    in_memory.DEFAULT_ACCESS_TOKEN_EXPIRY_SECONDS = args.access_token_ttl

    auth = InMemoryOAuthProvider(
        base_url=f"http://{HOST}:{args.port}",
        client_registration_options=ClientRegistrationOptions(enabled=True),
        revocation_options=RevocationOptions(enabled=True),
    )
    mcp = FastMCP("fastmcp interop", auth=auth)

    @mcp.tool
    def echo(text: str) -> str:
        """Echo the text back."""
        return f"echo: {text}"

    mcp.run(transport="http", host=HOST, port=args.port, path="/mcp", show_banner=False)


if __name__ == "__main__":
    main()
