//! The flows: discover → client → authorize → callback → tokens, over the `Http`, `Store` and
//! `Env` traits. Every network step goes through a core `prepare_*` / `parse_*` pair; server
//! URLs arrive parsed and canonical ([`ServerUrl`]).

use url::Url;

use crate::core::authorize::PendingFlow;
use crate::core::dpop::DpopMode;
use crate::core::error::{ErrorCode, McpError};
use crate::core::secret::ClientSecret;
use crate::core::token::TokenSet;

use super::records::Status;

/// A client the app registered beforehand with an issuer (R11).
#[derive(Debug, Clone)]
pub struct PreregisteredClient {
    /// The issuer the client belongs to (`clients`' key); it is used there only (R9).
    pub issuer: String,
    /// The client id the app configured.
    pub client_id: String,
    /// Its secret, for a confidential client (R13); kept in the vault, never in the record (R33).
    pub client_secret: Option<ClientSecret>,
}

/// The `McpAuth` options that the flows use.
#[derive(Debug, Clone)]
pub struct Config {
    /// The app's `redirectUri`: absolute, on the page's origin; sent with every authorization
    /// request and registration (R12).
    pub redirect_uri: String,
    /// R12: the `client_name` of a dynamic registration.
    pub client_name: String,
    /// R11: the app's client ID metadata document URL, when it has one.
    pub client_metadata_url: Option<String>,
    /// R11: the pre-registered clients, one per issuer at most.
    pub clients: Vec<PreregisteredClient>,
    /// The `storageKeyPrefix`: every key this library writes starts with it, and so do its lock
    /// names.
    pub prefix: String,
    /// R26: refresh when the access token expires within this many ms.
    pub refresh_skew_ms: u64,
    /// R14: proceed when the metadata does not list `code_challenge_methods_supported`
    /// (`allowMissingPkceMetadata`).
    pub allow_missing_pkce: bool,
    /// R16: ask for `offline_access` where the authorization server lists it.
    pub offline_access: bool,
    /// R34: when new tokens are bound with DPoP.
    pub dpop: DpopMode,
}

/// `authorize(url, opts)` options that reach the flow.
#[derive(Debug, Default)]
pub struct AuthorizeOptions {
    /// R16: the scope the app asks for, over the challenge's and the resource's.
    pub scope: Option<String>,
    /// R11: a client id the app gives for this authorization (the Client ID form's).
    pub client_id: Option<String>,
    /// R13: the secret of that client, if it has one.
    pub client_secret: Option<ClientSecret>,
    /// R24: where a full-page redirect returns to (the app's `returnTo`, resolved and checked).
    pub return_to: Option<String>,
    /// R21: the flow runs in a popup rather than a full-page redirect.
    pub popup: bool,
}

/// What `begin_authorization` decided.
#[derive(Debug)]
pub enum Begin {
    /// The server needs no authorization (R1: the probe got a 2xx).
    NotNeeded(Status),
    /// Send the user here; the flow is stored under `state`.
    Navigate {
        /// The authorization URL (R14–R16), which holds the code challenge, never the verifier.
        url: Url,
        /// The flow's `state` (R17), which names its pending flow.
        state: String,
    },
}

/// The flows of one `McpAuth`: its configuration and the shell's parts (HTTP, storage, clock and
/// events, locks, vault).
pub struct Engine<H, S, E, L, V> {
    pub(super) http: H,
    pub(super) store: S,
    pub(super) env: E,
    pub(super) lock: L,
    pub(super) vault: V,
    /// Where a full-page redirect's flow waits for its return (R24, R33): sessionStorage in the
    /// browser — the same tab comes back, and the verifier never reaches localStorage.
    pub(super) redirect_flows: S,
    pub(super) config: Config,
    /// Pending popup flows, verifier included, in this page's memory only (R33): the popup's
    /// callback page hands its parameters here (R22), whatever the storage mode.
    pub(super) popup_flows: std::cell::RefCell<Vec<PendingFlow>>,
    /// R34: the latest `DPoP-Nonce` per origin (RFC 9449 §8, §9), for the next proof there.
    pub(super) dpop_nonces: std::cell::RefCell<std::collections::BTreeMap<String, String>>,
    /// The record's token set per server, as last read or written, so that a fresh token costs
    /// no storage read and no parse; dropped on every write here and in other tabs.
    /// Shared by the instances of a page that use the same storage (the shell hands them one
    /// map), so one instance's write is seen by the others at once.
    pub(super) token_cache: TokenCache,
}

/// The shell's parts an engine runs over (see [`Engine::new`]).
pub struct Parts<H, S, E, L, V> {
    /// Sends every request the library makes (R10: the app's `fetch`, when given).
    pub http: H,
    /// Where records are kept (localStorage, sessionStorage or memory, R25).
    pub store: S,
    /// The clock, randomness and the event sink.
    pub env: E,
    /// The cross-tab locks of the single-flight refresh (R26).
    pub lock: L,
    /// Where refresh tokens, client secrets and DPoP keys are kept (R33, R34).
    pub vault: V,
    /// Where a full-page redirect's flow waits (the tab's sessionStorage in the browser).
    pub redirect_flows: S,
    /// The page's token copies, shared by the instances on the same storage.
    pub token_cache: TokenCache,
}

impl<H, S, E, L, V> Engine<H, S, E, L, V> {
    /// An engine over these parts with this configuration; it reads and writes nothing yet.
    pub fn new(parts: Parts<H, S, E, L, V>, config: Config) -> Self {
        let Parts {
            http,
            store,
            env,
            lock,
            vault,
            redirect_flows,
            token_cache,
        } = parts;
        Engine {
            http,
            store,
            env,
            lock,
            vault,
            redirect_flows,
            config,
            popup_flows: Default::default(),
            dpop_nonces: Default::default(),
            token_cache,
        }
    }

    /// The options the flows use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where records are kept.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The network.
    pub fn http(&self) -> &H {
        &self.http
    }

    /// Clock, randomness and events.
    pub fn env(&self) -> &E {
        &self.env
    }
}

/// R28: step-up attempts per server and request.
pub const MAX_STEP_UPS: u32 = 3;

/// R34: `use_dpop_nonce` retries of one request at a resource server.
pub(super) const MAX_NONCE_RETRIES: u32 = 2;

/// F4 (R25): the largest server record kept (its metadata's members this client reads, and
/// its tokens): a hostile server's lists cannot fill the origin's storage.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// R26: how long a refresh waits for another caller's or tab's refresh of the same server.
pub const REFRESH_LOCK_TIMEOUT_MS: u32 = 10_000;

pub(super) fn not_authorized(server_url: &str) -> McpError {
    McpError::new(
        ErrorCode::AuthorizationRequired,
        "no usable token for this server: authorize first",
    )
    .with_server(server_url)
}

/// The in-memory copies of the servers' token sets (see `Engine::token_cache`).
pub type TokenCache = std::rc::Rc<std::cell::RefCell<std::collections::BTreeMap<String, TokenSet>>>;
