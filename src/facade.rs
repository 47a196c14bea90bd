//! The `wasm-bindgen` façade: the JS contract of `shared/spec/js-api.md` mapped onto the flows.
//! JS values in (serde-wasm-bindgen), a `ServerUrl` parsed once per call, flow results out as
//! the contract's plain objects, `McpAuthError` back. Nothing clever lives here.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{AbortSignal, Request, RequestInit, Window};

use crate::browser::env::BrowserEnv;
use crate::browser::fetch::BrowserHttp;
use crate::browser::locks::BrowserLock;
use crate::browser::popup::{self, BrowserHandOver, BrowserPopup};
use crate::browser::storage::BrowserStore;
use crate::browser::vault::BrowserVault;
use crate::browser::{js_message, to_js, window};
use crate::core::authorize::{parse_callback_url, return_path, stored_return_path};
use crate::core::dpop::DpopMode;
use crate::core::error::{ErrorCode, McpError};
use crate::core::resource::ServerUrl;
use crate::core::secret::ClientSecret;
use crate::flow::Env as _;
use crate::flow::Sent;
use crate::flow::engine::{AuthorizeOptions, Begin, Config, Engine, PreregisteredClient};
use crate::flow::records::{Status, Warning};
use crate::flow::window::CallbackPage;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
export type McpAuthErrorCode =
  | "invalid_input" | "insecure_url" | "network" | "server_error" | "invalid_response"
  | "resource_mismatch" | "issuer_mismatch" | "pkce_unsupported" | "client_registration_required"
  | "registration_failed" | "popup_blocked" | "popup_closed" | "timeout" | "cancelled"
  | "state_mismatch" | "authorization_failed" | "authorization_required" | "insufficient_scope"
  | "revocation_failed" | "storage_unavailable";

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

type BrowserEngine = Engine<BrowserHttp, BrowserStore, BrowserEnv, BrowserLock, BrowserVault>;

/// `McpError` → a JS `Error` named `McpAuthError`, with the contract's properties
/// (`code`, `status`, `oauthError`, `description`, `serverUrl`) copied onto it.
fn to_js_error(e: McpError) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("McpAuthError");
    if let Ok(props) = to_js(&e) {
        Object::assign(&err, &props.unchecked_into());
    }
    err.into()
}

fn invalid(msg: impl Into<String>) -> McpError {
    McpError::new(ErrorCode::InvalidInput, msg)
}

/// `obj[key]`, `undefined` when `obj` is not an object.
fn get(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() {
        Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// One option, through serde-wasm-bindgen: absent or `null` is `None`; a value of the wrong
/// type is `invalid_input` naming the option and what it takes — never quoting the value,
/// which may be a secret (R31).
fn option<T: DeserializeOwned>(obj: &JsValue, key: &str, takes: &str) -> Result<Option<T>, McpError> {
    let v = get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    serde_wasm_bindgen::from_value(v)
        .map(Some)
        .map_err(|_| invalid(format!("option {key} must be {takes}")))
}

const STRING: &str = "a string";

/// R38: the options `new McpAuth` reads; any other is refused, so that a typo in a security
/// option (`ofllineAccess`, `dpopp`) cannot pass silently.
const MCP_AUTH_OPTIONS: &[&str] = &[
    "redirectUri",
    "clientName",
    "clientMetadataUrl",
    "clients",
    "storage",
    "storageKeyPrefix",
    "refreshSkewSeconds",
    "popupTimeoutSeconds",
    "allowMissingPkceMetadata",
    "offlineAccess",
    "dpop",
    "fetch",
];
const AUTHORIZE_OPTIONS: &[&str] = &["mode", "scope", "clientId", "clientSecret", "returnTo", "signal"];
const CLIENT_OPTIONS: &[&str] = &["clientId", "clientSecret"];

/// `invalid_input` naming the first own key of `obj` that is not in `known` (its name only:
/// names are the app's, values may be secrets).
fn refuse_unknown(obj: &JsValue, known: &[&str], what: &str) -> Result<(), McpError> {
    if !obj.is_object() {
        return Ok(());
    }
    match Object::keys(obj.unchecked_ref::<Object>())
        .iter()
        .filter_map(|k| k.as_string())
        .find(|k| !known.contains(&k.as_str()))
    {
        Some(k) => Err(invalid(format!(
            "{what}: unknown option {k:?} (known: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A server URL as it enters the library, parsed once (R8, R15). A host the `url` crate's
/// ASCII-only IDNA cannot map goes through the browser's own `URL` first, which turns it
/// into punycode exactly as `fetch` will.
fn server_url(input: &str) -> Result<ServerUrl, McpError> {
    let href = match input.is_ascii() {
        true => None,
        false => web_sys::Url::new(input).ok().map(|u| u.href()),
    };
    crate::core::discovery::parse_server_url(input, href.as_deref().unwrap_or(input))
        .map_err(|e| McpError::from(e).with_server(input))
}

/// `input` resolved against the page's address, as `new URL(input, location.href)` would.
fn page_url(window: &Window, input: &str) -> Result<url::Url, McpError> {
    let base = window.location().href().map_err(|_| invalid("no page URL"))?;
    url::Url::parse(&base)
        .and_then(|b| b.join(input))
        .map_err(|_| invalid("not a URL"))
}

/// `ServerInfo` as JS sees it: the metadata documents as `JSON.parse` gives them.
fn server_info_js(info: &crate::flow::records::ServerInfo) -> Result<JsValue, McpError> {
    let obj = to_js(info)?;
    for (key, doc) in [
        ("resourceMetadata", info.resource_metadata),
        ("authorizationServerMetadata", info.authorization_server_metadata),
    ] {
        if let Some(doc) = doc {
            let value = js_sys::JSON::parse(&doc.to_string())
                .map_err(|_| invalid("a metadata document cannot be handed to JS"))?;
            Reflect::set(&obj, &JsValue::from_str(key), &value)
                .map_err(|_| invalid("a metadata document cannot be handed to JS"))?;
        }
    }
    Ok(obj)
}

/// Runs `f` as a `Promise`: its value resolves it, its error rejects it as an `McpAuthError`.
/// Boxed, so that the promise machinery is in the module once rather than once per method.
fn promise(f: impl Future<Output = Result<JsValue, McpError>> + 'static) -> Promise {
    run_boxed(Box::pin(f))
}

fn run_boxed(f: Pin<Box<dyn Future<Output = Result<JsValue, McpError>>>>) -> Promise {
    future_to_promise(async move { f.await.map_err(to_js_error) })
}

fn reject(e: McpError) -> Promise {
    Promise::reject(&to_js_error(e))
}

thread_local! {
    /// R35: the callbacks this document handled, by URL, with their promises.
    static CALLBACKS: std::cell::RefCell<BTreeMap<String, Promise>> = Default::default();
    /// The page's in-memory token copies, one map per storage (kind and key prefix): instances
    /// on the same storage share it, so a write by one is seen by the others at once (`storage`
    /// events reach only other documents).
    static TOKEN_CACHES: std::cell::RefCell<BTreeMap<String, crate::flow::engine::TokenCache>> = Default::default();
}

fn shared_token_cache(store: &BrowserStore, prefix: &str) -> crate::flow::engine::TokenCache {
    let kind = match store {
        BrowserStore::Local => "local",
        BrowserStore::Session => "session",
        // a memory store is the instance's own
        BrowserStore::Memory(_) => return Default::default(),
    };
    TOKEN_CACHES.with(|c| c.borrow_mut().entry(format!("{kind}|{prefix}")).or_default().clone())
}

struct Inner {
    engine: BrowserEngine,
    popup_timeout_ms: f64,
}

/// The OAuth client for MCP servers. One per page is enough.
#[wasm_bindgen]
pub struct McpAuth {
    inner: Rc<Inner>,
    _storage_listener: Option<popup::Listener>,
}

/// A `clients` entry (pre-registered, keyed by issuer).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientOption {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

fn parse_options(options: &JsValue, env: &BrowserEnv) -> Result<(Config, BrowserStore, BrowserHttp, f64), McpError> {
    if !options.is_object() {
        return Err(invalid(
            "new McpAuth(options): options must be an object with redirectUri",
        ));
    }
    refuse_unknown(options, MCP_AUTH_OPTIONS, "new McpAuth(options)")?;
    let clients_value = get(options, "clients");
    if clients_value.is_object() {
        for entry in Object::values(clients_value.unchecked_ref::<Object>()).iter() {
            refuse_unknown(&entry, CLIENT_OPTIONS, "new McpAuth(options): a clients entry")?;
        }
    }
    let window = window()?;
    let origin = window.location().origin().map_err(|_| invalid("no page origin"))?;
    let redirect_uri: String = option(options, "redirectUri", STRING)?
        .ok_or_else(|| invalid("new McpAuth(options): redirectUri is required"))?;
    // sent exactly as the app wrote it (servers compare redirect URIs as strings), once checked
    let redirect = url::Url::parse(&redirect_uri).map_err(|_| invalid("option redirectUri must be an absolute URL"))?;
    if redirect.origin().ascii_serialization() != origin {
        return Err(invalid("option redirectUri must be on the page's own origin"));
    }
    if redirect.fragment().is_some() {
        return Err(invalid("option redirectUri must not have a fragment (RFC 6749 §3.1.2)"));
    }
    let client_name = match option(options, "clientName", STRING)? {
        Some(n) => n,
        None => window
            .document()
            .map(|d| d.title())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| origin.clone()),
    };
    let clients: BTreeMap<String, ClientOption> =
        option(options, "clients", "an object of { clientId, clientSecret? } by issuer")?.unwrap_or_default();
    let fetch_fn = match get(options, "fetch") {
        v if v.is_undefined() || v.is_null() => None,
        v => Some(
            v.dyn_into::<Function>()
                .map_err(|_| invalid("option fetch must be a function"))?,
        ),
    };
    let storage: Option<String> = option(options, "storage", STRING)?;
    // R25: a storage that is disabled or unavailable falls back to memory, and says so once
    let store = match BrowserStore::open(storage.as_deref().unwrap_or("local")) {
        Err(e) if e.code == ErrorCode::StorageUnavailable => {
            env.warning(
                None,
                Warning::StorageUnavailable,
                &format!("{}: the page's memory is used instead", e.message),
            );
            BrowserStore::Memory(Default::default())
        }
        other => other?,
    };
    let seconds = |key: &str, default: f64| -> Result<f64, McpError> {
        match option::<f64>(options, key, "a non-negative number")? {
            Some(s) if s.is_finite() && s >= 0.0 => Ok(s),
            Some(_) => Err(invalid(format!("option {key} must be a non-negative number"))),
            None => Ok(default),
        }
    };
    let config = Config {
        redirect_uri,
        client_name,
        client_metadata_url: option(options, "clientMetadataUrl", STRING)?,
        clients: clients
            .into_iter()
            .map(|(issuer, c)| PreregisteredClient {
                issuer,
                client_id: c.client_id,
                client_secret: c.client_secret.map(ClientSecret::new),
            })
            .collect(),
        prefix: option(options, "storageKeyPrefix", STRING)?.unwrap_or_else(|| "mcp-oauth".into()),
        refresh_skew_ms: (seconds("refreshSkewSeconds", 60.0)? * 1000.0) as u64,
        allow_missing_pkce: option(options, "allowMissingPkceMetadata", "a boolean")?.unwrap_or(false),
        offline_access: option(options, "offlineAccess", "a boolean")?.unwrap_or(false),
        dpop: match option::<String>(options, "dpop", STRING)? {
            None => DpopMode::Auto,
            Some(v) => {
                DpopMode::parse(&v).ok_or_else(|| invalid("option dpop must be \"auto\", \"always\" or \"never\""))?
            }
        },
    };
    let timeout = seconds("popupTimeoutSeconds", 300.0)? * 1000.0;
    Ok((config, store, BrowserHttp { fetch_fn }, timeout))
}

/// `authorize`'s `mode` (R21, R24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The popup, or a full-page redirect when the browser blocks it.
    Auto,
    Popup,
    Redirect,
}

/// `authorize(url, opts)`'s options: the mode, what reaches the flow, and the abort signal.
fn parse_authorize_options(
    window: &Window,
    opts: &JsValue,
) -> Result<(Mode, AuthorizeOptions, Option<AbortSignal>), McpError> {
    refuse_unknown(opts, AUTHORIZE_OPTIONS, "authorize(serverUrl, opts)")?;
    let mode = match option::<String>(opts, "mode", STRING)?.as_deref() {
        None | Some("auto") => Mode::Auto,
        Some("popup") => Mode::Popup,
        Some("redirect") => Mode::Redirect,
        Some(_) => return Err(invalid("option mode must be \"auto\", \"popup\" or \"redirect\"")),
    };
    // R24: `returnTo` on the page's own origin, kept as its path, query and fragment
    let return_to = match option::<String>(opts, "returnTo", STRING)? {
        None => None,
        Some(r) => Some(return_path(&page_url(window, "/")?, &page_url(window, &r)?)?),
    };
    let options = AuthorizeOptions {
        scope: option(opts, "scope", STRING)?,
        client_id: option(opts, "clientId", STRING)?,
        client_secret: option::<String>(opts, "clientSecret", STRING)?.map(ClientSecret::new),
        return_to,
        popup: false,
    };
    let signal = match get(opts, "signal") {
        v if v.is_undefined() || v.is_null() => None,
        v => Some(
            v.dyn_into::<AbortSignal>()
                .map_err(|_| invalid("option signal must be an AbortSignal"))?,
        ),
    };
    Ok((mode, options, signal))
}

/// R24: the page's own location, to come back to after a full-page redirect (never a path
/// that reads as protocol-relative, even for a page whose path starts with `//`).
fn current_location(window: &Window) -> Option<String> {
    let here = url::Url::parse(&window.location().href().ok()?).ok()?;
    return_path(&here, &here).ok()
}

#[wasm_bindgen]
impl McpAuth {
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "McpAuthOptions")] options: JsValue) -> Result<McpAuth, JsValue> {
        let env = BrowserEnv::default();
        let (config, store, http, popup_timeout_ms) = parse_options(&options, &env).map_err(to_js_error)?;
        // R33: refresh tokens in IndexedDB, encrypted, beside localStorage records; with session
        // or memory storage they live as long as the page does
        let vault = match (&store, web_sys::window().and_then(|w| w.indexed_db().ok().flatten())) {
            (BrowserStore::Local, Some(_)) => BrowserVault::IndexedDb(config.prefix.clone()),
            (BrowserStore::Session, Some(_)) => BrowserVault::Session(config.prefix.clone()),
            _ => BrowserVault::Memory(Default::default()),
        };
        // R24, R33: a full-page redirect's flow waits in this tab's sessionStorage
        let redirect_flows = match &store {
            BrowserStore::Memory(_) => BrowserStore::Memory(Default::default()),
            _ => BrowserStore::open("session").unwrap_or_else(|_| BrowserStore::Memory(Default::default())),
        };
        let token_cache = shared_token_cache(&store, &config.prefix);
        let engine = Engine {
            http,
            store,
            env,
            lock: BrowserLock,
            vault,
            redirect_flows,
            config,
            popup_flows: Default::default(),
            dpop_nonces: Default::default(),
            token_cache,
        };
        let inner = Rc::new(Inner {
            engine,
            popup_timeout_ms,
        });
        // R33: secrets an earlier release kept in plain storage move to the vault
        let migrating = inner.clone();
        wasm_bindgen_futures::spawn_local(async move { migrating.engine.migrate().await });
        // R30: status events in every tab — another tab's writes arrive as `storage` events
        let weak = Rc::downgrade(&inner);
        let listener = window().ok().and_then(|w| {
            popup::Listener::new(&w, "storage", move |ev: JsValue| {
                let Some(inner) = weak.upgrade() else { return };
                // another tab wrote: the in-memory tokens give way to what it stored
                let Some(key) = get(&ev, "key").as_string() else {
                    return inner.engine.uncache_all();
                };
                if let Some(server) = key.strip_prefix(&inner.engine.server_key("")) {
                    inner.engine.uncache(server);
                    if let Ok(server) = ServerUrl::parse(server) {
                        inner.engine.env.status_changed(&inner.engine.status(&server));
                    }
                }
            })
        });
        Ok(McpAuth {
            inner,
            _storage_listener: listener,
        })
    }

    /// R1–R11: probe, metadata and the client-identity decision; cached.
    #[wasm_bindgen(unchecked_return_type = "Promise<ServerInfo>")]
    pub fn discover(&self, #[wasm_bindgen(js_name = serverUrl)] server_url: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let server = self::server_url(&server_url)?;
            let rec = inner.engine.discover(&server).await?;
            server_info_js(&inner.engine.server_info(&rec))
        })
    }

    /// The interactive flow (R14–R24). Call it synchronously from a click handler: the popup
    /// is opened before anything is awaited.
    #[wasm_bindgen(unchecked_return_type = "Promise<Status>")]
    pub fn authorize(
        &self,
        #[wasm_bindgen(js_name = serverUrl)] server_url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "AuthorizeOptions")] opts: Option<JsValue>,
    ) -> Promise {
        let parsed = window().and_then(|w| {
            let server = self::server_url(&server_url)?;
            Ok((
                server,
                parse_authorize_options(&w, &opts.unwrap_or(JsValue::UNDEFINED))?,
            ))
        });
        let (server, (mode, mut options, signal)) = match parsed {
            Ok(p) => p,
            Err(e) => return reject(e.with_server(&server_url)),
        };
        // R25: a full-page redirect loses the page's memory, and with it a memory store's flow
        let in_memory = matches!(self.inner.engine.store, BrowserStore::Memory(_));
        if in_memory && mode == Mode::Redirect {
            return reject(
                invalid("mode \"redirect\" needs storage \"local\" or \"session\"").with_server(server.as_str()),
            );
        }
        // R21: the popup opens here, synchronously, inside the click
        let popup = match mode {
            Mode::Redirect => None,
            _ => popup::open_blank(&format!("{}:{server}", self.inner.engine.config.prefix)),
        };
        if popup.is_none() && (mode == Mode::Popup || in_memory) {
            return reject(
                McpError::new(ErrorCode::PopupBlocked, "the browser blocked the sign-in popup")
                    .with_server(server.as_str()),
            );
        }
        options.popup = popup.is_some();
        if options.return_to.is_none() && popup.is_none() {
            options.return_to = window().ok().and_then(|w| current_location(&w));
        }
        let inner = self.inner.clone();
        let popup = popup.map(|w| BrowserPopup::new(w, signal, inner.popup_timeout_ms));
        promise(async move {
            let result = run_authorize(&inner, &server, popup.as_ref(), options).await;
            if result.is_err()
                && let Some(p) = &popup
            {
                p.window.close().ok();
            }
            result
                .and_then(|s| to_js(&s))
                .map_err(|e| e.with_server(server.as_str()))
        })
    }

    /// Completes the flow on the redirect page (R17–R24).
    #[wasm_bindgen(js_name = handleCallback, unchecked_return_type = "Promise<CallbackResult>")]
    pub fn handle_callback(&self, url: Option<String>) -> Promise {
        // a relative URL (`?code=…&state=…`) is read against the page's address
        let resolved = window().and_then(|w| Ok((page_url(&w, url.as_deref().unwrap_or_default())?, w)));
        let (url, window) = match resolved {
            Ok(r) => r,
            Err(e) => return reject(e),
        };
        // R35: the same callback twice in a document (React StrictMode runs effects twice) makes
        // one exchange; every call settles with its result
        if let Some(running) = CALLBACKS.with(|c| c.borrow().get(url.as_str()).cloned()) {
            return running;
        }
        let inner = self.inner.clone();
        let key = url.to_string();
        let running = promise(async move { to_js(&handle_callback(&inner, &window, url.as_str()).await?) });
        CALLBACKS.with(|c| c.borrow_mut().insert(key, running.clone()));
        running
    }

    /// A valid access token, refreshed first when needed (R26, R27).
    #[wasm_bindgen(js_name = getAccessToken, unchecked_return_type = "Promise<string>")]
    pub fn get_access_token(&self, #[wasm_bindgen(js_name = serverUrl)] server_url: String) -> Promise {
        // a fresh token kept in memory, asked for by its canonical URL: no parse, no storage
        if let Some(token) = self.inner.engine.fresh_cached_token(&server_url) {
            return Promise::resolve(&JsValue::from_str(token.secret()));
        }
        let inner = self.inner.clone();
        promise(async move {
            let token = inner.engine.access_token(&self::server_url(&server_url)?).await?;
            Ok(JsValue::from_str(token.secret()))
        })
    }

    /// `fetch` with the bearer token (R28); `input` defaults to `serverUrl`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(js_name = serverUrl)] server_url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestInfo | URL")] input: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestInit")] init: Option<JsValue>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move { authorized_fetch(&inner, &server_url, input, init).await })
    }

    /// `fetch` bound to one server (R37): the `fetch` option of the MCP TypeScript SDK's
    /// `StreamableHTTPClientTransport`, so an SDK `Client` gets this library's tokens, refresh
    /// and step-up underneath.
    #[wasm_bindgen(js_name = fetchFor, unchecked_return_type = "(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>")]
    pub fn fetch_for(&self, #[wasm_bindgen(js_name = serverUrl)] server_url: String) -> JsValue {
        let inner = self.inner.clone();
        Closure::<dyn FnMut(JsValue, JsValue) -> Promise>::new(move |input: JsValue, init: JsValue| {
            let (inner, server_url) = (inner.clone(), server_url.clone());
            let init = (!init.is_undefined() && !init.is_null()).then_some(init);
            promise(async move { authorized_fetch(&inner, &server_url, Some(input), init).await })
        })
        .into_js_value()
    }

    /// R30: the stored status, synchronously.
    #[wasm_bindgen(unchecked_return_type = "Status")]
    pub fn status(&self, #[wasm_bindgen(js_name = serverUrl)] server_url: String) -> Result<JsValue, JsValue> {
        let status = match self::server_url(&server_url) {
            Ok(server) => self.inner.engine.status(&server),
            Err(_) => Status::unknown(&server_url),
        };
        to_js(&status).map_err(to_js_error)
    }

    /// Every server this origin has state for.
    #[wasm_bindgen(unchecked_return_type = "Status[]")]
    pub fn list(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.engine.list()).map_err(to_js_error)
    }

    /// R29: revoke at the authorization server, then drop the tokens here (the registration
    /// and metadata stay).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn revoke(
        &self,
        #[wasm_bindgen(js_name = serverUrl)] server_url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "RevokeOptions")] opts: Option<JsValue>,
    ) -> Promise {
        let inner = self.inner.clone();
        let opts = opts.unwrap_or(JsValue::UNDEFINED);
        let force = refuse_unknown(&opts, &["force"], "revoke(serverUrl, opts)")
            .and_then(|()| option::<bool>(&opts, "force", "a boolean"));
        promise(async move {
            inner
                .engine
                .revoke(&self::server_url(&server_url)?, force?.unwrap_or(false))
                .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Removes local state for a server without contacting anyone (a URL that does not parse
    /// has no state to remove).
    pub fn forget(&self, #[wasm_bindgen(js_name = serverUrl)] server_url: String) {
        if let Ok(server) = self::server_url(&server_url) {
            let dropped = self.inner.engine.forget(&server);
            let inner = self.inner.clone();
            wasm_bindgen_futures::spawn_local(
                async move { inner.engine.forget_secrets(&server, dropped.as_deref()).await },
            );
        }
    }

    /// Listens to `status` and `step` events; returns the unsubscribe function.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: McpAuthEvent) => void")] listener: Function,
    ) -> JsValue {
        let env = self.inner.engine.env.clone();
        let id = env.subscribe(listener);
        Closure::<dyn FnMut()>::new(move || env.unsubscribe(id)).into_js_value()
    }
}

/// `authorize` after the click: in the popup the flow runs in the engine; a full-page redirect
/// navigates away (the promise never settles).
async fn run_authorize(
    inner: &Inner,
    server: &ServerUrl,
    popup: Option<&BrowserPopup>,
    options: AuthorizeOptions,
) -> Result<Status, McpError> {
    let engine = &inner.engine;
    if let Some(popup) = popup {
        return engine.authorize_in_popup(server, popup, options).await;
    }
    match engine.begin_authorization(server, options).await? {
        Begin::NotNeeded(status) => Ok(status),
        Begin::Navigate { url, .. } => {
            window()?
                .location()
                .assign(url.as_str())
                .map_err(|e| invalid(js_message(&e)))?;
            std::future::pending().await
        }
    }
}

/// The contract's `CallbackResult`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct CallbackResult {
    server_url: String,
    return_to: Option<String>,
    /// The opener completed the flow (this page is its popup, and closes): nothing to navigate.
    popup: bool,
    /// The contract's `Status`, as the opener announced it to a popup or as this page made it.
    status: serde_json::Value,
}

async fn handle_callback(inner: &Inner, window: &Window, url: &str) -> Result<CallbackResult, McpError> {
    // R24: code, state and iss leave the address bar as soon as the flow is known: the page
    // becomes the redirect URI the flow registered (the server appended its parameters to it)
    let clean = |redirect_uri: Option<&str>| {
        let clean = redirect_uri
            .map(str::to_string)
            .or_else(|| window.location().pathname().ok());
        if let (Ok(h), Some(clean)) = (window.history(), clean) {
            let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&clean));
        }
    };
    let page = inner
        .engine
        .callback_page(parse_callback_url(url), &BrowserHandOver(window.clone()), clean)
        .await?;
    Ok(match page {
        CallbackPage::Popup { server_url, status } => CallbackResult {
            server_url,
            return_to: None,
            popup: true,
            status,
        },
        CallbackPage::FullPage { flow, status } => CallbackResult {
            // R24: checked again where it is used: what sessionStorage hands back (an older
            // release's record included) never leaves the origin
            return_to: flow
                .return_to
                .as_deref()
                .and_then(|r| stored_return_path(&url::Url::parse(url).ok()?, r)),
            server_url: flow.server_url,
            popup: false,
            status: serde_json::to_value(&status)
                .map_err(|e| McpError::new(ErrorCode::InvalidResponse, e.to_string()))?,
        },
    })
}

/// R28: the app's request as a `Request`, sent by the flow's `authorized_fetch`, which
/// decides about the token, the refresh and the retry.
async fn authorized_fetch(
    inner: &Inner,
    server_url: &str,
    input: Option<JsValue>,
    init: Option<JsValue>,
) -> Result<JsValue, McpError> {
    let engine = &inner.engine;
    let server = self::server_url(server_url)?;
    let init: RequestInit = match init {
        Some(i) if i.is_object() => i.unchecked_into(),
        _ => RequestInit::new(),
    };
    // the request, and the URL it was given as when it was not a `Request`
    let (request, given_url) = match &input {
        Some(v) if v.is_instance_of::<Request>() => {
            (Request::new_with_request_and_init(v.unchecked_ref(), &init), None)
        }
        // a string or a `URL` (its `toString()` is its href)
        Some(v) if !v.is_undefined() && !v.is_null() => {
            let url = String::from(v.unchecked_ref::<js_sys::Object>().to_string());
            (Request::new_with_str_and_init(&url, &init), Some(url))
        }
        _ => (
            Request::new_with_str_and_init(server.as_str(), &init),
            Some(server.as_str().to_string()),
        ),
    };
    let request = request.map_err(|e| invalid(js_message(&e)))?;
    // a body given as a string (JSON-RPC, a form) is sent as it is by every attempt, built from
    // the URL and `init` again; any other (a stream, a Request's) goes through `Request.clone()`,
    // whose body is a stream
    let plain_body = js_sys::Reflect::get(&init, &JsValue::from_str("body"))
        .is_ok_and(|b| b.is_undefined() || b.is_null() || b.is_string());
    let rebuild_from = given_url.filter(|_| plain_body);
    let send = |credentials: Option<crate::flow::Credentials>| {
        // every send takes its own copy: a body can be read once
        let copy = match &rebuild_from {
            Some(url) => Request::new_with_str_and_init(url, &init),
            None => request.clone(),
        }
        .map_err(|e| invalid(js_message(&e)));
        async move {
            let req = copy?;
            if let Some(c) = credentials {
                // a fixed message: the browser's own names the header value, i.e. the token (R31)
                let refused = |_| invalid("the access token cannot be sent as a header");
                req.headers()
                    .set("authorization", &format!("{} {}", c.scheme, c.token.secret()))
                    .map_err(refused)?;
                if let Some(proof) = &c.proof {
                    req.headers().set("dpop", proof).map_err(refused)?;
                }
            }
            let resp = engine.http.fetch_request(&req).await?;
            let header = |name| resp.headers().get(name).ok().flatten();
            // R28, R34: where the answer came from, after redirects (the flow decides what it means)
            let final_url = Some(resp.url()).filter(|u| !u.is_empty());
            Ok(Sent {
                status: resp.status(),
                www_authenticate: header("www-authenticate"),
                dpop_nonce: header("dpop-nonce"),
                final_url,
                response: JsValue::from(resp),
            })
        }
    };
    // R28: step-up while the click that started this call still counts as one: the popup asks
    // for the union of the scopes, then the request goes again
    let step_up = |scope: Option<String>| {
        let popup = match popup::user_activation() {
            true => popup::open_blank(&format!("{}:{server}", engine.config.prefix)),
            false => None,
        };
        let server = &server;
        async move {
            let Some(window) = popup else { return Ok(false) };
            let options = AuthorizeOptions {
                scope,
                popup: true,
                ..Default::default()
            };
            let popup = BrowserPopup::new(window, None, inner.popup_timeout_ms);
            let stepped = run_authorize(inner, server, Some(&popup), options).await;
            if stepped.is_err() {
                popup.window.close().ok();
            }
            stepped.map(|_| true)
        }
    };
    engine
        .fetch_with_step_up(&server, &request.method(), &request.url(), send, step_up)
        .await
}
