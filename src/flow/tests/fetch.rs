//! Authorized requests, challenges and step-up (R28).

use super::*;

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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorization_required");
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorized", "the token stays");
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
