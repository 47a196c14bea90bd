//! The `wasm-bindgen` façade: the JS contract of `shared/spec/js-api.md` mapped onto the flows.
//! JS values in (serde-wasm-bindgen), a `ServerUrl` parsed once per call, flow results out as
//! the contract's plain objects, `McpAuthError` back. Nothing clever lives here: the options are
//! read in `options.rs`, the TypeScript types are in `types.rs`, the shell is wired in
//! `browser::wiring`.

mod js;
mod options;
mod types;

use js::{invalid, page_url, promise, reject, server_info_js, server_url, to_js_error};

use options::{current_location, option, parse_authorize_options, parse_options, refuse_unknown};

use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use web_sys::Window;

use crate::browser::env::BrowserEnv;
use crate::browser::fetch::AppRequest;
use crate::browser::popup::{self, BrowserHandOver, BrowserPopup};
use crate::browser::storage::BrowserStore;
use crate::browser::wiring::{BrowserEngine, browser_engine};
use crate::browser::{js_message, to_js, window};
use crate::core::authorize::{parse_callback_url, stored_return_path};
use crate::core::error::{ErrorCode, McpError};
use crate::core::resource::ServerUrl;
use crate::flow::engine::{AuthorizeOptions, Begin};
use crate::flow::records::Status;
use crate::flow::window::CallbackPage;

thread_local! {
    /// R35: the callbacks this document handled, by URL, with their promises.
    static CALLBACKS: std::cell::RefCell<BTreeMap<String, Promise>> = Default::default();
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

#[wasm_bindgen]
impl McpAuth {
    /// R25, R36: reads the `McpAuthOptions` (an unknown or malformed one is `invalid_input`, R38)
    /// and opens the storage; throws `invalid_input` where there is no browser window.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "McpAuthOptions")] options: JsValue) -> Result<McpAuth, JsValue> {
        let env = BrowserEnv::default();
        let (config, store, http, popup_timeout_ms) = parse_options(&options, &env).map_err(to_js_error)?;
        let engine = browser_engine(config, store, http, env);
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
                if let Some(inner) = weak.upgrade() {
                    inner
                        .engine
                        .other_tab_wrote(options::get(&ev, "key").as_string().as_deref());
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
        let in_memory = matches!(self.inner.engine.store(), BrowserStore::Memory(_));
        // R21: the popup opens here, synchronously, inside the click
        let popup = match mode.opens_popup() {
            true => popup::open_blank(&format!("{}:{server}", self.inner.engine.config().prefix)),
            false => None,
        };
        match mode.in_popup(popup.is_some(), in_memory) {
            Ok(in_popup) => options.popup = in_popup,
            Err(e) => return reject(e.with_server(server.as_str())),
        }
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
        let env = self.inner.engine.env().clone();
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

/// R28: the app's request, sent by the flow's `authorized_fetch` (the token, the refresh, the
/// retry, step-up); a step-up opens its popup while the click that started the call still counts.
async fn authorized_fetch(
    inner: &Inner,
    server_url: &str,
    input: Option<JsValue>,
    init: Option<JsValue>,
) -> Result<JsValue, McpError> {
    let engine = &inner.engine;
    let server = self::server_url(server_url)?;
    let request = AppRequest::new(server.as_str(), input, init)?;
    let send = |credentials| request.send(engine.http(), credentials);
    let step_up = |scope: Option<String>| {
        let window = popup::open_in_activation(&format!("{}:{server}", engine.config().prefix));
        let server = &server;
        async move {
            let Some(window) = window else { return Ok(false) };
            let popup = BrowserPopup::new(window, None, inner.popup_timeout_ms);
            let options = AuthorizeOptions {
                scope,
                popup: true,
                ..Default::default()
            };
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
