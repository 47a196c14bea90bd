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
mod fakes;
mod fetch;
mod r26_page_locks;
mod revoke;
mod session;
mod store;
mod window;

use fakes::*;

/// The fakes never wait, so one poll finishes any future.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a fake returned Pending"),
    }
}

/// A popup flow begun for `MCP` by `e`: its state.
fn popup_state(e: &TestEngine) -> String {
    match block_on(e.begin_authorization(
        &srv(MCP),
        AuthorizeOptions {
            popup: true,
            ..Default::default()
        },
    )) {
        Ok(Begin::Navigate { state, .. }) => state,
        other => panic!("expected navigation, got {other:?}"),
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
