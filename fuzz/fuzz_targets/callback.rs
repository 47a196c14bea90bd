//! The callback URL (RFC 6749 §4.1.2, RFC 9207, R17–R19): `parse_callback_url`, then
//! `check_callback` against a pending flow. Input: a first line `STATE ISSUER ISS_REQUIRED AGE_MS`
//! (the flow; any part may be missing), then the URL.
//! Invariants: no panic; a code is handed out only for the flow's exact state, within its
//! lifetime, with the exact issuer (or none when not required), and without an error; the
//! parameters travel as JSON to the opener (R22) and read back the same; R31 — their `Debug`
//! does not depend on the code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::authorize::{CallbackError, CallbackParams, FLOW_LIFETIME_MS, PendingFlow, check_callback, parse_callback_url};
use mcp_oauth_wasm::core::pkce::CodeVerifier;
use mcp_oauth_wasm::core::secret::AuthCode;

const CREATED_AT: u64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    let s = fuzz_common::text(data);
    let (head, url) = fuzz_common::split_line(&s);
    let mut words = head.split(' ');
    let flow = PendingFlow {
        state: words.next().unwrap_or("st4te").to_string(),
        verifier: CodeVerifier::from_random_bytes(&[7; 32]),
        server_url: "https://mcp.example.com/mcp".into(),
        issuer: words.next().unwrap_or("https://as.example.com").to_string(),
        iss_required: words.next() == Some("1"),
        client_id: "client".into(),
        redirect_uri: "https://app.example/callback".into(),
        resource: "https://mcp.example.com/mcp".into(),
        scope: None,
        created_at: CREATED_AT,
        return_to: None,
        popup: true,
        token_endpoint: url::Url::parse("https://as.example.com/token").expect("a constant URL"),
        token_auth_methods: None,
        dpop: false,
    };
    let now = CREATED_AT.saturating_add(words.next().and_then(|w| w.parse().ok()).unwrap_or(1000));
    let params = parse_callback_url(url);

    // R22: the popup's hand-over, as JSON
    let text = serde_json::to_string(&params).unwrap();
    let back: CallbackParams = serde_json::from_str(&text).expect("the hand-over reads back");
    assert_eq!(back, params);
    if params.code.is_some() {
        let mut other = CallbackParams { code: Some(AuthCode::new("another code")), ..Default::default() };
        other.state.clone_from(&params.state);
        other.iss.clone_from(&params.iss);
        other.error.clone_from(&params.error);
        other.error_description.clone_from(&params.error_description);
        assert_eq!(format!("{params:?}"), format!("{other:?}"), "R31: Debug shows the code");
    }

    let (state, iss, error, code) = (params.state.clone(), params.iss.clone(), params.error.clone(), params.code.clone());
    let out = check_callback(params, Some(&flow), now);
    match &out {
        Ok(c) => {
            assert_eq!(state.as_deref(), Some(flow.state.as_str()), "R17: state");
            assert!(now - CREATED_AT <= FLOW_LIFETIME_MS, "R17: expired flow");
            match &iss {
                Some(i) => assert_eq!(*i, flow.issuer, "R18: iss"),
                None => assert!(!flow.iss_required, "R18: iss missing"),
            }
            assert!(error.is_none(), "R19: an error response handed out a code");
            assert_eq!(Some(c), code.as_ref());
        }
        Err(CallbackError::StateMismatch) => assert_ne!(state.as_deref(), Some(flow.state.as_str())),
        Err(_) => {}
    }
    // without a pending flow nothing passes
    assert_eq!(check_callback(back, None, now), Err(CallbackError::StateMismatch));
});
