//! Orchestration: the async steps over the core, generic over the shell's small traits, so the
//! whole flow runs natively in tests with in-memory fakes and in the browser with web-sys.

mod connect;
mod discover;
mod dpop;
pub mod engine;
mod fetch;
pub mod page_locks;
pub mod records;
mod revoke;
mod session;
mod store;
#[cfg(test)]
mod tests;
pub mod window;

use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::core::error::{HttpError, McpError};
use crate::core::http::{HttpRequest, HttpResponse};

/// Moves one request's bytes. Implementations never follow redirects when
/// `req.follow_redirects` is false (R20).
#[allow(async_fn_in_trait)]
pub trait Http {
    /// Sends `req` and reads its answer (at most `req.max_body` bytes of body); `Err` when no
    /// answer came.
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError>;
}

/// What the shell's `send` gives back for the app's own request (`auth.fetch`): the status, the
/// `WWW-Authenticate` and `DPoP-Nonce` headers, and the response itself, which the flow hands
/// back untouched.
pub struct Sent<R> {
    /// The HTTP status.
    pub status: u16,
    /// R2, R28: the `WWW-Authenticate` header, whose challenge decides a refresh or a step-up.
    pub www_authenticate: Option<String>,
    /// RFC 9449 §8.2: a nonce the server gives for the next proof.
    pub dpop_nonce: Option<String>,
    /// The URL the response came from (`Response.url`: after the redirects the request
    /// followed); `None` when unknown (a response an app's `fetch` made up).
    pub final_url: Option<String>,
    /// The response, for the app.
    pub response: R,
}

impl<R> Sent<R> {
    /// R28, R34: whether this is the answer of `request_url`'s origin: not when the request was
    /// redirected to another origin, whose status, challenge and nonce are not the server's.
    pub fn from_origin_of(&self, request_url: &Url) -> bool {
        match self.final_url.as_deref().map(Url::parse) {
            Some(Ok(u)) => u.origin() == request_url.origin(),
            // an unknown URL: the request's own
            None => true,
            Some(Err(_)) => false,
        }
    }
}

/// What the app's request to the server carries (R28, R34): `Authorization: <scheme> <token>`,
/// and for a DPoP-bound token the proof for this request in the `DPoP` header.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `Bearer`, or `DPoP` for a DPoP-bound token (RFC 9449 §7.1).
    pub scheme: &'static str,
    /// The access token, sent to this server's origin only (R28).
    pub token: crate::core::secret::AccessToken,
    /// The DPoP proof for this request (R34), for a bound token only.
    pub proof: Option<String>,
}

/// A stored value that is there but is not a record of the expected type and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Records kept as JSON text under string keys (localStorage, sessionStorage or memory — R25).
pub trait Store {
    /// `None` when the key is absent; `Some(Err(Corrupt))` when its value does not parse as a `T`.
    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, Corrupt>>;
    /// Stores `value` as JSON under `key`; `Err` when the storage refuses it (full or disabled,
    /// R25).
    fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<(), McpError>;
    /// Removes `key`; an absent key is no error.
    fn remove(&self, key: &str);
    /// Every key the storage holds (this library's are the ones with its prefix).
    fn keys(&self) -> Vec<String>;
    /// Whether `other` is the same storage under another handle (both sessionStorage, say):
    /// what one removes, the other loses.
    fn shares_keys_with(&self, other: &Self) -> bool;
}

/// Named locks shared by every tab of the origin and every caller in the page (Web Locks in the
/// browser), so that one server's refresh runs once at a time (R26).
#[allow(async_fn_in_trait)]
pub trait Lock {
    /// Held until dropped.
    type Guard;
    /// Waits for the lock `name` for at most `timeout_ms`: an orphaned lock (a frozen tab)
    /// never hangs a call; waiting longer is a `timeout` error.
    async fn acquire(&self, name: &str, timeout_ms: u32) -> Result<Self::Guard, McpError>;
}

/// Secrets kept confidential at rest (R33): in the browser, IndexedDB records encrypted with a
/// non-extractable AES-GCM key (or the page's memory). Its reads are consistent across tabs,
/// which is what the single flight reads inside its lock (R26).
#[allow(async_fn_in_trait)]
pub trait Vault {
    /// `None` when absent or unreadable.
    async fn get(&self, key: &str) -> Option<String>;
    /// Keeps `value` under `key`, replacing what was there; `Err` when it could not be written.
    async fn put(&self, key: &str, value: &str) -> Result<(), McpError>;
    /// Removes `key`; an absent key is no error.
    async fn delete(&self, key: &str);
    /// R34: the public JWK (JSON) of the DPoP key `name`, an ECDSA P-256 pair made on first use
    /// whose private half cannot be exported, and kept as long as the vault keeps secrets.
    async fn dpop_public_key(&self, name: &str) -> Result<String, McpError>;
    /// R34: an ES256 signature (raw `r || s`, RFC 7518 §3.4) of `input` with the key `name`.
    async fn dpop_sign(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, McpError>;
    /// R29, R34: deletes the DPoP key `name` (`forget`, with the last server of its issuer).
    async fn dpop_delete(&self, name: &str);
}

/// The sign-in window of a popup flow (R21–R23), opened blank by the shell inside the click.
#[allow(async_fn_in_trait)]
pub trait Popup {
    /// Sends the window to the authorization URL; `Err` (`popup_closed`) when it is gone.
    fn navigate(&self, url: &Url) -> Result<(), McpError>;
    /// Resolves once the window is closed while it still shows its blank page, or the app
    /// aborted: what that means (`popup_closed`, `cancelled`).
    async fn closed_while_blank(&self) -> McpError;
    /// The app aborted (`authorize`'s `signal`).
    fn cancelled(&self) -> bool;
    /// The callback parameters the window hands over for the flow `state` on `channel` (R22),
    /// the window told they were taken (with the flow's `server_url`); ends in `popup_closed`,
    /// `timeout` or `cancelled` (R23). `on_detached` is called once when the window looks
    /// severed by COOP rather than closed.
    async fn wait_for_result(
        &self,
        channel: &str,
        state: &str,
        server_url: &str,
        on_detached: &dyn Fn(),
    ) -> Result<crate::core::authorize::CallbackParams, McpError>;
    /// Tells the window how the flow ended (its `handleCallback` waits for this word).
    fn announce(&self, channel: &str, state: &str, outcome: &Result<records::Status, McpError>);
    /// Closes the window (the flow is over, or abandoned).
    fn close(&self);
}

/// The callback page's end of a popup flow (R22): the parameters handed to the opener.
#[allow(async_fn_in_trait)]
pub trait HandOver {
    /// `None` when no opener took them; else the flow's server and, when it came in time, the
    /// flow's outcome as the opener announced it.
    async fn hand_over(&self, channel: &str, params: &crate::core::authorize::CallbackParams) -> Option<HandedOver>;
    /// The callback page's window closes (a popup whose opener finished the flow).
    fn close_window(&self);
}

/// What a popup's callback page learnt from the opener that took its parameters (R22).
pub struct HandedOver {
    /// The flow's server, as the opener holds it.
    pub server_url: String,
    /// The status (as the contract's JSON) or the error the flow ended in; `None` when no word
    /// came in time.
    pub outcome: Option<Result<serde_json::Value, McpError>>,
}

/// Clock, randomness and the event sink.
pub trait Env {
    /// Now, in ms since the epoch on the browser's clock (expiries, R17, R20, R30).
    fn now_ms(&self) -> u64;
    /// Fills `buf` from a cryptographic random source (state, verifier, `jti`); `Err` when there is
    /// none.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), McpError>;
    /// A flow step (R30 `step` events). `detail` never holds a secret.
    fn step(&self, server_url: &str, step: records::Step, detail: &str);
    /// A server's status changed (R30 `status` events).
    fn status_changed(&self, status: &records::Status);
    /// Something the library handled on its own that the app should know (`warning` events).
    fn warning(&self, server_url: Option<&str>, warning: records::Warning, message: &str);
}
