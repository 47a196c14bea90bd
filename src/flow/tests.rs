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
    fn step(&self, _server: &str, step: &str, detail: &str) {
        self.steps.borrow_mut().push((step.into(), detail.into()));
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

#[test]
fn r1_r3_r6_r11_r12_r15_whole_flow_with_dynamic_registration() {
    let w = World::new();
    let auth_url = w.connect();
    assert_eq!(
        w.http.urls(),
        vec![MCP, PRM, AS_META, "https://as.example/reg", "https://as.example/token"]
    );
    let reg: serde_json::Value =
        serde_json::from_str(w.http.last_to("https://as.example/reg").body.as_deref().unwrap()).unwrap();
    assert_eq!(reg["redirect_uris"][0], CB);
    assert_eq!(reg["scope"], "mcp:tools");
    let query = auth_url.query().unwrap();
    assert_eq!(param(query, "resource").as_deref(), Some(MCP));
    assert_eq!(param(query, "client_id").as_deref(), Some("dyn-1"));
    assert_eq!(param(query, "scope").as_deref(), Some("mcp:tools"));
    let token = w.http.last_to("https://as.example/token");
    let body = token.body.unwrap();
    assert_eq!(param(&body, "resource").as_deref(), Some(MCP));
    assert_eq!(param(&body, "code").as_deref(), Some("the-code"));
    let e = w.engine();
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-1");
    let s = e.status(&srv(MCP));
    assert_eq!(
        (s.state, s.client_id.as_deref(), s.issuer.as_deref()),
        ("authorized", Some("dyn-1"), Some("https://as.example"))
    );
    assert_eq!(s.expires_at, Some(1_000_000 + 3_600_000));
    let steps: Vec<String> = w.env.steps.borrow().iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(
        steps,
        [
            "probe",
            "resource_metadata",
            "authorization_server_metadata",
            "registration",
            "authorization",
            "token"
        ]
    );
    // R31: no secret in any step detail
    assert!(
        w.env
            .steps
            .borrow()
            .iter()
            .all(|(_, d)| !d.contains("at-1") && !d.contains("the-code"))
    );
    // R30: the authorization step names the whole URL the popup opens (the challenge, not the verifier)
    let steps = w.env.steps.borrow();
    let (_, url) = steps.iter().find(|(s, _)| s == "authorization").unwrap();
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("client_id=dyn-1") && !url.contains("code_verifier"),
        "{url}"
    );
}

/// R12: the registration asks for every scope the resource lists, not the narrower scope the
/// challenge asks for now; without `scopes_supported` it names none.
#[test]
fn r12_the_registration_scope_is_the_resources_scopes_supported() {
    let w = World::new();
    w.http.route(MCP, |_| {
        Some(Ok(HttpResponse::new(
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(r#"Bearer resource_metadata="{PRM}", scope="mcp:tools""#),
            )],
            "",
        )))
    });
    w.http.json(PRM, 200, r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["mcp:tools","mcp:admin"]}"#);
    let auth_url = w.connect();
    let reg: serde_json::Value =
        serde_json::from_str(w.http.last_to("https://as.example/reg").body.as_deref().unwrap()).unwrap();
    assert_eq!(reg["scope"], "mcp:tools mcp:admin");
    assert_eq!(
        param(auth_url.query().unwrap(), "scope").as_deref(),
        Some("mcp:tools"),
        "the request asks for what the challenge names"
    );

    let w = World::new();
    w.http.json(
        PRM,
        200,
        r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"]}"#,
    );
    w.connect();
    let reg: serde_json::Value =
        serde_json::from_str(w.http.last_to("https://as.example/reg").body.as_deref().unwrap()).unwrap();
    assert!(reg.get("scope").is_none(), "{reg}");
}

#[test]
fn r9_second_authorization_costs_no_discovery_or_registration() {
    let w = World::new();
    w.connect();
    let before = w.http.urls().len();
    w.connect();
    assert_eq!(w.http.urls()[before..], ["https://as.example/token"]);
    let rec = w.engine().load_server(MCP).unwrap();
    let info = serde_json::to_value(w.engine().server_info(&rec)).unwrap();
    assert_eq!(info["registration"], "dynamic");
    assert_eq!(info["resource"], MCP);
    assert_eq!(
        info.get("resourceMetadata"),
        None,
        "the documents go to JS through JSON.parse, not with the rest"
    );
    let info = w.engine().server_info(&rec);
    assert_eq!(
        info.resource_metadata.map(|m| &m["resource"]),
        Some(&serde_json::Value::from(MCP))
    );
    let revocation = info.authorization_server_metadata.map(|m| &m["revocation_endpoint"]);
    assert_eq!(revocation, Some(&serde_json::Value::from("https://as.example/revoke")));
}

#[test]
fn r3_path_aware_metadata_falls_back_to_root_and_r5_origin_issuer() {
    let w = World::new();
    // no resource_metadata in the challenge, path-aware URL 404s, root answers
    w.http.route(MCP, |_| Some(Ok(HttpResponse::new(401, vec![], ""))));
    w.http.json(PRM, 404, "");
    w.http.json(
        "https://mcp.example/.well-known/oauth-protected-resource",
        200,
        r#"{"resource":"https://mcp.example","authorization_servers":["https://as.example"]}"#,
    );
    let rec = block_on(w.engine().discover(&srv(MCP))).unwrap();
    assert_eq!(rec.resource, "https://mcp.example");
    assert_eq!(
        w.http.urls()[1..3],
        [PRM, "https://mcp.example/.well-known/oauth-protected-resource"]
    );

    // no metadata anywhere: the issuer is the server's origin with the 2025-03-26 defaults
    let w = World::new();
    w.http.route(MCP, |_| Some(Ok(HttpResponse::new(401, vec![], ""))));
    w.http.json(PRM, 404, "");
    let rec = block_on(w.engine().discover(&srv(MCP))).unwrap();
    assert_eq!(rec.issuer.as_deref(), Some("https://mcp.example"));
    assert_eq!(rec.resource, MCP);
    assert_eq!(
        rec.as_metadata.unwrap().fields.token_endpoint.as_str(),
        "https://mcp.example/token"
    );
}

#[test]
fn r3_other_5xx_stops_discovery() {
    let w = World::new();
    w.http.json(PRM, 503, "");
    let e = block_on(w.engine().discover(&srv(MCP))).unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.status, e.server_url.as_deref()),
        ("server_error", Some(503), Some(MCP))
    );
}

#[test]
fn r4_resource_mismatch_authorizes_nothing() {
    let w = World::new();
    w.http.json(
        PRM,
        200,
        r#"{"resource":"https://mcp.example/other","authorization_servers":["https://as.example"]}"#,
    );
    let e = block_on(w.engine().begin_authorization(&srv(MCP), AuthorizeOptions::default())).unwrap_err();
    assert_eq!(e.code.as_str(), "resource_mismatch");
    assert_eq!(w.http.urls(), [MCP, PRM]);
    assert!(w.store.0.borrow().is_empty());
}

#[test]
fn r14_missing_pkce_metadata_is_refused_by_default() {
    let w = World::new();
    w.http.json(AS_META, 200, r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg"}"#);
    let e = block_on(w.engine().begin_authorization(&srv(MCP), AuthorizeOptions::default())).unwrap_err();
    assert_eq!(e.code.as_str(), "pkce_unsupported");
    // R38: which case, and the option that covers it
    assert!(
        e.message.contains("has no code_challenge_methods_supported")
            && e.message.contains("allowMissingPkceMetadata: true"),
        "{}",
        e.message
    );
    let mut e = w.engine();
    e.config.allow_missing_pkce = true;
    assert!(matches!(
        block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())),
        Ok(Begin::Navigate { .. })
    ));
}

#[test]
fn r11_no_registration_endpoint_asks_for_a_client_id() {
    let w = World::new();
    w.http.json(AS_META, 200, r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://as.example/token","code_challenge_methods_supported":["S256"]}"#);
    let e = w.engine();
    let rec = block_on(e.discover(&srv(MCP))).unwrap();
    assert_eq!(
        serde_json::to_value(e.server_info(&rec)).unwrap()["registration"],
        "manual"
    );
    let err = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())).unwrap_err();
    assert_eq!(err.code.as_str(), "client_registration_required");
    let opts = AuthorizeOptions {
        client_id: Some("typed-in".into()),
        ..Default::default()
    };
    let Ok(Begin::Navigate { url, .. }) = block_on(e.begin_authorization(&srv(MCP), opts)) else {
        panic!()
    };
    assert_eq!(param(url.query().unwrap(), "client_id").as_deref(), Some("typed-in"));
}

#[test]
fn r17_a_callback_works_once() {
    let w = World::new();
    let e = w.engine();
    let Ok(Begin::Navigate { state, .. }) = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default()))
    else {
        panic!()
    };
    let cb = format!("{CB}?code=c&state={state}");
    assert!(callback(&e, &cb).1.is_ok());
    let (flow, again) = callback(&e, &cb);
    assert!(flow.is_none());
    let again = again.unwrap_err();
    assert_eq!(again.code.as_str(), "state_mismatch");
    assert_eq!(w.http.urls().iter().filter(|u| u.ends_with("/token")).count(), 1);
}

#[test]
fn r19_denied_callback_removes_the_flow() {
    let w = World::new();
    let e = w.engine();
    let Ok(Begin::Navigate { state, .. }) = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default()))
    else {
        panic!()
    };
    let err = callback(&e, &format!("{CB}?error=access_denied&state={state}"))
        .1
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.oauth_error.as_deref()),
        ("authorization_failed", Some("access_denied"))
    );
    assert_eq!(err.server_url.as_deref(), Some(MCP));
    assert!(!w.session.0.borrow().contains_key(&e.flow_key(&state)));
}

#[test]
fn r26_refresh_before_expiry_rotates_and_r27_invalid_grant_drops_tokens_only() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    *w.env.now.borrow_mut() += 3_600_000 - 30_000; // within the 60 s skew
    w.http.json(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600}"#,
    );
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-2");
    let refresh = w.http.last_to("https://as.example/token").body.unwrap();
    assert_eq!(param(&refresh, "refresh_token").as_deref(), Some("rt-1"));
    assert_eq!(param(&refresh, "resource").as_deref(), Some(MCP));
    // no rotated token came back: the old one is kept
    assert!(e.status(&srv(MCP)).refreshable);

    *w.env.now.borrow_mut() += 3_600_000;
    w.http
        .json("https://as.example/token", 400, r#"{"error":"invalid_grant"}"#);
    let err = block_on(e.access_token(&srv(MCP))).unwrap_err();
    assert_eq!(err.code.as_str(), "authorization_required");
    assert_eq!(e.status(&srv(MCP)).state, "authorization_required");
    // registration and metadata kept: re-authorizing needs no discovery or registration
    let before = w.http.urls().len();
    assert!(matches!(
        block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())),
        Ok(Begin::Navigate { .. })
    ));
    assert_eq!(w.http.urls().len(), before);
}

#[test]
fn r27_network_failure_keeps_an_unexpired_token() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    *w.env.now.borrow_mut() += 3_600_000 - 30_000;
    w.http.route("https://as.example/token", |_| {
        Some(Err(HttpError::Network("offline".into())))
    });
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-1");
    *w.env.now.borrow_mut() += 60_000;
    assert_eq!(
        block_on(e.access_token(&srv(MCP))).unwrap_err().code.as_str(),
        "network"
    );
    assert_eq!(e.status(&srv(MCP)).state, "expired");
}

#[test]
fn r29_revoke_drops_the_tokens_and_keeps_registration_and_metadata() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    w.http.json("https://as.example/revoke", 503, "");
    let err = block_on(e.revoke(&srv(MCP), false)).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.server_url.as_deref()),
        ("revocation_failed", Some(MCP))
    );
    assert_eq!(
        e.status(&srv(MCP)).state,
        "authorized",
        "a failed revocation keeps the tokens"
    );
    w.http.route("https://as.example/revoke", |req| {
        let hint = param(req.body.as_deref().unwrap_or_default(), "token_type_hint");
        Some(Ok(match hint.as_deref() {
            Some("access_token") => HttpResponse::new(400, vec![], r#"{"error":"unsupported_token_type"}"#),
            _ => HttpResponse::new(204, vec![], ""),
        }))
    });
    block_on(e.revoke(&srv(MCP), false)).unwrap();
    let hints: Vec<String> = w
        .http
        .log
        .borrow()
        .iter()
        .filter(|r| r.url.as_str().ends_with("/revoke"))
        .filter_map(|r| param(r.body.as_deref()?, "token_type_hint"))
        .collect();
    assert_eq!(
        hints[hints.len() - 2..],
        ["refresh_token", "access_token"],
        "the refresh token first"
    );
    let s = e.status(&srv(MCP));
    assert_eq!(
        (s.state, s.client_id.as_deref(), s.refreshable),
        ("authorization_required", Some("dyn-1"), false)
    );
    // the access token the server could not revoke is not passed over in silence
    assert_eq!(*w.env.warnings.borrow(), [(Some(MCP.to_string()), Warning::NotRevoked)]);
    // Connect again: no discovery, no registration
    let before = w.http.urls().len();
    w.connect();
    assert_eq!(w.http.urls()[before..], ["https://as.example/token"]);
}

#[test]
fn r29_a_refresh_token_the_server_cannot_revoke_fails_unless_forced() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    w.http.json(
        "https://as.example/revoke",
        400,
        r#"{"error":"unsupported_token_type"}"#,
    );
    let err = block_on(e.revoke(&srv(MCP), false)).unwrap_err();
    assert_eq!(err.code.as_str(), "revocation_failed");
    assert!(e.status(&srv(MCP)).refreshable, "tokens kept");
    block_on(e.revoke(&srv(MCP), true)).unwrap();
    assert_eq!(e.status(&srv(MCP)).state, "authorization_required");
    assert_eq!(*w.env.warnings.borrow(), [(Some(MCP.to_string()), Warning::NotRevoked)]);
}

#[test]
fn r29_without_a_revocation_endpoint_the_tokens_are_dropped_here_with_a_warning() {
    let w = World::new();
    w.http.json(AS_META, 200, r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg","code_challenge_methods_supported":["S256"]}"#);
    w.connect();
    let e = w.engine();
    let before = w.http.urls().len();
    block_on(e.revoke(&srv(MCP), false)).unwrap();
    assert_eq!(w.http.urls().len(), before, "nobody to ask");
    assert_eq!(e.status(&srv(MCP)).state, "authorization_required");
    assert_eq!(*w.env.warnings.borrow(), [(Some(MCP.to_string()), Warning::NotRevoked)]);
}

#[test]
fn r29_forget_removes_the_record_its_flows_and_an_unshared_registration() {
    const OTHER: &str = "https://mcp.example/other";
    let w = World::new();
    w.connect();
    let e = w.engine();
    // a second server on the same issuer
    w.http.route(OTHER, |_| Some(Ok(HttpResponse::new(401, vec![], ""))));
    w.http.json(
        "https://mcp.example/.well-known/oauth-protected-resource/other",
        200,
        r#"{"resource":"https://mcp.example/other","authorization_servers":["https://as.example"]}"#,
    );
    let Ok(Begin::Navigate { state, .. }) = block_on(e.begin_authorization(&srv(OTHER), AuthorizeOptions::default()))
    else {
        panic!()
    };
    let Ok(Begin::Navigate { state: mine, .. }) =
        block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default()))
    else {
        panic!()
    };
    // R33: a redirect flow waits in sessionStorage, never in localStorage
    assert!(w.store.0.borrow().keys().all(|k| !k.contains(":flow:")));
    e.forget(&srv(MCP));
    let keys: Vec<String> = w.store.0.borrow().keys().cloned().collect();
    let flows: Vec<String> = w.session.0.borrow().keys().cloned().collect();
    assert!(
        !keys.contains(&e.server_key(MCP)) && !flows.contains(&e.flow_key(&mine)),
        "{keys:?} {flows:?}"
    );
    assert_eq!(flows, [e.flow_key(&state)], "another server's flow stays");
    assert!(
        keys.iter().any(|k| k.contains(":client:")),
        "the issuer's registration stays while another server uses it"
    );
    e.forget(&srv(OTHER));
    assert!(
        w.store.0.borrow().is_empty(),
        "{:?}",
        w.store.0.borrow().keys().collect::<Vec<_>>()
    );
    assert!(w.session.0.borrow().is_empty());
    assert_eq!(e.status(&srv(MCP)).state, "unknown");
}

#[test]
fn r25_a_corrupt_record_is_removed_and_nothing_else() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    w.store
        .0
        .borrow_mut()
        .insert("mcp-oauth:server:https://other.example/mcp".into(), "{not json".into());
    let statuses = e.list();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].server_url, MCP);
    assert!(
        !w.store
            .0
            .borrow()
            .contains_key("mcp-oauth:server:https://other.example/mcp")
    );
    assert_eq!(
        *w.env.warnings.borrow(),
        [(None, Warning::CorruptRecord)],
        "reported once"
    );
    assert_eq!(e.status(&srv(MCP)).state, "authorized");
}

#[test]
fn r1_no_auth_needed() {
    let w = World::new();
    w.http.json(MCP, 200, "{}");
    w.http.json(PRM, 404, "");
    let e = w.engine();
    let Ok(Begin::NotNeeded(s)) = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())) else {
        panic!()
    };
    assert_eq!(s.state, "unknown");
    let rec = block_on(e.discover(&srv(MCP))).unwrap();
    let info = serde_json::to_value(e.server_info(&rec)).unwrap();
    assert_eq!(info["requiresAuth"], false);
    assert_eq!(info.get("issuer"), None, "absent optional members are left out");
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

#[test]
fn r28_fetch_sends_the_token_to_the_servers_origin_only() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let s = FakeSend::new(&[200, 200]);
    assert_eq!(
        block_on(e.authorized_fetch(&srv(MCP), "POST", "https://mcp.example/other/path?x=1", |t| s.send(t))).unwrap(),
        200
    );
    assert_eq!(
        block_on(e.authorized_fetch(&srv(MCP), "POST", "https://elsewhere.example/mcp", |t| s.send(t))).unwrap(),
        200
    );
    assert_eq!(
        s.tokens(),
        ["at-1", "-"],
        "a token to the server's origin, none elsewhere"
    );
    // another port is another origin
    let s = FakeSend::new(&[200]);
    block_on(e.authorized_fetch(&srv(MCP), "POST", "https://mcp.example:8443/mcp", |t| s.send(t))).unwrap();
    assert_eq!(s.tokens(), ["-"]);
}

#[test]
fn r28_a_401_costs_one_refresh_and_one_retry() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    w.http.json(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600}"#,
    );
    let s = FakeSend::new(&[401, 200]);
    assert_eq!(
        block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap(),
        200
    );
    assert_eq!(s.tokens(), ["at-1", "at-2"]);
    let refreshes = w.http.urls().iter().filter(|u| u.ends_with("/token")).count();
    assert_eq!(refreshes, 2, "the code exchange and one refresh");

    // refused again after the refresh: authorization_required, no third send
    let s = FakeSend::new(&[401, 401]);
    let err = block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.server_url.as_deref()),
        ("authorization_required", Some(MCP))
    );
    assert_eq!(s.tokens().len(), 2);
}

#[test]
fn r28_without_a_token_fetch_sends_the_request_bare_and_a_401_asks_for_authorization() {
    let w = World::new();
    let s = FakeSend::new(&[200, 401]);
    assert_eq!(
        block_on(w.engine().authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap(),
        200
    );
    let err = block_on(w.engine().authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.server_url.as_deref()),
        ("authorization_required", Some(MCP))
    );
    assert_eq!(s.tokens(), ["-", "-"]);
}

/// Past the refresh skew: the next `access_token` refreshes.
fn expire(w: &World) {
    *w.env.now.borrow_mut() += 3_600_000 - 30_000;
}

#[test]
fn r27_invalid_client_drops_the_registration_too() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    expire(&w);
    w.http
        .json("https://as.example/token", 401, r#"{"error":"invalid_client"}"#);
    assert_eq!(
        block_on(e.access_token(&srv(MCP))).unwrap_err().code.as_str(),
        "authorization_required"
    );
    assert_eq!(e.status(&srv(MCP)).state, "authorization_required");
    assert_eq!(e.status(&srv(MCP)).client_id, None, "the registration is gone");
    // the next authorization registers again, without discovery
    let before = w.http.urls().len();
    assert!(matches!(
        block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())),
        Ok(Begin::Navigate { .. })
    ));
    assert_eq!(w.http.urls()[before..], ["https://as.example/reg"]);
}

#[test]
fn r27_other_refresh_failures_keep_everything() {
    for (status, body) in [(400, r#"{"error":"temporarily_unavailable"}"#), (429, ""), (503, "{}")] {
        let w = World::new();
        w.connect();
        let e = w.engine();
        expire(&w);
        w.http.route("https://as.example/token", move |_| {
            Some(Ok(HttpResponse::new(status, vec![], body)))
        });
        // the access token has not expired yet: it is still returned
        assert_eq!(
            block_on(e.access_token(&srv(MCP))).unwrap().secret(),
            "at-1",
            "{status}"
        );
        *w.env.now.borrow_mut() += 60_000;
        let err = block_on(e.access_token(&srv(MCP))).unwrap_err();
        assert_eq!((err.code.as_str(), err.status), ("server_error", Some(status)));
        let s = e.status(&srv(MCP));
        assert_eq!(
            (s.state, s.client_id.as_deref()),
            ("expired", Some("dyn-1")),
            "tokens and registration kept"
        );
    }
}

/// R26: a caller that refreshed with a token another caller (or tab) had already rotated gets
/// `invalid_grant`; the rotated tokens stand and are what it gets back.
#[test]
fn r26_a_refresh_that_lost_the_race_keeps_the_winners_tokens() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let seen = e.load_server(MCP).unwrap();
    let seen_tokens =
        serde_json::from_str(&w.vault.secrets.borrow()["mcp-oauth:tokens:https://mcp.example/mcp"]).unwrap();
    // meanwhile another tab rotated the tokens
    let winner = r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}"#;
    w.vault
        .secrets
        .borrow_mut()
        .insert("mcp-oauth:tokens:https://mcp.example/mcp".into(), winner.into());
    w.http.json(
        "https://as.example/token",
        400,
        r#"{"error":"invalid_grant","error_description":"refresh token reused"}"#,
    );
    assert_eq!(
        block_on(e.refresh(seen, seen_tokens)).unwrap().access_token.secret(),
        "at-2"
    );
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-2");
    assert_eq!(e.status(&srv(MCP)).state, "authorized");
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

/// R26: callers that find the token stale at the same moment share one refresh; with a
/// rotating server that revokes on reuse, nobody is logged out.
#[test]
fn r26_concurrent_callers_share_one_refresh_with_a_rotating_server() {
    let w = World::new();
    w.connect();
    let rotation = rotating_token_endpoint(&w);
    expire(&w);
    let e = w.engine();
    let server = srv(MCP);
    let locked_before = *w.lock.acquired.borrow();
    let results = futures::executor::block_on(futures::future::join_all((0..5).map(|_| e.access_token(&server))));
    let tokens: Vec<String> = results
        .into_iter()
        .map(|r| {
            r.map(|t| t.secret().to_string())
                .unwrap_or_else(|e| e.code.as_str().into())
        })
        .collect();
    assert_eq!(tokens, ["at-2"; 5]);
    assert_eq!((rotation.borrow().refreshes, rotation.borrow().revoked), (1, false));
    assert_eq!(
        *w.lock.acquired.borrow() - locked_before,
        5,
        "every caller took the lock"
    );
    assert_eq!(e.status(&server).state, "authorized");
}

/// R26, R28: concurrent requests refused with 401 share one refresh too, and each is retried
/// once with the new token.
#[test]
fn r26_r28_concurrent_401_retries_share_one_refresh() {
    let w = World::new();
    w.connect();
    let rotation = rotating_token_endpoint(&w);
    let e = w.engine();
    let server = srv(MCP);
    // the resource server refuses at-1 (revoked there), accepts anything newer
    let send = |c: Option<Credentials>| async move {
        let t = c.map(|c| c.token.secret().to_string()).unwrap_or_default();
        YieldNow(false).await;
        let status = if t == "at-1" { 401 } else { 200 };
        Ok::<_, McpError>(Sent {
            status,
            www_authenticate: None,
            dpop_nonce: None,
            final_url: None,
            response: t,
        })
    };
    let calls = (0..4).map(|_| e.authorized_fetch(&server, "POST", MCP, send));
    let results = futures::executor::block_on(futures::future::join_all(calls));
    let sent: Vec<String> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(sent, ["at-2"; 4]);
    assert_eq!((rotation.borrow().refreshes, rotation.borrow().revoked), (1, false));
}

/// R22, R33: a popup flow — its verifier above all — stays in this page's memory, never in
/// storage, and is taken from there once by the parameters the popup hands over.
#[test]
fn r22_r33_a_popup_flow_lives_in_memory_only_and_completes_once() {
    let w = World::new();
    let e = w.engine();
    let Ok(Begin::Navigate { state, .. }) = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    )) else {
        panic!()
    };
    let stored: Vec<String> = w
        .store
        .0
        .borrow()
        .values()
        .chain(w.session.0.borrow().values())
        .cloned()
        .collect();
    let verifier = e.popup_flows.borrow()[0].verifier.secret().to_string();
    assert!(
        stored.iter().all(|v| !v.contains(&verifier) && !v.contains(&state)),
        "nothing of the flow is stored"
    );
    let (flow, status) = callback(&e, &format!("{CB}?code=c&state={state}"));
    assert!(flow.is_some_and(|f| f.popup));
    assert_eq!(status.unwrap().state, "authorized");
    assert!(e.popup_flows.borrow().is_empty());
    assert_eq!(
        callback(&e, &format!("{CB}?code=c&state={state}"))
            .1
            .unwrap_err()
            .code
            .as_str(),
        "state_mismatch"
    );
}

/// R33: the refresh token is kept in the vault only; the record (localStorage) knows that the
/// set is refreshable, and a refresh reads the token from the vault.
#[test]
fn r33_the_refresh_token_is_kept_in_the_vault_only() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let stored: String = w.store.0.borrow().values().cloned().collect();
    assert!(!stored.contains("rt-1"), "no refresh token in storage: {stored}");
    assert!(w.vault.secrets.borrow().values().any(|v| v.contains("rt-1")));
    assert!(e.status(&srv(MCP)).refreshable);
    expire(&w);
    w.http.json(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}"#,
    );
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-2");
    assert_eq!(
        param(
            &w.http.last_to("https://as.example/token").body.unwrap(),
            "refresh_token"
        )
        .as_deref(),
        Some("rt-1")
    );
    let stored: String = w.store.0.borrow().values().cloned().collect();
    assert!(!stored.contains("rt-2") && w.vault.secrets.borrow().values().any(|v| v.contains("rt-2")));
}

/// R33: a record written before refresh tokens moved to the vault still refreshes with the
/// token it holds, and the new set goes to the vault.
#[test]
fn r33_a_record_with_its_refresh_token_inside_moves_it_to_the_vault() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let mut rec = e.load_server(MCP).unwrap();
    let legacy = r#"{"access_token":"at-1","token_type":"Bearer","expires_at":4600000,"refresh_token":"rt-legacy","scope":null}"#;
    rec.tokens = Some(serde_json::from_str(legacy).unwrap());
    (&w.store).set(&e.server_key(MCP), &rec).unwrap();
    w.vault.secrets.borrow_mut().clear();
    assert!(e.status(&srv(MCP)).refreshable);
    expire(&w);
    w.http.json(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}"#,
    );
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-2");
    assert_eq!(
        param(
            &w.http.last_to("https://as.example/token").body.unwrap(),
            "refresh_token"
        )
        .as_deref(),
        Some("rt-legacy")
    );
    let stored: String = w.store.0.borrow().values().cloned().collect();
    assert!(!stored.contains("rt-"), "{stored}");
    assert!(
        w.vault.secrets.borrow().values().any(|v| v.contains("rt-2")),
        "the new set is in the vault"
    );
}

/// R25, R33: a vault that refuses writes costs the refresh token, with a warning; the access
/// token still serves.
#[test]
fn r33_a_vault_that_refuses_writes_costs_the_refresh_token_with_a_warning() {
    let w = World::new();
    w.vault.broken.set(true);
    w.connect();
    let e = w.engine();
    let s = e.status(&srv(MCP));
    assert_eq!((s.state, s.refreshable), ("authorized", false));
    assert_eq!(
        *w.env.warnings.borrow(),
        [(Some(MCP.to_string()), Warning::StorageUnavailable)]
    );
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-1");
}

/// R29, R33: forgetting a server removes its vault entry too.
#[test]
fn r29_r33_forget_removes_the_vault_entry() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let dropped = e.forget(&srv(MCP));
    assert_eq!(
        dropped.as_deref(),
        Some("https://as.example"),
        "no other server uses the issuer"
    );
    block_on(e.forget_secrets(&srv(MCP), dropped.as_deref()));
    assert!(w.vault.secrets.borrow().is_empty());
}

/// R28, R1: a request sent without a token and refused with a challenge: the server's record
/// learns that it needs authorization and which scope, "not needed" is not kept, and the error
/// carries the scope the next `authorize` asks for.
#[test]
fn r28_a_challenge_on_a_bare_request_updates_discovery_and_names_the_scope() {
    let w = World::new();
    w.http.json(MCP, 200, "{}");
    w.http.json(PRM, 404, "");
    let e = w.engine();
    let rec = block_on(e.discover(&srv(MCP))).unwrap();
    assert!(!rec.requires_auth, "the probe was answered without authorization");
    let s = FakeSend::answering(&[(
        401,
        Some(
            r#"Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", scope="mcp:tools mcp:read""#,
        ),
    )]);
    let err = block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.scope.as_deref(), err.status),
        ("authorization_required", Some("mcp:tools mcp:read"), Some(401))
    );
    assert_eq!(e.status(&srv(MCP)).state, "authorization_required");
    // the next authorize discovers again (the metadata is served now) and asks for the
    // challenged scope
    w.http.route(MCP, |_| Some(Ok(HttpResponse::new(401, vec![], ""))));
    w.http.json(PRM, 200, r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["mcp:tools"]}"#);
    let Ok(Begin::Navigate { url, .. }) = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default()))
    else {
        panic!()
    };
    assert_eq!(
        param(url.query().unwrap(), "scope").as_deref(),
        Some("mcp:tools mcp:read")
    );
}

/// R28: a 403 `insufficient_scope` rejects with the union of the granted and the challenged
/// scopes, which the next `authorize` asks for.
#[test]
fn r28_insufficient_scope_asks_for_the_union_next_time() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let s = FakeSend::answering(&[(
        403,
        Some(r#"Bearer error="insufficient_scope", scope="mcp:admin", error_description="admin needed""#),
    )]);
    let err = block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.scope.as_deref()),
        ("insufficient_scope", Some("mcp:tools mcp:admin"))
    );
    assert_eq!(
        (err.oauth_error.as_deref(), err.description.as_deref()),
        (Some("insufficient_scope"), Some("admin needed"))
    );
    assert_eq!(s.tokens(), ["at-1"], "no refresh for a 403");
    assert_eq!(e.status(&srv(MCP)).state, "authorized", "the token stays");
    let Ok(Begin::Navigate { url, .. }) = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    )) else {
        panic!()
    };
    assert_eq!(
        param(url.query().unwrap(), "scope").as_deref(),
        Some("mcp:tools mcp:admin")
    );
    // a 403 without a Bearer challenge is the server's answer, handed back as it is
    let s = FakeSend::new(&[403]);
    assert_eq!(
        block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap(),
        403
    );
}

/// R9: a challenge naming other protected-resource metadata (the server moved to another
/// authorization server) makes discovery run again.
#[test]
fn r9_a_challenge_naming_other_metadata_makes_discovery_run_again() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let s = FakeSend::answering(&[(401, Some(r#"Bearer resource_metadata="https://mcp.example/prm-v2""#))]);
    w.http
        .json("https://as.example/token", 400, r#"{"error":"invalid_grant"}"#);
    let err = block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap_err();
    assert_eq!(err.code.as_str(), "authorization_required");
    assert!(
        e.load_server(MCP).unwrap().as_metadata.is_none(),
        "the old authorization server's metadata is dropped"
    );
    w.http.route(MCP, |_| {
        Some(Ok(HttpResponse::new(
            401,
            vec![(
                "WWW-Authenticate".into(),
                r#"Bearer resource_metadata="https://mcp.example/prm-v2""#.into(),
            )],
            "",
        )))
    });
    w.http.json(
        "https://mcp.example/prm-v2",
        200,
        r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"]}"#,
    );
    let before = w.http.urls().len();
    block_on(e.discover(&srv(MCP))).unwrap();
    assert_eq!(w.http.urls()[before..before + 2], [MCP, "https://mcp.example/prm-v2"]);
}

/// R28: step-up asks for the union, the request goes again with the new token, and after three
/// step-ups that still fall short the error stands; without a way to step up, it stands at once.
#[test]
fn r28_step_up_retries_the_request_and_stops_after_three() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    const NEED_ADMIN: &str = r#"Bearer error="insufficient_scope", scope="mcp:admin""#;
    // stepping up works the second time: two step-ups, then the request passes
    let s = FakeSend::answering(&[(403, Some(NEED_ADMIN)), (403, Some(NEED_ADMIN)), (200, None)]);
    let asked = RefCell::new(Vec::new());
    let step_up = |scope: Option<String>| {
        asked.borrow_mut().push(scope.unwrap_or_default());
        async { Ok(true) }
    };
    assert_eq!(
        block_on(e.fetch_with_step_up(&srv(MCP), "POST", MCP, |t| s.send(t), step_up)).unwrap(),
        200
    );
    assert_eq!(*asked.borrow(), ["mcp:tools mcp:admin", "mcp:tools mcp:admin"]);
    // R30: each step-up is a step event naming the scope it asks for
    let ups: Vec<String> = w
        .env
        .steps
        .borrow()
        .iter()
        .filter(|(s, _)| s == "step_up")
        .map(|(_, d)| d.clone())
        .collect();
    assert_eq!(ups, ["mcp:tools mcp:admin", "mcp:tools mcp:admin"]);
    // never enough: three step-ups, then insufficient_scope
    let s = FakeSend::answering(&[(403, Some(NEED_ADMIN)); 4]);
    let count = RefCell::new(0);
    let step_up = |_: Option<String>| {
        *count.borrow_mut() += 1;
        async { Ok(true) }
    };
    let err = block_on(e.fetch_with_step_up(&srv(MCP), "POST", MCP, |t| s.send(t), step_up)).unwrap_err();
    assert_eq!(
        (err.code.as_str(), *count.borrow(), s.tokens().len()),
        ("insufficient_scope", 3, 4)
    );
    // no user activation: the error at once, with the scope for the app's next authorize
    let s = FakeSend::answering(&[(403, Some(NEED_ADMIN))]);
    let err =
        block_on(e.fetch_with_step_up(&srv(MCP), "POST", MCP, |t| s.send(t), |_| async { Ok(false) })).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.scope.as_deref()),
        ("insufficient_scope", Some("mcp:tools mcp:admin"))
    );
}

/// R33, R13: a client secret (here from a registration that returned one) is kept in the vault,
/// never in storage, and still authenticates the token requests.
#[test]
fn r33_a_client_secret_is_kept_in_the_vault_and_still_used() {
    let w = World::new();
    w.http.json(
        "https://as.example/reg",
        201,
        r#"{"client_id":"conf-1","client_secret":"s3cret-value","token_endpoint_auth_method":"client_secret_post"}"#,
    );
    w.connect();
    let stored: String = w.store.0.borrow().values().cloned().collect();
    assert!(!stored.contains("s3cret-value"), "{stored}");
    assert_eq!(
        w.vault
            .secrets
            .borrow()
            .get("mcp-oauth:client-secret:https://as.example")
            .map(String::as_str),
        Some("s3cret-value")
    );
    let exchange = w.http.last_to("https://as.example/token").body.unwrap();
    assert_eq!(
        param(&exchange, "client_secret").as_deref(),
        Some("s3cret-value"),
        "R13: client_secret_post"
    );
    // R27: invalid_client drops the registration and its secret
    expire(&w);
    w.http
        .json("https://as.example/token", 401, r#"{"error":"invalid_client"}"#);
    let e = w.engine();
    assert_eq!(
        block_on(e.access_token(&srv(MCP))).unwrap_err().code.as_str(),
        "authorization_required"
    );
    assert!(
        w.vault.secrets.borrow().is_empty(),
        "{:?}",
        w.vault.secrets.borrow().keys().collect::<Vec<_>>()
    );
}

/// A refresh in flight while the app forgets the server: the answer stands, nothing comes back.
#[test]
fn r29_a_refresh_in_flight_does_not_bring_a_forgotten_server_back() {
    let w = World::new();
    w.connect();
    *w.http.slow.borrow_mut() = Some("https://as.example/token".into());
    w.http.json(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}"#,
    );
    expire(&w);
    let e = w.engine();
    let forget = async {
        YieldNow(false).await;
        let dropped = e.forget(&srv(MCP));
        e.forget_secrets(&srv(MCP), dropped.as_deref()).await;
    };
    let (token, ()) = futures::executor::block_on(futures::future::join(e.access_token(&srv(MCP)), forget));
    assert_eq!(token.unwrap().secret(), "at-2");
    assert_eq!(e.status(&srv(MCP)).state, "unknown");
    assert!(
        w.vault.secrets.borrow().keys().all(|k| !k.contains(":tokens:")),
        "{:?}",
        w.vault.secrets.borrow().keys().collect::<Vec<_>>()
    );
}

/// R29: a revocation waits for a refresh in flight and revokes the tokens it brought.
#[test]
fn r29_revoke_waits_for_a_refresh_in_flight_and_revokes_its_tokens() {
    let w = World::new();
    w.connect();
    let rotation = rotating_token_endpoint(&w);
    w.http.json("https://as.example/revoke", 200, "");
    expire(&w);
    let e = w.engine();
    let (token, revoked) = futures::executor::block_on(futures::future::join(
        e.access_token(&srv(MCP)),
        e.revoke(&srv(MCP), false),
    ));
    assert_eq!(token.unwrap().secret(), "at-2");
    revoked.unwrap();
    assert_eq!(rotation.borrow().refreshes, 1);
    let revoked_tokens: Vec<String> = w
        .http
        .log
        .borrow()
        .iter()
        .filter(|r| r.url.as_str().ends_with("/revoke"))
        .filter_map(|r| param(r.body.as_deref()?, "token"))
        .collect();
    assert_eq!(
        revoked_tokens,
        ["rt-2", "at-2"],
        "the rotated tokens, not the consumed ones"
    );
    assert_eq!(e.status(&srv(MCP)).state, "authorization_required");
}

/// RFC 6749 §5.1: a token response without `scope` grants the scope requested; a refresh
/// without one keeps the granted scope (and so step-up asks for the true union).
#[test]
fn r20_r28_a_response_without_scope_keeps_the_scope_known() {
    let w = World::new();
    w.http.json(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#,
    );
    w.connect();
    let e = w.engine();
    assert_eq!(
        e.status(&srv(MCP)).scope.as_deref(),
        Some("mcp:tools"),
        "the scope requested"
    );
    expire(&w);
    w.http.json(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600}"#,
    );
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-2");
    assert_eq!(
        e.status(&srv(MCP)).scope.as_deref(),
        Some("mcp:tools"),
        "kept across the refresh"
    );
}

/// R33: a record that says refreshable while the vault lost the token (a vault that did not
/// outlive the page) stops saying so at the first refresh, and asks for authorization.
#[test]
fn r33_refreshable_without_a_token_in_the_vault_asks_for_authorization() {
    let w = World::new();
    w.connect();
    w.vault.secrets.borrow_mut().clear();
    expire(&w);
    *w.env.now.borrow_mut() += 60_000;
    let e = w.engine();
    assert_eq!(
        block_on(e.access_token(&srv(MCP))).unwrap_err().code.as_str(),
        "authorization_required"
    );
    let s = e.status(&srv(MCP));
    assert_eq!((s.state, s.refreshable), ("authorization_required", false));
}

/// R33: what an earlier release kept in plain storage moves to the vault: refresh tokens and
/// client secrets; its pending flows and results (verifiers) are removed.
#[test]
fn r33_migration_moves_plain_secrets_into_the_vault() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let mut rec = e.load_server(MCP).unwrap();
    rec.tokens = Some(
        serde_json::from_str(
            r#"{"access_token":"at-1","token_type":"Bearer","expires_at":4600000,"refresh_token":"rt-plain"}"#,
        )
        .unwrap(),
    );
    (&w.store).set(&e.server_key(MCP), &rec).unwrap();
    let client = r#"{"v":1,"issuer":"https://as.example","client":{"client_id":"dyn-1","client_secret":"cs-plain","redirect_uri":"https://app.example/cb","source":"dynamic"}}"#;
    w.store
        .0
        .borrow_mut()
        .insert("mcp-oauth:client:https://as.example".into(), client.into());
    w.store
        .0
        .borrow_mut()
        .insert("mcp-oauth:flow:old".into(), r#"{"verifier":"v-plain"}"#.into());
    w.store
        .0
        .borrow_mut()
        .insert("mcp-oauth:result:old".into(), "{}".into());
    w.vault.secrets.borrow_mut().clear();
    block_on(e.migrate());
    let stored: String = w.store.0.borrow().iter().map(|(k, v)| format!("{k}={v}")).collect();
    for plain in ["rt-plain", "cs-plain", "v-plain", ":flow:", ":result:"] {
        assert!(!stored.contains(plain), "{plain} left in {stored}");
    }
    let vault: String = w.vault.secrets.borrow().values().cloned().collect();
    assert!(vault.contains("rt-plain") && vault.contains("cs-plain"), "{vault}");
    assert!(e.status(&srv(MCP)).refreshable);
}

/// R14, R6: a 2025-03-26 server with no metadata anywhere: its default endpoints, and S256.
#[test]
fn r14_without_any_metadata_the_default_endpoints_use_s256() {
    let w = World::new();
    w.http.route(MCP, |_| Some(Ok(HttpResponse::new(401, vec![], ""))));
    w.http.json(PRM, 404, "");
    w.http
        .json("https://mcp.example/register", 201, r#"{"client_id":"legacy-1"}"#);
    let e = w.engine();
    let Ok(Begin::Navigate { url, .. }) = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default()))
    else {
        panic!()
    };
    assert!(url.as_str().starts_with("https://mcp.example/authorize?"), "{url}");
    assert_eq!(
        param(url.query().unwrap(), "code_challenge_method").as_deref(),
        Some("S256")
    );
}

/// R14, R6 (issue 17): `discover()` first, then `authorize()` in a fresh instance that reads the
/// record back from storage: the stored defaults still say S256, as the in-memory ones do.
#[test]
fn r14_discover_then_authorize_without_any_metadata_uses_s256() {
    let w = World::new();
    w.http.route(MCP, |_| Some(Ok(HttpResponse::new(401, vec![], ""))));
    w.http.json(PRM, 404, "");
    w.http
        .json("https://mcp.example/register", 201, r#"{"client_id":"legacy-1"}"#);
    block_on(w.engine().discover(&srv(MCP))).unwrap();
    w.token_cache.borrow_mut().clear();
    let e = w.engine();
    let begun = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default()));
    let Ok(Begin::Navigate { url, .. }) = begun else {
        panic!("{begun:?}")
    };
    assert_eq!(
        param(url.query().unwrap(), "code_challenge_method").as_deref(),
        Some("S256")
    );
}

/// R9: the server moved to another authorization server: the token is refused, discovery runs
/// again, the client registers at the new issuer, and the old client id is never sent there.
#[test]
fn r9_after_a_migration_the_client_registers_at_the_new_issuer() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    // the resource now names another authorization server
    w.http.json(
        PRM,
        200,
        r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as2.example"]}"#,
    );
    w.http.json("https://as2.example/.well-known/oauth-authorization-server", 200, r#"{"issuer":"https://as2.example","authorization_endpoint":"https://as2.example/auth","token_endpoint":"https://as2.example/token","registration_endpoint":"https://as2.example/reg","code_challenge_methods_supported":["S256"]}"#);
    w.http.json("https://as2.example/reg", 201, r#"{"client_id":"dyn-2"}"#);
    w.http
        .json("https://as.example/token", 400, r#"{"error":"invalid_grant"}"#);
    let s = FakeSend::answering(&[(
        401,
        Some(r#"Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp""#),
    )]);
    assert_eq!(
        block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t)))
            .unwrap_err()
            .code
            .as_str(),
        "authorization_required"
    );
    let Ok(Begin::Navigate { url, .. }) = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default()))
    else {
        panic!()
    };
    assert!(url.as_str().starts_with("https://as2.example/auth?"), "{url}");
    assert_eq!(param(url.query().unwrap(), "client_id").as_deref(), Some("dyn-2"));
    assert!(w.http.urls().contains(&"https://as2.example/reg".to_string()));
}

/// R1: a probe answered 2xx, or 400/404/405 (a server of a revision that expects another first
/// request), is not the last word: protected-resource metadata decides.
#[test]
fn r1_an_open_probe_defers_to_protected_resource_metadata() {
    for status in [200, 400, 404, 405] {
        let w = World::new();
        w.http.json(MCP, status, "{}");
        let rec = block_on(w.engine().discover(&srv(MCP))).unwrap();
        assert!(
            rec.requires_auth && rec.as_metadata.is_some(),
            "{status}: the metadata says authorization is supported"
        );
        assert_eq!(w.http.urls()[1], PRM, "{status}");
    }
    // without metadata, a 400 stays an error with its status
    let w = World::new();
    w.http.json(MCP, 400, "{}");
    w.http.json(PRM, 404, "");
    let e = block_on(w.engine().discover(&srv(MCP))).unwrap_err();
    assert_eq!((e.code.as_str(), e.status), ("server_error", Some(400)));
}

// ---- DPoP (R34) ---------------------------------------------------------------------------------

const DPOP_AS_META: &str = r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg","revocation_endpoint":"https://as.example/revoke","code_challenge_methods_supported":["S256"],"dpop_signing_alg_values_supported":["ES256"]}"#;

/// The header and the claims of a compact proof.
fn proof_parts(proof: &str) -> (serde_json::Value, serde_json::Value) {
    use base64::Engine as _;
    let part = |i: usize| {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(proof.split('.').nth(i).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    (part(0), part(1))
}

/// The resource's metadata when it says it takes DPoP (RFC 9728 §2, R34 "auto").
const DPOP_PRM: &str = r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["mcp:tools"],"dpop_signing_alg_values_supported":["ES256"]}"#;

/// Both servers take DPoP; the token endpoint answers with tokens of `token_type`.
fn dpop_world(token_type: &'static str) -> World {
    let w = World::new();
    w.http.json(AS_META, 200, DPOP_AS_META);
    w.http.json(PRM, 200, DPOP_PRM);
    w.http.route("https://as.example/token", move |req| {
        let n = if param(req.body.as_deref().unwrap_or_default(), "grant_type").as_deref() == Some("refresh_token") { 2 } else { 1 };
        let body = format!(r#"{{"access_token":"at-{n}","token_type":"{token_type}","expires_in":3600,"refresh_token":"rt-{n}","scope":"mcp:tools"}}"#);
        Some(Ok(HttpResponse::new(200, vec![], Box::leak(body.into_boxed_str()))))
    });
    w
}

/// R34: a server whose authorization server lists ES256 gets proofs on the code exchange, the
/// refresh and every request to it, from one key per issuer; its bound token goes as `DPoP`.
#[test]
fn r34_proofs_on_exchange_refresh_and_requests_with_one_key_per_issuer() {
    let w = dpop_world("DPoP");
    w.connect();
    let exchange = w.http.last_to("https://as.example/token");
    let (header, claims) = proof_parts(exchange.header("dpop").expect("the code exchange carries a proof"));
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("dpop+jwt"), Some("ES256"))
    );
    assert_eq!(
        header["jwk"]["x"], "x-of-mcp-oauth:dpop:https://as.example",
        "the issuer's key"
    );
    assert_eq!(
        (claims["htm"].as_str(), claims["htu"].as_str()),
        (Some("POST"), Some("https://as.example/token"))
    );
    assert_eq!(claims["iat"].as_u64(), Some(1_000), "seconds, from the clock");
    assert!(claims.get("ath").is_none() && claims.get("nonce").is_none());
    let e = w.engine();

    // a request to the server: DPoP scheme, a proof for it with ath, a fresh jti each time
    let s = FakeSend::new(&[200, 200]);
    block_on(e.authorized_fetch(&srv(MCP), "GET", "https://mcp.example/mcp?cursor=2", |c| s.send(c))).unwrap();
    block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap();
    let sent = s.credentials();
    let first = sent[0].as_ref().unwrap();
    assert_eq!((first.scheme, first.token.secret()), ("DPoP", "at-1"));
    let (_, c1) = proof_parts(first.proof.as_deref().unwrap());
    assert_eq!(
        (c1["htm"].as_str(), c1["htu"].as_str()),
        (Some("GET"), Some(MCP)),
        "htu without the query"
    );
    assert_eq!(c1["ath"], crate::core::dpop::ath(&first.token));
    let (_, c2) = proof_parts(sent[1].as_ref().unwrap().proof.as_deref().unwrap());
    assert_ne!(c1["jti"], c2["jti"], "a fresh jti for every proof");
    assert_eq!(c2["htm"], "POST");

    // the refresh: a proof with the same key
    expire(&w);
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-2");
    let refresh = w.http.last_to("https://as.example/token");
    let (header, claims) = proof_parts(refresh.header("dpop").expect("the refresh carries a proof"));
    assert_eq!(header["jwk"]["x"], "x-of-mcp-oauth:dpop:https://as.example");
    assert_eq!(claims["htu"], "https://as.example/token");

    // forget: the issuer's key goes with its last server
    let dropped = e.forget(&srv(MCP));
    block_on(e.forget_secrets(&srv(MCP), dropped.as_deref()));
    assert!(w.vault.dpop_keys.borrow().is_empty(), "the key is deleted");
}

/// R34: a token the server did not bind (`token_type` Bearer) goes as Bearer, with no proof; a
/// server without DPoP gets no proof at the token endpoint either.
#[test]
fn r34_the_dpop_or_bearer_scheme_follows_the_token_type() {
    let w = dpop_world("Bearer");
    w.connect();
    let e = w.engine();
    let s = FakeSend::new(&[200]);
    block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap();
    let c = s.credentials()[0].clone().unwrap();
    assert_eq!((c.scheme, c.proof.is_none()), ("Bearer", true));

    let w = World::new();
    w.connect();
    assert!(
        w.http.last_to("https://as.example/token").header("dpop").is_none(),
        "no DPoP where the server offers none"
    );
    assert!(w.vault.dpop_keys.borrow().is_empty(), "and no key is made");
}

/// R34, RFC 9449 §8: an authorization server that answers `use_dpop_nonce` gets one retry with
/// its nonce, and the nonce is kept for the next proof to that origin.
#[test]
fn r34_nonce_retry_at_the_authorization_server() {
    let w = dpop_world("DPoP");
    w.http.route("https://as.example/token", |req| {
        let (_, claims) = proof_parts(req.header("dpop")?);
        let nonce = |n: &'static str| vec![("dpop-nonce".to_string(), n.to_string())];
        Some(Ok(match claims["nonce"].as_str() {
            Some("as-n1") => HttpResponse::new(
                200,
                nonce("as-n2"),
                r#"{"access_token":"at-1","token_type":"DPoP","expires_in":3600,"refresh_token":"rt-1"}"#,
            ),
            Some("as-n2") => HttpResponse::new(
                200,
                vec![],
                r#"{"access_token":"at-2","token_type":"DPoP","expires_in":3600,"refresh_token":"rt-2"}"#,
            ),
            _ => HttpResponse::new(
                400,
                nonce("as-n1"),
                r#"{"error":"use_dpop_nonce","error_description":"nonce required"}"#,
            ),
        }))
    });
    // one engine throughout: the nonces live as long as the page's McpAuth
    let e = w.engine();
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    callback(&e, &format!("{CB}?code=the-code&state={state}")).1.unwrap();
    let tokens: Vec<_> = w
        .http
        .log
        .borrow()
        .iter()
        .filter(|r| r.url.as_str() == "https://as.example/token")
        .map(|r| proof_parts(r.header("dpop").unwrap()).1)
        .collect();
    assert_eq!(tokens.len(), 2, "one retry");
    assert_eq!(tokens[1]["nonce"], "as-n1");
    assert_ne!(tokens[0]["jti"], tokens[1]["jti"]);
    // the nonce of the last answer serves the refresh at once
    expire(&w);
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-2");
    let (_, refresh) = proof_parts(w.http.last_to("https://as.example/token").header("dpop").unwrap());
    assert_eq!(refresh["nonce"], "as-n2");
    // a server that keeps asking gets no second retry: the error stands
    let w = dpop_world("DPoP");
    w.http.route("https://as.example/token", |_| {
        Some(Ok(HttpResponse::new(
            400,
            vec![("dpop-nonce".into(), "again".into())],
            r#"{"error":"use_dpop_nonce"}"#,
        )))
    });
    let e = w.engine();
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    let (_, status) = callback(&e, &format!("{CB}?code=the-code&state={state}"));
    assert!(status.is_err());
    assert_eq!(
        w.http
            .urls()
            .iter()
            .filter(|u| *u == "https://as.example/token")
            .count(),
        2
    );
}

/// R34, RFC 9449 §9: a resource server's 401 with `DPoP error="use_dpop_nonce"` gets one retry
/// whose proof carries its nonce; the nonce is kept for the next request there.
#[test]
fn r34_nonce_retry_at_the_resource_server() {
    let w = dpop_world("DPoP");
    w.connect();
    let e = w.engine();
    const WANTS_NONCE: &str = r#"DPoP error="use_dpop_nonce", error_description="nonce required", algs="ES256""#;
    let s = FakeSend::answering_with_nonces(&[
        (401, Some(WANTS_NONCE), Some("rs-n1")),
        (200, None, Some("rs-n2")),
        (200, None, None),
    ]);
    assert_eq!(
        block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap(),
        200
    );
    block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap();
    let nonces: Vec<_> = s
        .credentials()
        .iter()
        .map(|c| proof_parts(c.as_ref().unwrap().proof.as_deref().unwrap()).1["nonce"].clone())
        .collect();
    assert_eq!(nonces, [serde_json::Value::Null, "rs-n1".into(), "rs-n2".into()]);
    assert!(
        w.http
            .urls()
            .iter()
            .all(|u| !u.ends_with("/token") || u == "https://as.example/token")
    );
    assert_eq!(
        w.http
            .urls()
            .iter()
            .filter(|u| *u == "https://as.example/token")
            .count(),
        1,
        "a nonce retry is not a refresh"
    );
}

/// R26, R34: callers racing on a stale DPoP-bound token share one refresh, whose proof is made
/// with the issuer's key, and all get the new token as DPoP.
#[test]
fn r26_r34_the_single_flight_holds_for_dpop_bound_tokens() {
    let w = dpop_world("DPoP");
    w.connect();
    expire(&w);
    let e = w.engine();
    let server = srv(MCP);
    let s = FakeSend::new(&[200; 5]);
    let results = futures::executor::block_on(futures::future::join_all(
        (0..5).map(|_| e.authorized_fetch(&server, "POST", MCP, |c| s.send(c))),
    ));
    assert!(results.iter().all(|r| r.as_ref().is_ok_and(|s| *s == 200)));
    let refreshes = w
        .http
        .log
        .borrow()
        .iter()
        .filter(|r| r.url.as_str() == "https://as.example/token" && r.header("dpop").is_some())
        .count();
    assert_eq!(refreshes, 2, "the code exchange and one refresh");
    assert!(s.credentials().iter().all(|c| {
        c.as_ref()
            .is_some_and(|c| c.scheme == "DPoP" && c.token.secret() == "at-2")
    }));
}

/// R26 (issue 13): a fresh token is served from memory, without reading or parsing storage; a
/// write in this tab or another (`uncache`, on the `storage` event) makes the next call read
/// again.
#[test]
fn r26_a_fresh_token_costs_no_storage_read_until_something_writes() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-1");
    // what is stored is now unreadable: a read would notice (and report a corrupt record)
    let key = format!("mcp-oauth:server:{MCP}");
    let kept = w.store.0.borrow().get(&key).cloned().unwrap();
    w.store.0.borrow_mut().insert(key.clone(), "not json".into());
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-1");
    assert!(w.env.warnings.borrow().is_empty(), "storage was not read");
    // another tab replaced the record: after the storage event, the next call reads it
    w.store
        .0
        .borrow_mut()
        .insert(key.clone(), kept.replace("at-1", "at-other-tab"));
    e.uncache(MCP);
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-other-tab");
    // this tab's own writes (a revocation here) are seen at once
    w.http.json("https://as.example/revoke", 200, "");
    block_on(e.revoke(&srv(MCP), false)).unwrap();
    assert_eq!(
        block_on(e.access_token(&srv(MCP))).unwrap_err().code.as_str(),
        "authorization_required"
    );
}

/// R34: a token endpoint and a resource on one origin keep their own nonces: a refresh's
/// `DPoP-Nonce` does not replace the one the resource server gave.
#[test]
fn r34_an_origin_shared_by_both_servers_keeps_two_nonces() {
    let w = World::new();
    w.http.json(PRM, 200, DPOP_PRM);
    w.http.json(AS_META, 200, r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://mcp.example/token","registration_endpoint":"https://as.example/reg","code_challenge_methods_supported":["S256"],"dpop_signing_alg_values_supported":["ES256"]}"#);
    w.http.route("https://mcp.example/token", |req| {
        let n = if param(req.body.as_deref().unwrap_or_default(), "grant_type").as_deref() == Some("refresh_token") {
            2
        } else {
            1
        };
        let body = if n == 1 {
            r#"{"access_token":"at-1","token_type":"DPoP","expires_in":3600,"refresh_token":"rt-1"}"#
        } else {
            r#"{"access_token":"at-2","token_type":"DPoP","expires_in":3600,"refresh_token":"rt-2"}"#
        };
        Some(Ok(HttpResponse::new(
            200,
            vec![("dpop-nonce".into(), format!("token-n{n}"))],
            body,
        )))
    });
    let e = w.engine();
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    callback(&e, &format!("{CB}?code=the-code&state={state}")).1.unwrap();
    let s = FakeSend::answering_with_nonces(&[(200, None, Some("resource-n1")), (200, None, None)]);
    block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap();
    expire(&w);
    block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap();
    let (_, refresh) = proof_parts(w.http.last_to("https://mcp.example/token").header("dpop").unwrap());
    assert_eq!(refresh["nonce"], "token-n1", "the token endpoint's own nonce");
    let (_, second) = proof_parts(s.credentials()[1].as_ref().unwrap().proof.as_deref().unwrap());
    assert_eq!(
        second["nonce"], "resource-n1",
        "the resource server's own nonce, not the refresh's"
    );
}

/// R28, R34: a DPoP resource server's refusal in its own scheme (RFC 9449 §7.1) is a step-up
/// like a Bearer one.
#[test]
fn r28_r34_a_dpop_scheme_insufficient_scope_steps_up() {
    let w = dpop_world("DPoP");
    w.connect();
    let e = w.engine();
    let s = FakeSend::answering(&[
        (
            403,
            Some(r#"DPoP error="insufficient_scope", scope="mcp:admin", algs="ES256""#),
        ),
        (200, None),
    ]);
    let asked = RefCell::new(Vec::new());
    let step_up = |scope: Option<String>| {
        asked.borrow_mut().push(scope.unwrap_or_default());
        async { Ok(true) }
    };
    assert_eq!(
        block_on(e.fetch_with_step_up(&srv(MCP), "POST", MCP, |c| s.send(c), step_up)).unwrap(),
        200
    );
    assert_eq!(*asked.borrow(), ["mcp:tools mcp:admin"]);
}

/// R26, R29: two instances of one page on the same storage share their token copies: a
/// revocation by one is seen by the other at once (no `storage` event reaches the same page).
#[test]
fn r26_r29_instances_of_a_page_share_their_token_copies() {
    let w = World::new();
    w.connect();
    let (a, b) = (w.engine(), w.engine());
    assert_eq!(block_on(a.access_token(&srv(MCP))).unwrap().secret(), "at-1");
    w.http.json("https://as.example/revoke", 200, "");
    block_on(b.revoke(&srv(MCP), false)).unwrap();
    assert_eq!(a.fresh_cached_token(MCP), None);
    assert_eq!(
        block_on(a.access_token(&srv(MCP))).unwrap_err().code.as_str(),
        "authorization_required"
    );
}

/// The token endpoint of a DPoP-capable authorization server that binds a token when the
/// exchange carries a proof (RFC 9449 §5), and issues a Bearer token otherwise — as oidc-provider
/// does at its defaults.
fn dpop_capable_as(w: &World) {
    w.http.json(AS_META, 200, DPOP_AS_META);
    w.http.route("https://as.example/token", |req| {
        let n = if param(req.body.as_deref().unwrap_or_default(), "grant_type").as_deref() == Some("refresh_token") { 2 } else { 1 };
        let token_type = if req.header("dpop").is_some() { "DPoP" } else { "Bearer" };
        let body = format!(r#"{{"access_token":"at-{n}","token_type":"{token_type}","expires_in":3600,"refresh_token":"rt-{n}","scope":"mcp:tools"}}"#);
        Some(Ok(HttpResponse::new(200, vec![], Box::leak(body.into_boxed_str()))))
    });
}

/// R34 (issue 17, critical): an authorization server that merely supports DPoP — oidc-provider
/// at its defaults lists ES256 — does not make a Bearer-only MCP server unusable: in "auto" the
/// tokens are Bearer, no key is made, no proof is sent anywhere.
#[test]
fn r34_auto_keeps_bearer_for_a_bearer_only_resource_behind_a_dpop_capable_as() {
    let w = World::new();
    dpop_capable_as(&w);
    w.connect();
    assert!(
        w.http.last_to("https://as.example/token").header("dpop").is_none(),
        "no proof on the code exchange"
    );
    let e = w.engine();
    let s = FakeSend::new(&[200]);
    assert_eq!(
        block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap(),
        200
    );
    let c = s.credentials()[0].clone().unwrap();
    assert_eq!(
        (c.scheme, c.token.secret(), c.proof.is_none()),
        ("Bearer", "at-1", true)
    );
    expire(&w);
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-2");
    assert!(
        w.http.last_to("https://as.example/token").header("dpop").is_none(),
        "no proof on the refresh"
    );
    assert!(w.vault.dpop_keys.borrow().is_empty(), "no DPoP key was made");
}

/// R34: the `dpop` mode decides, through the whole flow: "auto" binds where the resource's
/// metadata says it takes DPoP, "always" wherever the authorization server lists ES256, "never"
/// nowhere.
#[test]
fn r34_each_dpop_mode_through_the_flow() {
    use crate::core::dpop::DpopMode::{Always, Auto, Never};
    for (mode, resource_says, bound) in [
        (Auto, true, true),
        (Auto, false, false),
        (Always, false, true),
        (Always, true, true),
        (Never, true, false),
        (Never, false, false),
    ] {
        let w = World::new();
        dpop_capable_as(&w);
        if resource_says {
            w.http.json(PRM, 200, DPOP_PRM);
        }
        let mut e = w.engine();
        e.config.dpop = mode;
        let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
            &srv(MCP),
            AuthorizeOptions {
                popup: true,
                ..Default::default()
            },
        ))
        .unwrap() else {
            panic!()
        };
        callback(&e, &format!("{CB}?code=the-code&state={state}")).1.unwrap();
        let case = format!("{mode:?}, resource says DPoP: {resource_says}");
        assert_eq!(
            w.http.last_to("https://as.example/token").header("dpop").is_some(),
            bound,
            "{case}: the exchange's proof"
        );
        let s = FakeSend::new(&[200]);
        block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap();
        let c = s.credentials()[0].clone().unwrap();
        assert_eq!(
            (c.scheme, c.proof.is_some()),
            (if bound { "DPoP" } else { "Bearer" }, bound),
            "{case}: the request"
        );
    }
}

/// R34: tokens already bound stay bound until replaced: with "never" set later, the bound
/// refresh token is still refreshed with a proof from the same key, and sent as DPoP.
#[test]
fn r34_tokens_already_bound_stay_bound_until_replaced() {
    let w = World::new();
    dpop_capable_as(&w);
    w.http.json(PRM, 200, DPOP_PRM);
    w.connect();
    let mut e = w.engine();
    e.config.dpop = crate::core::dpop::DpopMode::Never;
    expire(&w);
    let s = FakeSend::new(&[200]);
    block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap();
    let (header, _) = proof_parts(
        w.http
            .last_to("https://as.example/token")
            .header("dpop")
            .expect("the bound refresh token's proof"),
    );
    assert_eq!(header["jwk"]["x"], "x-of-mcp-oauth:dpop:https://as.example");
    let c = s.credentials()[0].clone().unwrap();
    assert_eq!(
        (c.scheme, c.token.secret()),
        ("DPoP", "at-2"),
        "the fake AS bound the new token to the proof's key"
    );
}

/// R34: a DPoP-bound token refused by a resource whose challenge offers only Bearer ends in a
/// typed error that says the server does not take DPoP tokens and names `dpop: "never"`; a
/// refusal whose challenge offers DPoP too is an ordinary one.
#[test]
fn r34_a_bound_token_refused_by_a_bearer_only_server_says_so() {
    let w = World::new();
    dpop_capable_as(&w);
    let mut e = w.engine();
    e.config.dpop = crate::core::dpop::DpopMode::Always;
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    callback(&e, &format!("{CB}?code=the-code&state={state}")).1.unwrap();
    const BEARER_ONLY: &str = r#"Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="unsupported authorization scheme""#;
    // the first refusal costs a refresh and a retry, then the refusal stands
    let s = FakeSend::answering(&[(401, Some(BEARER_ONLY)), (401, Some(BEARER_ONLY))]);
    let err = block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap_err();
    assert_eq!(err.code.as_str(), "authorization_required");
    assert!(err.message.contains("does not take DPoP"), "{}", err.message);
    assert!(err.message.contains(r#"dpop: "never""#), "{}", err.message);
    assert!(
        err.message.contains("invalid_token"),
        "the server's words: {}",
        err.message
    );
    assert_eq!(err.oauth_error.as_deref(), Some("invalid_token"));

    // a challenge that offers DPoP too: not this case
    let w = dpop_world("DPoP");
    w.connect();
    let e = w.engine();
    const BOTH: &str = r#"Bearer error="invalid_token", DPoP algs="ES256""#;
    let s = FakeSend::answering(&[(401, Some(BOTH)), (401, Some(BOTH))]);
    let err = block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |c| s.send(c))).unwrap_err();
    assert_eq!(err.code.as_str(), "authorization_required");
    assert!(!err.message.contains("does not take DPoP"), "{}", err.message);
}

/// R16 (issue 17): `offlineAccess` adds `offline_access` to the requested scope — the resource's
/// scope, a challenge's, or the app's own — only where the authorization server lists it.
#[test]
fn r16_offline_access_is_asked_for_when_the_app_wants_it_and_the_server_lists_it() {
    const LISTS: &str = r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg","code_challenge_methods_supported":["S256"],"scopes_supported":["openid","mcp:tools","offline_access"]}"#;
    let scope_of = |as_meta: Option<&'static str>, offline: bool, scope: Option<&str>| {
        let w = World::new();
        if let Some(m) = as_meta {
            w.http.json(AS_META, 200, m);
        }
        let mut e = w.engine();
        e.config.offline_access = offline;
        let opts = AuthorizeOptions {
            scope: scope.map(str::to_string),
            ..Default::default()
        };
        let Ok(Begin::Navigate { url, .. }) = block_on(e.begin_authorization(&srv(MCP), opts)) else {
            panic!()
        };
        let reg = w
            .http
            .log
            .borrow()
            .iter()
            .find(|r| r.url.as_str() == "https://as.example/reg")
            .and_then(|r| r.body.clone());
        let registered: serde_json::Value = serde_json::from_str(reg.as_deref().unwrap_or("{}")).unwrap();
        (
            param(url.query().unwrap(), "scope"),
            registered["scope"].as_str().map(str::to_string),
        )
    };
    let (asked, registered) = scope_of(Some(LISTS), true, None);
    assert_eq!(asked.as_deref(), Some("mcp:tools offline_access"));
    assert_eq!(
        registered.as_deref(),
        Some("mcp:tools offline_access"),
        "R12: the registration covers it too"
    );
    assert_eq!(
        scope_of(Some(LISTS), false, None).0.as_deref(),
        Some("mcp:tools"),
        "not asked for"
    );
    assert_eq!(
        scope_of(None, true, None).0.as_deref(),
        Some("mcp:tools"),
        "the server does not list it"
    );
    assert_eq!(
        scope_of(Some(LISTS), true, Some("mcp:admin")).0.as_deref(),
        Some("mcp:admin offline_access"),
        "with the app's own scope"
    );
    assert_eq!(
        scope_of(Some(LISTS), true, Some("offline_access mcp:tools"))
            .0
            .as_deref(),
        Some("offline_access mcp:tools"),
        "once"
    );
}

/// R14, R38 (issue 17): a list without S256 is refused whatever `allowMissingPkceMetadata`
/// says, and the message quotes the list and says the option does not cover it.
#[test]
fn r14_r38_a_list_without_s256_is_named_as_such() {
    let w = World::new();
    w.http.json(AS_META, 200, r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg","code_challenge_methods_supported":["plain"]}"#);
    let mut e = w.engine();
    e.config.allow_missing_pkce = true;
    let err = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())).unwrap_err();
    assert_eq!(err.code.as_str(), "pkce_unsupported");
    assert!(
        err.message.contains("lists [plain] but not S256") && err.message.contains("only covers a missing list"),
        "{}",
        err.message
    );
}

/// R38 (issue 17): errors quote what the server said — an OAuth error's `error` and
/// `error_description`, else the start of the body — at the token endpoint (a 403 with a text
/// body from an origin check), at registration, and for the exchange's OAuth errors.
#[test]
fn r38_errors_carry_the_servers_words() {
    let w = World::new();
    w.http.route("https://as.example/token", |_| {
        Some(Ok(HttpResponse::new(403, vec![], "Invalid origin\n")))
    });
    let e = w.engine();
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    let err = callback(&e, &format!("{CB}?code=the-code&state={state}"))
        .1
        .unwrap_err();
    assert_eq!((err.code.as_str(), err.status), ("server_error", Some(403)));
    assert_eq!(
        err.message,
        r#"unexpected HTTP status 403; the server said "Invalid origin""#
    );

    let w = World::new();
    w.http.json(
        "https://as.example/token",
        400,
        r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
    );
    let e = w.engine();
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    let err = callback(&e, &format!("{CB}?code=the-code&state={state}"))
        .1
        .unwrap_err();
    assert_eq!(err.code.as_str(), "authorization_failed");
    assert!(
        err.message
            .contains(r#"the server said "invalid_grant: grant request is invalid""#),
        "{}",
        err.message
    );
    assert_eq!(
        (err.oauth_error.as_deref(), err.description.as_deref()),
        (Some("invalid_grant"), Some("grant request is invalid"))
    );

    let w = World::new();
    w.http.json(
        "https://as.example/reg",
        400,
        r#"{"error":"invalid_redirect_uri","error_description":"redirect_uris must be https"}"#,
    );
    let err = block_on(w.engine().begin_authorization(&srv(MCP), AuthorizeOptions::default())).unwrap_err();
    assert_eq!(err.code.as_str(), "registration_failed");
    assert!(
        err.message
            .contains(r#""invalid_redirect_uri: redirect_uris must be https""#),
        "{}",
        err.message
    );
}

/// F2 (R24, R25, issue 18): with `storage: "session"` the store *is* the tab's sessionStorage,
/// where a full-page redirect's flow waits: the callback page's `new McpAuth` (whose migration
/// runs first) keeps that flow, and the callback completes.
#[test]
fn r24_r25_session_storage_with_a_full_page_redirect_completes() {
    let w = World::new();
    let session_engine = || {
        let mut e = w.engine();
        e.store = &w.session;
        e
    };
    let e = session_engine();
    let Begin::Navigate { state, .. } =
        block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())).unwrap()
    else {
        panic!()
    };
    assert!(
        w.session.0.borrow().contains_key(&format!("mcp-oauth:flow:{state}")),
        "the flow waits in sessionStorage"
    );
    // the callback page: a new instance, whose migration runs before handleCallback
    let page = session_engine();
    block_on(page.migrate());
    let (flow, status) = callback(&page, &format!("{CB}?code=the-code&state={state}"));
    assert!(flow.is_some(), "the migration kept the flow");
    assert_eq!(status.unwrap().state, "authorized");
    // with localStorage as the store, a flow key there is an earlier release's: removed
    w.store
        .0
        .borrow_mut()
        .insert("mcp-oauth:flow:old".into(), r#"{"verifier":"v-plain"}"#.into());
    block_on(w.engine().migrate());
    assert!(!w.store.0.borrow().contains_key("mcp-oauth:flow:old"));
}

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

fn nothing_went_to_a_token_endpoint_or_was_kept(w: &World, e: &TestEngine<'_>) {
    let urls = w.http.urls();
    assert!(
        !urls.iter().any(|u| u.ends_with("/token")),
        "no token request at all: {urls:?}"
    );
    for r in w.http.log.borrow().iter() {
        assert!(
            !r.url.as_str().starts_with("https://evil.example/") || r.header("authorization").is_none(),
            "no credential to the attacker"
        );
        assert!(
            !r.body.as_deref().unwrap_or_default().contains("the-code"),
            "the code went nowhere: {}",
            r.url
        );
    }
    assert!(e.load_server(MCP).is_none_or(|r| r.tokens.is_none()), "nothing stored");
    assert!(
        !w.vault.secrets.borrow().keys().any(|k| k.contains(":tokens:")),
        "no tokens in the vault"
    );
}

/// F1 (R9, R18, R13): a rediscovery during sign-in points the record at the attacker's
/// authorization server: the callback (with the honest issuer's `iss`) is an `issuer_mismatch`,
/// and the code, the verifier and the honest issuer's client secret go nowhere.
#[test]
fn r9_r18_f1_a_rediscovery_during_sign_in_gets_no_code_verifier_or_secret() {
    let w = mix_up_world();
    let e = confidential(&w);
    let Begin::Navigate { url, state } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    assert!(url.as_str().starts_with("https://as.example/auth?"));
    // while the user signs in at as.example: M's challenge, and the app's discover(M)
    w.http.route(MCP, |_| {
        Some(Ok(HttpResponse::new(
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(r#"Bearer resource_metadata="{EVIL_PRM}""#),
            )],
            "",
        )))
    });
    challenge_with_moved_metadata(&e);
    assert_eq!(
        block_on(e.discover(&srv(MCP))).unwrap().issuer.as_deref(),
        Some("https://evil.example")
    );
    let (_, result) = callback(
        &e,
        &format!("{CB}?code=the-code&state={state}&iss=https%3A%2F%2Fas.example"),
    );
    let err = result.unwrap_err();
    assert_eq!(err.code.as_str(), "issuer_mismatch", "{}", err.message);
    assert!(
        err.message.contains("https://as.example") && err.message.contains("https://evil.example"),
        "{}",
        err.message
    );
    nothing_went_to_a_token_endpoint_or_was_kept(&w, &e);
}

/// F1, the second trigger: `forget(M)` and a rediscovery (another tab) during sign-in.
#[test]
fn r9_r18_f1_forget_and_rediscovery_during_sign_in_keeps_nothing() {
    let w = mix_up_world();
    let e = confidential(&w);
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    // another tab: forget, then M's metadata now names evil.example
    let other_tab = confidential(&w);
    other_tab.forget(&srv(MCP));
    w.http.route(MCP, |_| {
        Some(Ok(HttpResponse::new(
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(r#"Bearer resource_metadata="{EVIL_PRM}""#),
            )],
            "",
        )))
    });
    block_on(other_tab.discover(&srv(MCP))).unwrap();
    let err = callback(
        &e,
        &format!("{CB}?code=the-code&state={state}&iss=https%3A%2F%2Fas.example"),
    )
    .1
    .unwrap_err();
    assert_eq!(err.code.as_str(), "issuer_mismatch");
    nothing_went_to_a_token_endpoint_or_was_kept(&w, &e);
    // forgotten and not rediscovered: nothing is kept either
    let w = mix_up_world();
    let e = confidential(&w);
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    e.forget(&srv(MCP));
    let err = callback(&e, &format!("{CB}?code=the-code&state={state}"))
        .1
        .unwrap_err();
    assert_eq!(err.code.as_str(), "state_mismatch");
    nothing_went_to_a_token_endpoint_or_was_kept(&w, &e);
}

/// F1 (R13, R34): the exchange uses the endpoint, authentication and DPoP decision of the
/// flow's issuer as they were when the flow began, even when the record's metadata is gone by
/// the callback (a challenge cleared it and nothing rediscovered yet): the honest secret goes
/// to the honest token endpoint only.
#[test]
fn r13_f1_the_exchange_uses_what_the_flow_began_with() {
    let w = mix_up_world();
    let e = confidential(&w);
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    challenge_with_moved_metadata(&e);
    assert!(
        e.load_server(MCP).unwrap().as_metadata.is_none(),
        "the challenge cleared the metadata"
    );
    let status = callback(&e, &format!("{CB}?code=the-code&state={state}")).1.unwrap();
    assert_eq!(status.state, "authorized");
    let exchange = w.http.last_to("https://as.example/token");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("honest-app:s3cr3t-of-as1");
    assert_eq!(
        exchange.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert!(
        !w.http.urls().iter().any(|u| u.starts_with("https://evil.example")),
        "{:?}",
        w.http.urls()
    );
}

/// F1 (R13, R33): a record whose metadata is not its issuer's (written by hand, or by an older
/// release) sends that issuer's client and refresh token to nobody: the refresh asks for
/// authorization, the revocation reaches nothing.
#[test]
fn r13_f1_a_client_goes_only_to_its_issuers_endpoints() {
    let w = mix_up_world();
    w.connect();
    let e = w.engine();
    let key = e.server_key(MCP);
    let mut rec = e.load_server(MCP).unwrap();
    let evil = r#"{"issuer":"https://evil.example","authorization_endpoint":"https://evil.example/auth","token_endpoint":"https://evil.example/token","revocation_endpoint":"https://evil.example/revoke"}"#;
    rec.as_metadata = Some(Box::new(serde_json::from_str(evil).unwrap()));
    (&w.store).set(&key, &rec).unwrap();
    e.uncache(MCP);
    expire(&w);
    assert_eq!(
        block_on(e.access_token(&srv(MCP))).unwrap_err().code.as_str(),
        "authorization_required"
    );
    block_on(e.revoke(&srv(MCP), false)).unwrap();
    assert!(
        !w.http.urls().iter().any(|u| u.starts_with("https://evil.example")),
        "{:?}",
        w.http.urls()
    );
}

/// F6 (R12, R9, issue 18): the first server on an authorization server does not fix the shared
/// registration's scope for all: a server whose scope the stored registration does not cover
/// gets a registration for both, and its authorization uses it.
#[test]
fn r12_f6_a_registration_that_cannot_serve_a_servers_scope_is_replaced() {
    const H: &str = "https://h.example/mcp";
    const H_PRM: &str = "https://h.example/.well-known/oauth-protected-resource/mcp";
    let w = World::new();
    // M: the first server, whose resource lists only mcp:read
    w.http.json(PRM, 200, r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["mcp:read"]}"#);
    w.connect();
    let first: serde_json::Value =
        serde_json::from_str(w.http.last_to("https://as.example/reg").body.as_deref().unwrap()).unwrap();
    assert_eq!(first["scope"], "mcp:read");
    // H: an honest server on the same authorization server, needing mcp:write
    w.http.route(H, |_| {
        Some(Ok(HttpResponse::new(
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(r#"Bearer resource_metadata="{H_PRM}""#),
            )],
            "",
        )))
    });
    w.http.json(H_PRM, 200, r#"{"resource":"https://h.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["mcp:write"]}"#);
    w.http.json(
        "https://as.example/reg",
        201,
        r#"{"client_id":"dyn-2","redirect_uris":["https://app.example/cb"]}"#,
    );
    let e = w.engine();
    let Begin::Navigate { url, .. } = block_on(e.begin_authorization(&srv(H), AuthorizeOptions::default())).unwrap()
    else {
        panic!()
    };
    let second: serde_json::Value =
        serde_json::from_str(w.http.last_to("https://as.example/reg").body.as_deref().unwrap()).unwrap();
    assert_eq!(
        second["scope"], "mcp:read mcp:write",
        "registered again, for both servers' scopes"
    );
    assert_eq!(param(url.query().unwrap(), "client_id").as_deref(), Some("dyn-2"));
    // a server whose scope the registration covers reuses it
    let regs = w.http.urls().iter().filter(|u| *u == "https://as.example/reg").count();
    let Begin::Navigate { url, .. } = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())).unwrap()
    else {
        panic!()
    };
    assert_eq!(param(url.query().unwrap(), "client_id").as_deref(), Some("dyn-2"));
    assert_eq!(
        w.http.urls().iter().filter(|u| *u == "https://as.example/reg").count(),
        regs,
        "no third registration"
    );
}

/// F4 (R25, issue 18): a server whose metadata, even cut to the members this client reads,
/// would take more than the record bound is refused with a typed error, keeps nothing, and
/// leaves another server's connection alone.
#[test]
fn r25_f4_one_servers_metadata_cannot_fill_storage() {
    let w = World::new();
    w.connect();
    let algs: Vec<String> = (0..10_000).map(|i| format!("alg-{i:05}")).collect();
    let prm = serde_json::json!({"resource": "https://big.example/mcp", "authorization_servers": ["https://as.example"], "dpop_signing_alg_values_supported": algs});
    const BIG: &str = "https://big.example/mcp";
    const BIG_PRM: &str = "https://big.example/.well-known/oauth-protected-resource/mcp";
    w.http.route(BIG, |_| {
        Some(Ok(HttpResponse::new(
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(r#"Bearer resource_metadata="{BIG_PRM}""#),
            )],
            "",
        )))
    });
    w.http.json(BIG_PRM, 200, Box::leak(prm.to_string().into_boxed_str()));
    let e = w.engine();
    let err = block_on(e.discover(&srv(BIG))).unwrap_err();
    assert_eq!(err.code.as_str(), "invalid_response");
    assert!(err.message.contains("too large to keep"), "{}", err.message);
    assert!(e.load_server(BIG).is_none(), "nothing kept");
    assert_eq!(e.status(&srv(MCP)).state, "authorized", "the other server is untouched");
}

/// R32 (issue 18, F3): scopes a server sends are read up to a cap, never in quadratic time: a
/// resource listing 5 000 scopes is refused as an `invalid_response` that says so, and nothing
/// is registered or asked for. (40 000, which froze Chromium for 20 s, no longer fit in a
/// metadata body the library reads: see `r25_a_response_body_past_256_kb_is_refused`.)
#[test]
fn r32_a_resource_listing_5000_scopes_is_refused_at_the_cap() {
    let w = World::new();
    let scopes: Vec<String> = (0..5_000).map(|i| format!("scope:{i}")).collect();
    let prm = serde_json::json!({"resource": MCP, "authorization_servers": ["https://as.example"], "scopes_supported": scopes}).to_string();
    w.http
        .route(PRM, move |_| Some(Ok(HttpResponse::new(200, vec![], prm.clone()))));
    let err = block_on(w.engine().begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.server_url.as_deref()),
        ("invalid_response", Some(MCP))
    );
    assert!(err.message.contains("more than 256 scopes"), "{}", err.message);
    assert!(
        !w.http.urls().iter().any(|u| u == "https://as.example/reg"),
        "nothing registered"
    );
}

/// R32, R28 (issue 18, F3): a 403 `insufficient_scope` challenge naming 40 000 scopes is refused
/// at the cap as an `invalid_response`; the record keeps what it had.
#[test]
fn r32_a_403_challenge_with_40k_scopes_is_refused_at_the_cap() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let scope = (0..40_000).map(|i| format!("scope:{i}")).collect::<Vec<_>>().join(" ");
    let header: &'static str =
        Box::leak(format!(r#"Bearer error="insufficient_scope", scope="{scope}""#).into_boxed_str());
    let s = FakeSend::answering(&[(403, Some(header))]);
    let err = block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap_err();
    assert_eq!(err.code.as_str(), "invalid_response");
    assert!(err.message.contains("more than 256 scopes"), "{}", err.message);
    assert_eq!(
        e.load_server(MCP).unwrap().challenge_scope,
        None,
        "no scope stored from that challenge"
    );
    assert_eq!(e.status(&srv(MCP)).state, "authorized");
}

/// R25, R30 (issue 18, F5): a record an older release wrote with an expiry past 2^53 ms (which
/// JS cannot hold exactly, so handing it to JS failed `list()` for every server) loads with the
/// expiry clamped to `Number.MAX_SAFE_INTEGER`, and costs nothing else.
#[test]
fn r25_r30_an_expiry_past_2_pow_53_loads_clamped() {
    use crate::core::token::MAX_EXPIRY_MS;
    let w = World::new();
    w.connect();
    let other = "https://other.example/mcp";
    let far = 1u64 << 60;
    let rec = format!(
        r#"{{"v":1,"server_url":"{other}","resource":"{other}","requires_auth":true,"tokens":{{"access_token":"at-x","token_type":"Bearer","expires_at":{far}}}}}"#
    );
    w.store.0.borrow_mut().insert(format!("mcp-oauth:server:{other}"), rec);
    let e = w.engine();
    let s = e.status(&srv(other));
    assert_eq!((s.state, s.expires_at), ("authorized", Some(MAX_EXPIRY_MS)));
    let all = e.list();
    assert_eq!(
        all.iter().map(|s| s.server_url.as_str()).collect::<Vec<_>>(),
        [MCP, other]
    );
    assert!(
        all.iter().all(|s| s.expires_at.is_none_or(|t| t <= MAX_EXPIRY_MS)),
        "{all:?}"
    );
    assert!(w.env.warnings.borrow().is_empty(), "nothing removed");
    assert_eq!(block_on(e.access_token(&srv(other))).unwrap().secret(), "at-x");
}

/// R25, R32 (issue 18, F4): a body the library parses itself is read up to 256 KB: a
/// protected-resource metadata document, a token response or a registration answer past that
/// is an `invalid_response` that says so.
#[test]
fn r25_a_response_body_past_256_kb_is_refused() {
    let padding = "x".repeat(256 * 1024);
    let big = |body: &str| format!(r#"{{"pad":"{padding}",{}"#, body.trim_start_matches('{'));
    let check = |err: McpError| {
        assert_eq!(err.code.as_str(), "invalid_response");
        assert!(err.message.contains("larger than 256 KB"), "{}", err.message);
    };
    // metadata
    let w = World::new();
    let prm = big(r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"]}"#);
    w.http
        .route(PRM, move |_| Some(Ok(HttpResponse::new(200, vec![], prm.clone()))));
    check(block_on(w.engine().discover(&srv(MCP))).unwrap_err());
    // registration
    let w = World::new();
    let reg = big(r#"{"client_id":"dyn-1","redirect_uris":["https://app.example/cb"]}"#);
    w.http.route("https://as.example/reg", move |_| {
        Some(Ok(HttpResponse::new(201, vec![], reg.clone())))
    });
    check(block_on(w.engine().begin_authorization(&srv(MCP), AuthorizeOptions::default())).unwrap_err());
    // token
    let w = World::new();
    let token = big(r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600}"#);
    w.http.route("https://as.example/token", move |_| {
        Some(Ok(HttpResponse::new(200, vec![], token.clone())))
    });
    let e = w.engine();
    let Begin::Navigate { state, .. } = block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    ))
    .unwrap() else {
        panic!()
    };
    check(
        callback(&e, &format!("{CB}?code=the-code&state={state}"))
            .1
            .unwrap_err(),
    );
    // just under the cap is read
    let w = World::new();
    let fits = format!(
        r#"{{"pad":"{}","resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"]}}"#,
        "x".repeat(200 * 1024)
    );
    w.http
        .route(PRM, move |_| Some(Ok(HttpResponse::new(200, vec![], fits.clone()))));
    assert!(block_on(w.engine().discover(&srv(MCP))).is_ok());
}

/// R28, R34 (issue 18, F8): an answer the app's request reached through a redirect to another
/// origin is not the server's: it is handed back as it is, and its status, challenge and
/// `DPoP-Nonce` drive nothing — no refresh, no retry, no step-up, no nonce kept for the
/// server's origin, no change to the server's record. A redirect within the server's origin
/// still counts as the server's answer.
#[test]
fn r28_r34_an_answer_from_another_origin_after_a_redirect_is_not_the_servers() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let before = serde_json::to_string(&e.load_server(MCP).unwrap()).unwrap();
    let evil = Some("https://evil.example/landing");
    for (status, challenge) in [
        (
            401,
            r#"Bearer error="invalid_token", resource_metadata="https://evil.example/prm""#,
        ),
        (403, r#"Bearer error="insufficient_scope", scope="evil:all""#),
        (401, r#"DPoP error="use_dpop_nonce""#),
    ] {
        let s = FakeSend::redirected(&[(status, Some(challenge), Some("evil-nonce"), evil)]);
        let steps = RefCell::new(0);
        let step_up = |_| {
            *steps.borrow_mut() += 1;
            async { Ok(true) }
        };
        assert_eq!(
            block_on(e.fetch_with_step_up(&srv(MCP), "POST", MCP, |t| s.send(t), step_up)).unwrap(),
            status,
            "{challenge}"
        );
        assert_eq!(
            (s.tokens(), *steps.borrow()),
            (vec!["at-1".to_string()], 0),
            "one send, no refresh, no step-up: {challenge}"
        );
    }
    assert!(e.dpop_nonces.borrow().is_empty(), "no nonce kept from another origin");
    assert_eq!(
        serde_json::to_string(&e.load_server(MCP).unwrap()).unwrap(),
        before,
        "the record is untouched"
    );
    assert_eq!(
        w.http.urls().iter().filter(|u| u.ends_with("/token")).count(),
        1,
        "the code exchange only"
    );
    // within the server's origin a redirect's answer is the server's: a 401 refreshes
    w.http.json(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600}"#,
    );
    let s = FakeSend::redirected(&[
        (401, None, Some("n-1"), Some("https://mcp.example/mcp/")),
        (200, None, None, Some("https://mcp.example/mcp/")),
    ]);
    assert_eq!(
        block_on(e.authorized_fetch(&srv(MCP), "POST", MCP, |t| s.send(t))).unwrap(),
        200
    );
    assert_eq!(s.tokens(), ["at-1", "at-2"]);
    assert_eq!(
        e.dpop_nonces
            .borrow()
            .get("resource|https://mcp.example")
            .map(String::as_str),
        Some("n-1")
    );
}
