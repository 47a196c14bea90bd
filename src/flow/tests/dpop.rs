//! DPoP (R34).

use super::*;

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
    let state = popup_state(&e);
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
    let state = popup_state(&e);
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
    let state = popup_state(&e);
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
        let state = popup_state(&e);
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
    let state = popup_state(&e);
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
