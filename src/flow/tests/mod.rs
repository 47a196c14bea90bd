//! The flows end to end over in-memory fakes: a scripted HTTP peer, a memory store and a
//! settable clock.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::engine::{AuthorizeOptions, Begin, Config, Engine};
use super::records::{Status, Warning};
use super::{Corrupt, Credentials, Env, Http, Lock, Sent, Store, Vault};
use crate::core::authorize::PendingFlow;
use crate::core::error::{HttpError, McpError};
use crate::core::http::{HttpRequest, HttpResponse};
use crate::core::resource::ServerUrl;

mod connect;
mod discover;
mod dpop;
mod fetch;
mod revoke;
mod session;
mod store;
mod window;

/// The fakes never wait, so one poll finishes any future.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a fake returned Pending"),
    }
}

/// The callback's two steps where the flow is: take the pending flow, then complete it.
fn callback(e: &TestEngine, url: &str) -> (Option<PendingFlow>, Result<Status, McpError>) {
    let params = crate::core::authorize::parse_callback_url(url);
    let flow = e.take_flow(params.state.as_deref());
    let result = block_on(e.complete_callback(params, flow.as_ref()));
    (flow, result)
}

type TestEngine<'a> = Engine<&'a FakeHttp, &'a MemStore, &'a FakeEnv, &'a FakeLock, &'a FakeVault>;

/// The vault as IndexedDB would be: a map of secret texts; `broken` makes every write fail.
#[derive(Default)]
struct FakeVault {
    secrets: RefCell<BTreeMap<String, String>>,
    broken: std::cell::Cell<bool>,
    dpop_keys: RefCell<std::collections::BTreeSet<String>>,
}

impl Vault for &FakeVault {
    async fn get(&self, key: &str) -> Option<String> {
        self.secrets.borrow().get(key).cloned()
    }
    async fn put(&self, key: &str, value: &str) -> Result<(), McpError> {
        if self.broken.get() {
            return Err(McpError::new(
                crate::core::error::ErrorCode::StorageUnavailable,
                "IndexedDB refused",
            ));
        }
        self.secrets.borrow_mut().insert(key.into(), value.into());
        Ok(())
    }
    async fn delete(&self, key: &str) {
        self.secrets.borrow_mut().remove(key);
    }
    async fn dpop_public_key(&self, name: &str) -> Result<String, McpError> {
        self.dpop_keys.borrow_mut().insert(name.into());
        Ok(format!(r#"{{"crv":"P-256","kty":"EC","x":"x-of-{name}","y":"y"}}"#))
    }
    /// A test double: "signs" with the key's name, so a test can tell which key signed what.
    async fn dpop_sign(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, McpError> {
        assert!(self.dpop_keys.borrow().contains(name), "a key is made before it signs");
        Ok([name.as_bytes(), b"|", &Sha256::digest(input)[..4]].concat())
    }
    async fn dpop_delete(&self, name: &str) {
        self.dpop_keys.borrow_mut().remove(name);
    }
}

type Handler = Box<dyn Fn(&HttpRequest) -> Option<Result<HttpResponse, HttpError>>>;

/// Locks by name, as Web Locks are: an async mutex each; counts the acquisitions.
#[derive(Default)]
struct FakeLock {
    locks: RefCell<BTreeMap<String, std::sync::Arc<futures::lock::Mutex<()>>>>,
    acquired: RefCell<u32>,
}

impl Lock for &FakeLock {
    type Guard = futures::lock::OwnedMutexGuard<()>;
    async fn acquire(&self, name: &str, _timeout_ms: u32) -> Result<Self::Guard, McpError> {
        let m = self.locks.borrow_mut().entry(name.to_string()).or_default().clone();
        let guard = m.lock_owned().await;
        *self.acquired.borrow_mut() += 1;
        Ok(guard)
    }
}

#[derive(Default)]
struct FakeHttp {
    routes: RefCell<Vec<(String, Handler)>>,
    log: RefCell<Vec<HttpRequest>>,
    /// Requests to this URL take a turn of the executor before their answer (as a real
    /// request would), so that concurrent callers interleave.
    slow: RefCell<Option<String>>,
}

/// Gives the executor one turn: `Pending` once, with a wake-up.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl FakeHttp {
    fn route(&self, url: &str, f: impl Fn(&HttpRequest) -> Option<Result<HttpResponse, HttpError>> + 'static) {
        self.routes.borrow_mut().insert(0, (url.to_string(), Box::new(f)));
    }
    fn json(&self, url: &str, status: u16, body: &'static str) {
        self.route(url, move |_| Some(Ok(HttpResponse::new(status, vec![], body))));
    }
    fn urls(&self) -> Vec<String> {
        self.log.borrow().iter().map(|r| r.url.to_string()).collect()
    }
    fn last_to(&self, url: &str) -> HttpRequest {
        self.log
            .borrow()
            .iter()
            .rev()
            .find(|r| r.url.as_str() == url)
            .cloned()
            .expect("no request to that URL")
    }
}

impl Http for &FakeHttp {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.log.borrow_mut().push(req.clone());
        if self.slow.borrow().as_deref() == Some(req.url.as_str()) {
            YieldNow(false).await;
        }
        for (url, h) in self.routes.borrow().iter() {
            if url == req.url.as_str()
                && let Some(r) = h(&req)
            {
                return r;
            }
        }
        Ok(HttpResponse::new(404, vec![], "not found"))
    }
}

#[derive(Default)]
struct MemStore(RefCell<BTreeMap<String, String>>);

impl Store for &MemStore {
    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, Corrupt>> {
        self.0
            .borrow()
            .get(key)
            .map(|text| serde_json::from_str(text).map_err(|_| Corrupt))
    }
    fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<(), McpError> {
        self.0
            .borrow_mut()
            .insert(key.into(), serde_json::to_string(value).unwrap());
        Ok(())
    }
    fn remove(&self, key: &str) {
        self.0.borrow_mut().remove(key);
    }
    fn keys(&self) -> Vec<String> {
        self.0.borrow().keys().cloned().collect()
    }
    fn shares_keys_with(&self, other: &Self) -> bool {
        std::ptr::eq(*self, *other)
    }
}

#[derive(Default)]
struct FakeEnv {
    now: RefCell<u64>,
    counter: RefCell<u8>,
    steps: RefCell<Vec<(String, String)>>,
    statuses: RefCell<Vec<Status>>,
    warnings: RefCell<Vec<(Option<String>, Warning)>>,
}

impl Env for &FakeEnv {
    fn now_ms(&self) -> u64 {
        *self.now.borrow()
    }
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), McpError> {
        let mut c = self.counter.borrow_mut();
        *c = c.wrapping_add(1);
        buf.fill(*c);
        Ok(())
    }
    fn step(&self, _server: &str, step: super::records::Step, detail: &str) {
        self.steps.borrow_mut().push((step.as_str().into(), detail.into()));
    }
    fn status_changed(&self, status: &Status) {
        self.statuses.borrow_mut().push(status.clone());
    }
    fn warning(&self, server_url: Option<&str>, warning: Warning, _message: &str) {
        self.warnings
            .borrow_mut()
            .push((server_url.map(str::to_string), warning));
    }
}

const MCP: &str = "https://mcp.example/mcp";

const PRM: &str = "https://mcp.example/.well-known/oauth-protected-resource/mcp";

const AS_META: &str = "https://as.example/.well-known/oauth-authorization-server";

const CB: &str = "https://app.example/cb";

fn srv(s: &str) -> ServerUrl {
    ServerUrl::parse(s).unwrap()
}

struct World {
    http: FakeHttp,
    store: MemStore,
    env: FakeEnv,
    lock: FakeLock,
    vault: FakeVault,
    /// sessionStorage, for full-page redirect flows
    session: MemStore,
    /// the page's token copies, shared by every engine of this world (one page)
    token_cache: super::engine::TokenCache,
}

impl World {
    fn new() -> World {
        let w = World {
            http: FakeHttp::default(),
            store: MemStore::default(),
            env: FakeEnv::default(),
            lock: FakeLock::default(),
            vault: FakeVault::default(),
            session: MemStore::default(),
            token_cache: Default::default(),
        };
        *w.env.now.borrow_mut() = 1_000_000;
        w.http.route(MCP, |_| {
            Some(Ok(HttpResponse::new(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!(r#"Bearer resource_metadata="{PRM}""#),
                )],
                "",
            )))
        });
        w.http.json(PRM, 200, r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["mcp:tools"]}"#);
        w.http.json(AS_META, 200, r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg","revocation_endpoint":"https://as.example/revoke","code_challenge_methods_supported":["S256"]}"#);
        w.http.json(
            "https://as.example/reg",
            201,
            r#"{"client_id":"dyn-1","redirect_uris":["https://app.example/cb"]}"#,
        );
        w.http.json("https://as.example/token", 200, r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1","scope":"mcp:tools"}"#);
        w
    }

    fn engine(&self) -> TestEngine<'_> {
        Engine {
            http: &self.http,
            store: &self.store,
            env: &self.env,
            lock: &self.lock,
            vault: &self.vault,
            redirect_flows: &self.session,
            config: Config {
                redirect_uri: CB.into(),
                client_name: "Test App".into(),
                client_metadata_url: None,
                clients: vec![],
                prefix: "mcp-oauth".into(),
                refresh_skew_ms: 60_000,
                allow_missing_pkce: false,
                offline_access: false,
                dpop: crate::core::dpop::DpopMode::Auto,
            },
            popup_flows: RefCell::default(),
            dpop_nonces: RefCell::default(),
            token_cache: self.token_cache.clone(),
        }
    }

    /// discover → register → authorize URL → callback → tokens; returns the authorization URL.
    fn connect(&self) -> url::Url {
        let e = self.engine();
        let Begin::Navigate { url, state } = block_on(e.begin_authorization(
            &srv(MCP),
            AuthorizeOptions {
                popup: true,
                ..Default::default()
            },
        ))
        .unwrap() else {
            panic!("expected navigation")
        };
        let (flow, status) = callback(&e, &format!("{CB}?code=the-code&state={state}"));
        assert_eq!(flow.unwrap().server_url, MCP);
        assert_eq!(status.unwrap().state, "authorized");
        url
    }
}

fn param(body_or_query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(body_or_query.as_bytes())
        .into_owned()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The shell's side of `auth.fetch` in these tests: records the token each send carried and
/// answers with the scripted statuses in turn.
type Answer = (u16, Option<&'static str>, Option<&'static str>);

/// An answer and the URL it came from (`Response.url`, after redirects).
type RedirectedAnswer = (u16, Option<&'static str>, Option<&'static str>, Option<&'static str>);

struct FakeSend {
    answers: RefCell<Vec<RedirectedAnswer>>,
    sent: RefCell<Vec<Option<Credentials>>>,
}

impl FakeSend {
    fn new(statuses: &[u16]) -> FakeSend {
        Self::answering(&statuses.iter().map(|s| (*s, None)).collect::<Vec<_>>())
    }
    /// Statuses with a `WWW-Authenticate` header each.
    fn answering(answers: &[(u16, Option<&'static str>)]) -> FakeSend {
        Self::answering_with_nonces(&answers.iter().map(|(s, c)| (*s, *c, None)).collect::<Vec<_>>())
    }
    /// Statuses with a `WWW-Authenticate` and a `DPoP-Nonce` header each.
    fn answering_with_nonces(answers: &[Answer]) -> FakeSend {
        Self::redirected(&answers.iter().map(|(s, c, n)| (*s, *c, *n, None)).collect::<Vec<_>>())
    }
    /// Answers with the URL each came from.
    fn redirected(answers: &[RedirectedAnswer]) -> FakeSend {
        FakeSend {
            answers: RefCell::new(answers.to_vec()),
            sent: RefCell::default(),
        }
    }
    async fn send(&self, credentials: Option<Credentials>) -> Result<Sent<u16>, McpError> {
        self.sent.borrow_mut().push(credentials);
        let (status, challenge, nonce, final_url) = self.answers.borrow_mut().remove(0);
        Ok(Sent {
            status,
            www_authenticate: challenge.map(str::to_string),
            dpop_nonce: nonce.map(str::to_string),
            final_url: final_url.map(str::to_string),
            response: status,
        })
    }
    /// The credentials of each send in turn.
    fn credentials(&self) -> Vec<Option<Credentials>> {
        self.sent.borrow().clone()
    }
    /// The token of each send in turn, `-` for none.
    fn tokens(&self) -> Vec<String> {
        self.sent
            .borrow()
            .iter()
            .map(|c| c.as_ref().map_or_else(|| "-".into(), |c| c.token.secret().to_string()))
            .collect()
    }
}

/// Past the refresh skew: the next `access_token` refreshes.
fn expire(w: &World) {
    *w.env.now.borrow_mut() += 3_600_000 - 30_000;
}

/// An authorization server that rotates refresh tokens and, on the reuse of a rotated one,
/// revokes the whole grant (oidc-provider's default). Counts the refresh requests.
#[derive(Default)]
struct Rotation {
    generation: u32,
    revoked: bool,
    refreshes: u32,
}

fn rotating_token_endpoint(w: &World) -> std::rc::Rc<RefCell<Rotation>> {
    let state = std::rc::Rc::new(RefCell::new(Rotation {
        generation: 1,
        ..Default::default()
    }));
    let s = state.clone();
    w.http.route("https://as.example/token", move |req| {
        let body = req.body.clone().unwrap_or_default();
        let mut st = s.borrow_mut();
        st.refreshes += 1;
        let presented = param(&body, "refresh_token");
        if st.revoked || presented != Some(format!("rt-{}", st.generation)) {
            st.revoked = true;
            return Some(Ok(HttpResponse::new(
                400,
                vec![],
                r#"{"error":"invalid_grant","error_description":"grant revoked"}"#,
            )));
        }
        st.generation += 1;
        let g = st.generation;
        let set =
            format!(r#"{{"access_token":"at-{g}","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-{g}"}}"#);
        Some(Ok(HttpResponse::new(200, vec![], set)))
    });
    *w.http.slow.borrow_mut() = Some("https://as.example/token".into());
    state
}

// ---- DPoP (R34) ---------------------------------------------------------------------------------

const DPOP_AS_META: &str = r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg","revocation_endpoint":"https://as.example/revoke","code_challenge_methods_supported":["S256"],"dpop_signing_alg_values_supported":["ES256"]}"#;

/// The resource's metadata when it says it takes DPoP (RFC 9728 §2, R34 "auto").
const DPOP_PRM: &str = r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["mcp:tools"],"dpop_signing_alg_values_supported":["ES256"]}"#;

// ---- F1: the mix-up at the code exchange (issue 18) -----------------------------------------

const EVIL_PRM: &str = "https://mcp.example/.well-known/oauth-protected-resource/moved";

/// A malicious MCP server M that names the honest `as.example` (where the app has a
/// confidential pre-registered client) at first, then — while the user signs in — challenges
/// with other metadata naming the attacker's `evil.example`.
fn mix_up_world() -> World {
    let w = World::new();
    w.http.json(
        EVIL_PRM,
        200,
        r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://evil.example"]}"#,
    );
    w.http.json("https://evil.example/.well-known/oauth-authorization-server", 200, r#"{"issuer":"https://evil.example","authorization_endpoint":"https://evil.example/auth","token_endpoint":"https://evil.example/token","registration_endpoint":"https://evil.example/reg","code_challenge_methods_supported":["S256"]}"#);
    w.http.json(
        "https://evil.example/token",
        200,
        r#"{"access_token":"evil-at","token_type":"Bearer","expires_in":3600}"#,
    );
    w.http
        .json("https://evil.example/reg", 201, r#"{"client_id":"evil-client"}"#);
    w
}

fn confidential<'a>(w: &'a World) -> TestEngine<'a> {
    let mut e = w.engine();
    e.config.clients = vec![super::engine::PreregisteredClient {
        issuer: "https://as.example".into(),
        client_id: "honest-app".into(),
        client_secret: Some(crate::core::secret::ClientSecret::new("s3cr3t-of-as1")),
    }];
    e
}

/// M's challenge, on a background `fetch` while the popup is open.
fn challenge_with_moved_metadata(e: &TestEngine<'_>) {
    let moved = format!(r#"Bearer resource_metadata="{EVIL_PRM}""#);
    let s = FakeSend::answering(&[(401, Some(Box::leak(moved.into_boxed_str())))]);
    let err = block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap_err();
    assert_eq!(err.code.as_str(), "authorization_required");
}
