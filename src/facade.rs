//! The `wasm-bindgen` façade: the JS contract of `shared/spec/js-api.md` mapped onto the flows.
//! JS values in, core types out, `McpAuthError` back. Nothing clever lives here.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::rc::Rc;
use core::pin::Pin;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, Request, RequestInit, Window};

use crate::browser::env::{BrowserEnv, json_to_js};
use crate::browser::fetch::BrowserHttp;
use crate::browser::popup::{self, Watch};
use crate::browser::storage::BrowserStore;
use crate::browser::{js_message, window};
use crate::core::error::{ErrorCode, McpError};
use crate::core::json::{Json, Record, obj};
use crate::core::secret::ClientSecret;
use crate::core::url::Url;
use crate::flow::Store as _;
use crate::flow::engine::{AuthorizeOptions, Begin, Config, Engine, PreregisteredClient};
use crate::flow::records::{FlowResult, Status};

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

export type CallbackResult = { serverUrl: string; returnTo: string | null; status: Status };

export type FlowStep =
  | "probe" | "resource_metadata" | "authorization_server_metadata" | "registration"
  | "authorization" | "popup_detached" | "token" | "refresh" | "revocation";

export type McpAuthEvent =
  | { type: "status"; status: Status }
  | { type: "step"; serverUrl: string; step: FlowStep; detail: string };
"#;

type BrowserEngine = Engine<BrowserHttp, BrowserStore, BrowserEnv>;

/// `McpError` → a JS `Error` named `McpAuthError`, with the contract's properties
/// (`code`, `status`, `oauthError`, `description`, `serverUrl`) copied onto it.
fn to_js(e: McpError) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("McpAuthError");
    Object::assign(&err, &to_js_json(&e.to_json()).unchecked_into()).into()
}

fn invalid(msg: &str) -> McpError {
    McpError::new(ErrorCode::InvalidInput, msg)
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() { Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED) } else { JsValue::UNDEFINED }
}

/// The plain-data part of an options object, as JSON: one `JSON.stringify` instead of a
/// `Reflect.get` and a type check per option (less wasm). Functions and `AbortSignal`s are
/// read with [`get`] on their own.
fn options_json(obj: &JsValue) -> Json {
    let text = if obj.is_object() { js_sys::JSON::stringify(obj).ok().and_then(|s| s.as_string()) } else { None };
    text.and_then(|t| Json::parse(&t)).unwrap_or(Json::Obj(Vec::new()))
}

/// A string option: absent or `null` is `None`, anything but a string is `invalid_input`.
fn opt_str(o: &Json, key: &str) -> Result<Option<String>, McpError> {
    match o.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(&cat!("option ", key, " must be a string"))),
    }
}

fn opt_num(o: &Json, key: &str, default: f64) -> Result<f64, McpError> {
    match o.get(key) {
        None | Some(Json::Null) => Ok(default),
        Some(v) => v.as_f64().filter(|n| *n >= 0.0).ok_or_else(|| invalid(&cat!("option ", key, " must be a non-negative number"))),
    }
}

fn to_js_json(v: &Json) -> JsValue {
    json_to_js(&v.text())
}

fn reject(e: McpError) -> Promise {
    Promise::reject(&to_js(e))
}

/// Every method's future goes through here boxed, so the task code is in the module once
/// instead of once per future type (size).
fn spawn(f: Pin<Box<dyn Future<Output = Result<JsValue, McpError>>>>) -> Promise {
    crate::browser::task::spawn(Box::pin(async move { f.await.map_err(to_js) }))
}

fn promise(f: Pin<Box<dyn Future<Output = Result<Json, McpError>>>>) -> Promise {
    spawn(Box::pin(async move { f.await.map(|v| to_js_json(&v)) }))
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

fn parse_options(options: &JsValue) -> Result<(Config, BrowserStore, BrowserHttp, f64), McpError> {
    let o = options_json(options);
    let window = window()?;
    let origin = window.location().origin().map_err(|_| invalid("no page origin"))?;
    let redirect_uri = opt_str(&o, "redirectUri")?.ok_or_else(|| invalid("new McpAuth(options): redirectUri is required"))?;
    let redirect = Url::parse(&redirect_uri).map_err(|_| invalid("redirectUri must be an absolute URL"))?;
    if redirect.origin() != origin {
        return Err(invalid("redirectUri must be on the page's own origin"));
    }
    let client_name = match opt_str(&o, "clientName")? {
        Some(n) => n,
        None => window.document().map(|d| d.title()).filter(|t| !t.is_empty()).unwrap_or_else(|| origin.clone()),
    };
    let mut clients = Vec::new();
    if let Some(Json::Obj(list)) = o.get("clients") {
        for (issuer, c) in list {
            let client_id = opt_str(c, "clientId")?.ok_or_else(|| invalid("clients[issuer].clientId is required"))?;
            clients.push(PreregisteredClient { issuer: issuer.clone(), client_id, client_secret: opt_str(c, "clientSecret")?.map(ClientSecret::new) });
        }
    }
    let fetch_fn = match get(options, "fetch") {
        v if v.is_undefined() || v.is_null() => None,
        v => Some(v.dyn_into::<Function>().map_err(|_| invalid("option fetch must be a function"))?),
    };
    let storage = BrowserStore::open(opt_str(&o, "storage")?.as_deref().unwrap_or("local"))?;
    let config = Config {
        redirect_uri: redirect.href(),
        client_name,
        client_metadata_url: opt_str(&o, "clientMetadataUrl")?,
        clients,
        prefix: opt_str(&o, "storageKeyPrefix")?.unwrap_or_else(|| "mcp-oauth".into()),
        refresh_skew_ms: (opt_num(&o, "refreshSkewSeconds", 60.0)? * 1000.0) as u64,
        allow_missing_pkce: o.flag("allowMissingPkceMetadata"),
    };
    let timeout = opt_num(&o, "popupTimeoutSeconds", 300.0)? * 1000.0;
    Ok((config, storage, BrowserHttp { fetch_fn }, timeout))
}

/// R24: the page's own location, to come back to after a full-page redirect.
fn current_location(window: &Window) -> Option<String> {
    let l = window.location();
    Some(cat!(l.pathname().ok()?, l.search().ok()?, l.hash().ok()?))
}

#[wasm_bindgen]
impl McpAuth {
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "McpAuthOptions")] options: JsValue) -> Result<McpAuth, JsValue> {
        let (config, store, http, popup_timeout_ms) = parse_options(&options).map_err(to_js)?;
        let inner = Rc::new(Inner { engine: Engine { http, store, env: BrowserEnv::default(), config }, popup_timeout_ms });
        // R30: status events in every tab — another tab's writes arrive as `storage` events
        let weak = Rc::downgrade(&inner);
        let listener = window().ok().and_then(|w| {
            popup::Listener::new(&w, "storage", move |ev: JsValue| {
                let (Some(inner), Some(key)) = (weak.upgrade(), get(&ev, "key").as_string()) else { return };
                if let Some(server) = key.strip_prefix(&inner.engine.server_key("")) {
                    let status = inner.engine.status(server);
                    crate::flow::Env::status_changed(&inner.engine.env, &status);
                }
            })
        });
        Ok(McpAuth { inner, _storage_listener: listener })
    }

    /// R1–R11: probe, metadata and the client-identity decision; cached.
    #[wasm_bindgen(unchecked_return_type = "Promise<ServerInfo>")]
    pub fn discover(&self, #[wasm_bindgen(js_name = serverUrl)] server_url: String) -> Promise {
        let inner = self.inner.clone();
        promise(Box::pin(async move {
            let rec = inner.engine.discover(&server_url).await?;
            Ok(inner.engine.server_info(&rec))
        }))
    }

    /// The interactive flow (R14–R24). Call it synchronously from a click handler: the popup
    /// is opened before anything is awaited.
    #[wasm_bindgen(unchecked_return_type = "Promise<Status>")]
    pub fn authorize(
        &self,
        #[wasm_bindgen(js_name = serverUrl)] server_url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "AuthorizeOptions")] opts: Option<JsValue>,
    ) -> Promise {
        let opts = opts.unwrap_or(JsValue::UNDEFINED);
        let o = options_json(&opts);
        let parsed = (|| -> Result<_, McpError> {
            let mode = opt_str(&o, "mode")?.unwrap_or_else(|| "auto".into());
            if !matches!(mode.as_str(), "auto" | "popup" | "redirect") {
                return Err(invalid("mode must be \"auto\", \"popup\" or \"redirect\""));
            }
            let server = Engine::<BrowserHttp, BrowserStore, BrowserEnv>::server_url(&server_url)?.href();
            let signal = get(&opts, "signal").dyn_into::<AbortSignal>().ok();
            let options = AuthorizeOptions {
                scope: opt_str(&o, "scope")?,
                client_id: opt_str(&o, "clientId")?,
                client_secret: opt_str(&o, "clientSecret")?.map(ClientSecret::new),
                return_to: opt_str(&o, "returnTo")?,
                popup: false,
            };
            Ok((mode, server, signal, options))
        })();
        let (mode, server, signal, mut options) = match parsed {
            Ok(p) => p,
            Err(e) => return reject(e.with_server(&server_url)),
        };
        // R21: the popup opens here, synchronously, inside the click
        let popup = if mode == "redirect" { None } else { popup::open_blank(&cat!(self.inner.engine.config.prefix, ":", server)) };
        if popup.is_none() && mode == "popup" {
            return reject(McpError::new(ErrorCode::PopupBlocked, "the browser blocked the sign-in popup").with_server(&server));
        }
        options.popup = popup.is_some();
        if options.return_to.is_none() && popup.is_none() {
            options.return_to = window().ok().and_then(|w| current_location(&w));
        }
        let inner = self.inner.clone();
        promise(Box::pin(async move {
            let result = run_authorize(&inner, &server, popup.as_ref(), signal, options).await.map(|s| s.to_json());
            if result.is_err()
                && let Some(p) = &popup
            {
                p.close().ok();
            }
            result.map_err(|e| e.with_server(&server))
        }))
    }

    /// Completes the flow on the redirect page (R17–R24).
    #[wasm_bindgen(js_name = handleCallback, unchecked_return_type = "Promise<CallbackResult>")]
    pub fn handle_callback(&self, url: Option<String>) -> Promise {
        let inner = self.inner.clone();
        promise(Box::pin(async move {
            let window = window()?;
            let url = match url {
                Some(u) => u,
                None => window.location().href().map_err(|_| invalid("no page URL"))?,
            };
            handle_callback(&inner, &window, &url).await.map(|r| r.to_json())
        }))
    }

    /// A valid access token, refreshed first when needed (R26, R27).
    #[wasm_bindgen(js_name = getAccessToken, unchecked_return_type = "Promise<string>")]
    pub fn get_access_token(&self, #[wasm_bindgen(js_name = serverUrl)] server_url: String) -> Promise {
        let inner = self.inner.clone();
        spawn(Box::pin(async move { Ok(JsValue::from_str(inner.engine.access_token(&server_url).await?.secret())) }))
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
        spawn(Box::pin(async move { authorized_fetch(&inner, &server_url, input, init).await }))
    }

    /// R30: the stored status, synchronously.
    #[wasm_bindgen(unchecked_return_type = "Status")]
    pub fn status(&self, #[wasm_bindgen(js_name = serverUrl)] server_url: String) -> JsValue {
        to_js_json(&self.inner.engine.status(&server_url).to_json())
    }

    /// Every server this origin has state for.
    #[wasm_bindgen(unchecked_return_type = "Status[]")]
    pub fn list(&self) -> JsValue {
        to_js_json(&Json::Arr(self.inner.engine.list().iter().map(Status::to_json).collect()))
    }

    /// R29: revoke at the authorization server, then forget locally.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn revoke(
        &self,
        #[wasm_bindgen(js_name = serverUrl)] server_url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "RevokeOptions")] opts: Option<JsValue>,
    ) -> Promise {
        let inner = self.inner.clone();
        let force = opts.map(|o| get(&o, "force").as_bool().unwrap_or(false)).unwrap_or(false);
        spawn(Box::pin(async move {
            inner.engine.revoke(&server_url, force).await?;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Removes local state for a server without contacting anyone.
    pub fn forget(&self, #[wasm_bindgen(js_name = serverUrl)] server_url: String) {
        self.inner.engine.forget(&server_url);
    }

    /// Listens to `status` and `step` events; returns the unsubscribe function.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(&self, #[wasm_bindgen(unchecked_param_type = "(event: McpAuthEvent) => void")] listener: Function) -> JsValue {
        let env = self.inner.engine.env.clone();
        let id = env.subscribe(listener);
        Closure::<dyn FnMut()>::new(move || env.unsubscribe(id)).into_js_value()
    }
}

async fn run_authorize(inner: &Inner, server: &str, popup: Option<&Window>, signal: Option<AbortSignal>, options: AuthorizeOptions) -> Result<Status, McpError> {
    let engine = &inner.engine;
    let (url, state) = match engine.begin_authorization(server, options).await? {
        Begin::NotNeeded(status) => {
            if let Some(p) = popup {
                p.close().ok();
            }
            return Ok(status);
        }
        Begin::Navigate { url, state } => (url, state),
    };
    let Some(popup) = popup else {
        // full-page redirect: the page navigates away and this promise never settles
        window()?.location().assign(&url).map_err(|e| invalid(&js_message(&e)))?;
        return core::future::pending().await;
    };
    if signal.as_ref().is_some_and(|s| s.aborted()) {
        engine.store.remove(&engine.flow_key(&state));
        return Err(McpError::new(ErrorCode::Cancelled, "the app cancelled the authorization"));
    }
    popup.location().set_href(&url).map_err(|e| McpError::new(ErrorCode::PopupClosed, js_message(&e)))?;
    let result_key = engine.result_key(&state);
    let read_stored = || popup::parse_result(engine.store.get(&result_key), &state);
    let on_detached = || crate::flow::Env::step(&engine.env, server, "popup_detached", "finish signing in in the popup");
    let outcome = popup::wait_for_result(Watch {
        popup,
        channel: &engine.flow_key(&state),
        state: &state,
        navigated_at: js_sys::Date::now(),
        timeout_ms: inner.popup_timeout_ms,
        signal,
        read_stored: &read_stored,
        on_detached: &on_detached,
    })
    .await;
    engine.store.remove(&result_key);
    if outcome.is_err() {
        engine.store.remove(&engine.flow_key(&state));
    }
    match outcome?.error {
        None => Ok(engine.status(server)),
        Some(e) => Err(e),
    }
}

struct CallbackResult {
    server_url: String,
    return_to: Option<String>,
    status: Status,
}

impl CallbackResult {
    fn to_json(&self) -> Json {
        obj([("serverUrl", (&self.server_url).into()), ("returnTo", self.return_to.as_ref().into()), ("status", self.status.to_json())])
    }
}

async fn handle_callback(inner: &Inner, window: &Window, url: &str) -> Result<CallbackResult, McpError> {
    let engine = &inner.engine;
    let (params, flow) = engine.take_flow(url);
    let state = params.state.clone();
    let outcome = engine.complete_callback(params, flow.as_ref()).await;
    // R24: code, state and iss leave the address bar: the page becomes the redirect URI the
    // flow registered (the authorization server appended its parameters to exactly that)
    let clean = flow.as_ref().map(|f| f.redirect_uri.clone()).or_else(|| window.location().pathname().ok());
    if let (Ok(h), Some(clean)) = (window.history(), clean) {
        let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&clean));
    }
    let in_popup = flow.as_ref().is_some_and(|f| f.popup);
    if in_popup && let Some(state) = &state {
        let result = FlowResult { state: state.clone(), error: outcome.as_ref().err().cloned() };
        notify_opener(inner, state, &result);
    }
    let status = outcome?;
    let (server_url, return_to) = flow.map(|f| (f.server_url, f.return_to)).unwrap_or_default();
    Ok(CallbackResult { server_url, return_to: if in_popup { None } else { return_to }, status })
}

/// R22: the result by every channel — storage, BroadcastChannel, and `postMessage` to the
/// opener at our exact origin — then the popup closes.
fn notify_opener(inner: &Inner, state: &str, result: &FlowResult) {
    let engine = &inner.engine;
    let text = result.to_json().text();
    let _ = engine.store.set(&engine.result_key(state), &text);
    popup::notify_opener(&engine.flow_key(state), &text);
}

/// R28: the bearer token on requests to the server's origin only; one refresh and retry on 401.
async fn authorized_fetch(inner: &Inner, server_url: &str, input: Option<JsValue>, init: Option<JsValue>) -> Result<JsValue, McpError> {
    let engine = &inner.engine;
    let server = BrowserEngine::server_url(server_url)?;
    let init: RequestInit = match init {
        Some(i) if i.is_object() => i.unchecked_into(),
        _ => RequestInit::new(),
    };
    let request = match input {
        Some(v) if v.is_instance_of::<Request>() => Request::new_with_request_and_init(v.unchecked_ref(), &init),
        // a string or a `URL` (its `toString()` is its href)
        Some(v) if !v.is_undefined() && !v.is_null() => {
            let s: String = v.unchecked_ref::<js_sys::Object>().to_string().into();
            Request::new_with_str_and_init(&s, &init)
        }
        _ => Request::new_with_str_and_init(&server.href(), &init),
    }
    .map_err(|e| invalid(&js_message(&e)))?;
    let same_origin = Url::parse(&request.url()).is_ok_and(|u| u.same_origin(&server));
    if !same_origin {
        // never a token to another origin
        return inner.engine.http.fetch_request(&request).await.map(JsValue::from).map_err(McpError::from);
    }
    let token = engine.access_token(server_url).await?;
    let retry = request.clone().map_err(|e| invalid(&js_message(&e)))?;
    let send = |req: Request, token: String| async move {
        // a fixed message: the browser's own names the header value, i.e. the token (R31)
        req.headers().set("authorization", &cat!("Bearer ", token)).map_err(|_| invalid("the access token cannot be sent as a header"))?;
        engine.http.fetch_request(&req).await.map_err(McpError::from)
    };
    let resp = send(request, token.secret().to_string()).await?;
    if resp.status() != 401 {
        return Ok(resp.into());
    }
    // R28: one refresh, one retry
    let rec = engine.load_server(&server.href()).ok_or_else(|| McpError::new(ErrorCode::AuthorizationRequired, "authorize first"))?;
    let fresh = engine.refresh(rec).await?;
    let resp = send(retry, fresh.access_token.secret().to_string()).await?;
    if resp.status() == 401 {
        return Err(McpError::new(ErrorCode::AuthorizationRequired, "the server refused the token").with_server(&server.href()));
    }
    Ok(resp.into())
}
