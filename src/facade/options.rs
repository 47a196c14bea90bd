//! The options of `new McpAuth`, `authorize` and `revoke`: JS values read into the flow's
//! types, each checked (R38: an unknown option is refused, naming it; a value of the wrong type
//! is named, never quoted).

use std::collections::BTreeMap;

use js_sys::{Function, Object, Reflect};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, Window};

use crate::browser::env::BrowserEnv;
use crate::browser::fetch::BrowserHttp;
use crate::browser::storage::BrowserStore;
use crate::browser::window;
use crate::core::authorize::return_path;
use crate::core::dpop::DpopMode;
use crate::core::error::{ErrorCode, McpError};
use crate::core::secret::ClientSecret;
use crate::flow::Env as _;
use crate::flow::engine::{AuthorizeOptions, Config, PreregisteredClient};
use crate::flow::records::Warning;
use crate::flow::window::Mode;

use super::js::{invalid, page_url};

/// `obj[key]`, `undefined` when `obj` is not an object.
pub(super) fn get(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() {
        Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// One option, through serde-wasm-bindgen: absent or `null` is `None`; a value of the wrong
/// type is `invalid_input` naming the option and what it takes — never quoting the value,
/// which may be a secret (R31).
pub(super) fn option<T: DeserializeOwned>(obj: &JsValue, key: &str, takes: &str) -> Result<Option<T>, McpError> {
    let v = get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    serde_wasm_bindgen::from_value(v)
        .map(Some)
        .map_err(|_| invalid(format!("option {key} must be {takes}")))
}

pub(super) const STRING: &str = "a string";

/// R38: the options `new McpAuth` reads; any other is refused, so that a typo in a security
/// option (`ofllineAccess`, `dpopp`) cannot pass silently.
pub(super) const MCP_AUTH_OPTIONS: &[&str] = &[
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
pub(super) const AUTHORIZE_OPTIONS: &[&str] = &["mode", "scope", "clientId", "clientSecret", "returnTo", "signal"];
pub(super) const CLIENT_OPTIONS: &[&str] = &["clientId", "clientSecret"];

/// `invalid_input` naming the first own key of `obj` that is not in `known` (its name only:
/// names are the app's, values may be secrets).
pub(super) fn refuse_unknown(obj: &JsValue, known: &[&str], what: &str) -> Result<(), McpError> {
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

/// A `clients` entry (pre-registered, keyed by issuer).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientOption {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

/// `new McpAuth(options)`: the flows' `Config`, the store, the HTTP client, and the popup's
/// timeout in ms.
pub(super) fn parse_options(
    options: &JsValue,
    env: &BrowserEnv,
) -> Result<(Config, BrowserStore, BrowserHttp, f64), McpError> {
    if !options.is_object() {
        return Err(invalid(
            "new McpAuth(options): options must be an object with redirectUri",
        ));
    }
    refuse_unknown(options, MCP_AUTH_OPTIONS, "new McpAuth(options)")?;
    let window = window()?;
    let origin = window.location().origin().map_err(|_| invalid("no page origin"))?;
    let client_name = match option(options, "clientName", STRING)? {
        Some(n) => n,
        None => window
            .document()
            .map(|d| d.title())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| origin.clone()),
    };
    let fetch_fn = match get(options, "fetch") {
        v if v.is_undefined() || v.is_null() => None,
        v => Some(
            v.dyn_into::<Function>()
                .map_err(|_| invalid("option fetch must be a function"))?,
        ),
    };
    let config = Config {
        redirect_uri: redirect_uri(options, &origin)?,
        client_name,
        client_metadata_url: option(options, "clientMetadataUrl", STRING)?,
        clients: clients(options)?,
        prefix: option(options, "storageKeyPrefix", STRING)?.unwrap_or_else(|| "mcp-oauth".into()),
        refresh_skew_ms: (seconds(options, "refreshSkewSeconds", 60.0)? * 1000.0) as u64,
        allow_missing_pkce: option(options, "allowMissingPkceMetadata", "a boolean")?.unwrap_or(false),
        offline_access: option(options, "offlineAccess", "a boolean")?.unwrap_or(false),
        dpop: match option::<String>(options, "dpop", STRING)? {
            None => DpopMode::Auto,
            Some(v) => {
                DpopMode::parse(&v).ok_or_else(|| invalid("option dpop must be \"auto\", \"always\" or \"never\""))?
            }
        },
    };
    let timeout = seconds(options, "popupTimeoutSeconds", 300.0)? * 1000.0;
    Ok((config, store(options, env)?, BrowserHttp { fetch_fn }, timeout))
}

/// `redirectUri`: absolute, on the page's own origin, without a fragment (RFC 6749 §3.1.2);
/// sent exactly as the app wrote it (servers compare redirect URIs as strings).
fn redirect_uri(options: &JsValue, origin: &str) -> Result<String, McpError> {
    let redirect_uri: String = option(options, "redirectUri", STRING)?
        .ok_or_else(|| invalid("new McpAuth(options): redirectUri is required"))?;
    let redirect = url::Url::parse(&redirect_uri).map_err(|_| invalid("option redirectUri must be an absolute URL"))?;
    if redirect.origin().ascii_serialization() != origin {
        return Err(invalid("option redirectUri must be on the page's own origin"));
    }
    if redirect.fragment().is_some() {
        return Err(invalid("option redirectUri must not have a fragment (RFC 6749 §3.1.2)"));
    }
    Ok(redirect_uri)
}

/// `clients`: the pre-registered clients by issuer (R11), each entry's options checked.
fn clients(options: &JsValue) -> Result<Vec<PreregisteredClient>, McpError> {
    let clients_value = get(options, "clients");
    if clients_value.is_object() {
        for entry in Object::values(clients_value.unchecked_ref::<Object>()).iter() {
            refuse_unknown(&entry, CLIENT_OPTIONS, "new McpAuth(options): a clients entry")?;
        }
    }
    let clients: BTreeMap<String, ClientOption> =
        option(options, "clients", "an object of { clientId, clientSecret? } by issuer")?.unwrap_or_default();
    Ok(clients
        .into_iter()
        .map(|(issuer, c)| PreregisteredClient {
            issuer,
            client_id: c.client_id,
            client_secret: c.client_secret.map(ClientSecret::new),
        })
        .collect())
}

/// `storage` (R25): a storage that is disabled or unavailable falls back to memory, and says
/// so once.
fn store(options: &JsValue, env: &BrowserEnv) -> Result<BrowserStore, McpError> {
    let storage: Option<String> = option(options, "storage", STRING)?;
    match BrowserStore::open(storage.as_deref().unwrap_or("local")) {
        Err(e) if e.code == ErrorCode::StorageUnavailable => {
            env.warning(
                None,
                Warning::StorageUnavailable,
                &format!("{}: the page's memory is used instead", e.message),
            );
            Ok(BrowserStore::Memory(Default::default()))
        }
        other => other,
    }
}

/// A duration option in seconds: finite and non-negative, else `default`.
fn seconds(options: &JsValue, key: &str, default: f64) -> Result<f64, McpError> {
    match option::<f64>(options, key, "a non-negative number")? {
        Some(s) if s.is_finite() && s >= 0.0 => Ok(s),
        Some(_) => Err(invalid(format!("option {key} must be a non-negative number"))),
        None => Ok(default),
    }
}

/// `authorize(url, opts)`'s options: the mode, what reaches the flow, and the abort signal.
pub(super) fn parse_authorize_options(
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
pub(super) fn current_location(window: &Window) -> Option<String> {
    let here = url::Url::parse(&window.location().href().ok()?).ok()?;
    return_path(&here, &here).ok()
}
