//! Tokens: the access token, the single-flight refresh, failure classes (R26, R27).

use super::*;

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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorization_required");
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "expired");
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorization_required");
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
            (s.state.as_str(), s.client_id.as_deref()),
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorized");
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
