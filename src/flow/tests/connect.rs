//! Connecting: client identity, authorization, the callback and the exchange (R11–R24, R35–R38, F1).

use super::*;

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
    let state = popup_state(&e);
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
    let state = popup_state(&e);
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

/// F1 (R13, R34): the exchange uses the endpoint, authentication and DPoP decision of the
/// flow's issuer as they were when the flow began, even when the record's metadata is gone by
/// the callback (a challenge cleared it and nothing rediscovered yet): the honest secret goes
/// to the honest token endpoint only.
#[test]
fn r13_f1_the_exchange_uses_what_the_flow_began_with() {
    let w = mix_up_world();
    let e = confidential(&w);
    let state = popup_state(&e);
    challenge_with_moved_metadata(&e);
    assert!(
        e.load_server(MCP).unwrap().as_metadata.is_none(),
        "the challenge cleared the metadata"
    );
    let status = callback(&e, &format!("{CB}?code=the-code&state={state}")).1.unwrap();
    assert_eq!(status.state.as_str(), "authorized");
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

/// F6 (R12, R28): a registration is not replaced for a scope the authorization server does not
/// list (it is the server's to refuse at authorization), and a wider registration the server
/// refuses leaves the one that works: the authorization goes ahead with it.
#[test]
fn r12_r28_f6_a_refused_or_pointless_registration_keeps_the_client() {
    let w = World::new();
    w.http.json(AS_META, 200, r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/auth","token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/reg","code_challenge_methods_supported":["S256"],"scopes_supported":["mcp:tools","mcp:admin"]}"#);
    w.connect();
    let e = w.engine();
    let registrations = || w.http.urls().iter().filter(|u| *u == "https://as.example/reg").count();
    assert_eq!(registrations(), 1);
    // a step-up for a scope the server does not list: no new registration
    let opts = AuthorizeOptions {
        scope: Some("mcp:tools mcp:extra".into()),
        ..Default::default()
    };
    let Begin::Navigate { url, .. } = block_on(e.begin_authorization(&srv(MCP), opts)).unwrap() else {
        panic!()
    };
    assert_eq!(registrations(), 1, "nothing to register for");
    assert_eq!(param(url.query().unwrap(), "client_id").as_deref(), Some("dyn-1"));
    // a listed scope the registration lacks, and the server refuses the wider registration
    w.http.json(
        "https://as.example/reg",
        400,
        r#"{"error":"invalid_client_metadata","error_description":"scope"}"#,
    );
    let opts = AuthorizeOptions {
        scope: Some("mcp:tools mcp:admin".into()),
        ..Default::default()
    };
    let Begin::Navigate { url, .. } = block_on(e.begin_authorization(&srv(MCP), opts)).unwrap() else {
        panic!()
    };
    assert_eq!(registrations(), 2, "it tried");
    assert_eq!(
        param(url.query().unwrap(), "client_id").as_deref(),
        Some("dyn-1"),
        "and kept the client that works"
    );
}
