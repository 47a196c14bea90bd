//! Storage, records, status and secrets at rest (R25, R30–R33).

use super::*;

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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorized");
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
    assert_eq!((s.state.as_str(), s.refreshable), ("authorized", false));
    assert_eq!(
        *w.env.warnings.borrow(),
        [(Some(MCP.to_string()), Warning::StorageUnavailable)]
    );
    assert_eq!(block_on(e.access_token(&srv(MCP))).unwrap().secret(), "at-1");
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
    assert_eq!((s.state.as_str(), s.refreshable), ("authorization_required", false));
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
    assert_eq!(
        e.status(&srv(MCP)).state.as_str(),
        "authorized",
        "the other server is untouched"
    );
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
    assert_eq!(e.status(&srv(MCP)).state.as_str(), "authorized");
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
    assert_eq!((s.state.as_str(), s.expires_at), ("authorized", Some(MAX_EXPIRY_MS)));
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
    let state = popup_state(&e);
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
