//! The package's TypeScript types (the `.d.ts`), as the JS contract writes them.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"

/** Every rejection: a JS `Error` with `name === "McpAuthError"` and a stable `code`. */
export interface McpAuthError extends Error {
  name: "McpAuthError";
  code: McpAuthErrorCode;
  status?: number;
  oauthError?: string;
  description?: string;
  serverUrl?: string;
  /** For `authorization_required` after a challenge and `insufficient_scope`: the scope the next `authorize` asks for. */
  scope?: string;
}

export type McpAuthOptions = {
  redirectUri: string;
  clientName?: string;
  clientMetadataUrl?: string;
  clients?: Record<string, { clientId: string; clientSecret?: string }>;
  storage?: "local" | "session" | "memory";
  storageKeyPrefix?: string;
  refreshSkewSeconds?: number;
  popupTimeoutSeconds?: number;
  allowMissingPkceMetadata?: boolean;
  /** R16: ask for `offline_access` (refresh tokens) where the authorization server lists it. */
  offlineAccess?: boolean;
  /** R34: bind tokens with DPoP "auto" (default: where the resource's metadata says it takes
   *  DPoP and the authorization server lists ES256), "always" (whenever the authorization
   *  server lists ES256) or "never" (Bearer). */
  dpop?: "auto" | "always" | "never";
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
};

export type AuthorizeOptions = {
  mode?: "auto" | "popup" | "redirect";
  scope?: string;
  clientId?: string;
  clientSecret?: string;
  returnTo?: string;
  signal?: AbortSignal;
};

export type RevokeOptions = { force?: boolean };

export type ServerInfo = {
  serverUrl: string;
  resource: string;
  requiresAuth: boolean;
  resourceMetadataUrl?: string;
  resourceMetadata?: object;
  issuer?: string;
  authorizationServerMetadata?: object;
  scopesSupported?: string[];
  challengeScope?: string;
  registration: "preregistered" | "metadata_document" | "dynamic" | "manual";
};

export type Status = {
  serverUrl: string;
  state: "unknown" | "authorization_required" | "authorized" | "expired";
  expiresAt: number | null;
  refreshable: boolean;
  scope: string | null;
  issuer: string | null;
  clientId: string | null;
};

/** `handleCallback`'s result. In a popup (`popup: true`) the opener has completed the flow
 *  and the window closes: `serverUrl` and `status` are the flow's, as the opener finished it.
 *  After a full-page redirect (`popup: false`) this page completed it: go to `returnTo`. */
export type CallbackResult = { serverUrl: string; returnTo: string | null; popup: boolean; status: Status };

/** `detail`: the URL the step requests (for `authorization`, the whole authorization URL the
 *  popup or page opens), or for `step_up` the scope it asks for; never a secret. */
export type FlowStep =
  | "probe" | "resource_metadata" | "authorization_server_metadata" | "registration"
  | "authorization" | "popup_detached" | "token" | "refresh" | "step_up" | "revocation";

export type McpAuthEvent =
  | { type: "status"; status: Status }
  | { type: "step"; serverUrl: string; step: FlowStep; detail: string }
  | { type: "warning"; serverUrl?: string; code: "corrupt_record" | "storage_unavailable" | "not_revoked"; message: string };
"#;

/// The error codes' union, from `ErrorCode`'s one list.
#[wasm_bindgen(typescript_custom_section)]
const TS_ERROR_CODES: &'static str = crate::core::error::ErrorCode::TS_UNION;
