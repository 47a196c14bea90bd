//! Discovery (R1–R10).

use super::*;

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
        (s.state.as_str(), s.client_id.as_deref(), s.issuer.as_deref()),
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
fn r1_no_auth_needed() {
    let w = World::new();
    w.http.json(MCP, 200, "{}");
    w.http.json(PRM, 404, "");
    let e = w.engine();
    let Ok(Begin::NotNeeded(s)) = block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())) else {
        panic!()
    };
    assert_eq!(s.state.as_str(), "unknown");
    let rec = block_on(e.discover(&srv(MCP))).unwrap();
    let info = serde_json::to_value(e.server_info(&rec)).unwrap();
    assert_eq!(info["requiresAuth"], false);
    assert_eq!(info.get("issuer"), None, "absent optional members are left out");
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
    let state = popup_state(&e);
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
    let state = popup_state(&e);
    e.forget(&srv(MCP));
    let err = callback(&e, &format!("{CB}?code=the-code&state={state}"))
        .1
        .unwrap_err();
    assert_eq!(err.code.as_str(), "state_mismatch");
    nothing_went_to_a_token_endpoint_or_was_kept(&w, &e);
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
