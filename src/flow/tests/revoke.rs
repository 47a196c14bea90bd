//! Revocation and forgetting (R29).

use super::*;

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
        (s.state.as_str(), s.client_id.as_deref(), s.refreshable),
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorization_required");
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorization_required");
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "unknown");
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "unknown");
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorization_required");
}
