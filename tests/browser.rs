//! Browser tests of the shell, in headless Chromium (wasm-bindgen-test-runner + chromedriver):
//! storage, fetch, the randomness source, the façade's promises and values (serde-wasm-bindgen),
//! the popup result's channels, and the JS error shape.
#![cfg(target_arch = "wasm32")]

use std::collections::HashSet;

use mcp_oauth_wasm::McpAuth;
use mcp_oauth_wasm::browser::env::BrowserEnv;
use mcp_oauth_wasm::browser::fetch::BrowserHttp;
use mcp_oauth_wasm::browser::locks::BrowserLock;
use mcp_oauth_wasm::browser::popup;
use mcp_oauth_wasm::browser::storage::BrowserStore;
use mcp_oauth_wasm::core::authorize::{CallbackParams, parse_callback_url};
use mcp_oauth_wasm::core::error::{ErrorCode, HttpError, McpError};
use mcp_oauth_wasm::core::http::HttpRequest;
use mcp_oauth_wasm::core::pkce::CodeVerifier;
use mcp_oauth_wasm::flow::{Corrupt, Env, Http, Lock, Store};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn prop(v: &JsValue, k: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(k)).unwrap()
}

fn url(s: &str) -> url::Url {
    url::Url::parse(s).unwrap()
}

fn get_str(store: &BrowserStore, key: &str) -> Option<String> {
    store.get::<String>(key).map(|r| r.unwrap())
}

/// An `McpAuth` on this page's origin with `extra` options (JSON members) added.
fn auth_with(extra: &str) -> Result<McpAuth, JsValue> {
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    McpAuth::new(js_sys::JSON::parse(&format!(r#"{{"redirectUri":"{origin}/cb","storage":"memory"{extra}}}"#)).unwrap())
}

#[wasm_bindgen_test]
fn r25_local_storage_round_trip_is_seen_by_a_second_handle() {
    let a = BrowserStore::open("local").unwrap();
    let b = BrowserStore::open("local").unwrap();
    a.set("mcp-oauth-test:k1", &"v1 ✓").unwrap();
    assert_eq!(get_str(&b, "mcp-oauth-test:k1").as_deref(), Some("v1 ✓"));
    let raw = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    assert_eq!(
        raw.get_item("mcp-oauth-test:k1").unwrap().as_deref(),
        Some("\"v1 ✓\""),
        "kept as JSON text"
    );
    assert!(b.keys().iter().any(|k| k == "mcp-oauth-test:k1"));
    // a value that is not the record asked for reads as corrupt, not as absent
    raw.set_item("mcp-oauth-test:k2", "{not json").unwrap();
    assert_eq!(a.get::<String>("mcp-oauth-test:k2"), Some(Err(Corrupt)));
    b.remove("mcp-oauth-test:k1");
    b.remove("mcp-oauth-test:k2");
    assert_eq!(a.get::<String>("mcp-oauth-test:k1"), None);
}

#[wasm_bindgen_test]
fn r25_session_and_memory_stores_are_separate() {
    let session = BrowserStore::open("session").unwrap();
    let memory = BrowserStore::open("memory").unwrap();
    let local = BrowserStore::open("local").unwrap();
    session.set("mcp-oauth-test:s", &"session").unwrap();
    memory.set("mcp-oauth-test:s", &"memory").unwrap();
    assert_eq!(get_str(&session, "mcp-oauth-test:s").as_deref(), Some("session"));
    assert_eq!(get_str(&memory, "mcp-oauth-test:s").as_deref(), Some("memory"));
    assert_eq!(memory.keys(), ["mcp-oauth-test:s"]);
    assert_eq!(get_str(&local, "mcp-oauth-test:s"), None);
    assert_eq!(
        get_str(&BrowserStore::open("memory").unwrap(), "mcp-oauth-test:s"),
        None,
        "memory is per instance"
    );
    session.remove("mcp-oauth-test:s");
    assert!(BrowserStore::open("cookies").is_err());
}

#[wasm_bindgen_test]
async fn r10_fetch_returns_status_headers_and_body() {
    let http = BrowserHttp::default();
    // a body with a byte order mark, as `Response.json()` would take it
    let resp = http
        .send(HttpRequest::get(url(
            "data:application/json,%EF%BB%BF%7B%22issuer%22%3A%22x%22%7D",
        )))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    let v: serde_json::Value = resp.json().unwrap();
    assert_eq!(v["issuer"], "x");
}

#[wasm_bindgen_test]
async fn r10_fetch_failure_is_a_network_error() {
    // port 9 on loopback: nothing listens, the connection is refused
    let err = BrowserHttp::default()
        .send(HttpRequest::get(url("http://127.0.0.1:9/.well-known/x")))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Network(_)), "{err:?}");
}

#[wasm_bindgen_test]
async fn r10_the_apps_fetch_option_is_used() {
    let f = js_sys::Function::new_with_args(
        "req",
        "return Promise.resolve(new Response('via app', { status: 203 }))",
    );
    let http = BrowserHttp { fetch_fn: Some(f) };
    let resp = http
        .send(HttpRequest::get(url("https://unreachable.invalid/x")))
        .await
        .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (203, "via app"));
}

/// R25, R32 (issue 18, F4): the shell reads at most the request's `max_body` bytes: a body past
/// 256 KB is refused whether or not `Content-Length` announces it, one at the cap is read whole.
#[wasm_bindgen_test]
async fn r25_a_body_past_256_kb_is_not_read() {
    let app_fetch = |body: &str| {
        let f = js_sys::Function::new_with_args("req", body);
        BrowserHttp { fetch_fn: Some(f) }
    };
    let get = || HttpRequest::get(url("https://as.example/.well-known/oauth-authorization-server"));
    let streamed = app_fetch("return Promise.resolve(new Response('x'.repeat(256 * 1024 + 1)))");
    let err = streamed.send(get()).await.unwrap_err();
    assert_eq!(McpError::from(err.clone()).code, ErrorCode::InvalidResponse);
    assert_eq!(
        err.to_string(),
        "invalid response: the response body is larger than 256 KB"
    );
    let announced =
        app_fetch("return Promise.resolve(new Response('{}', { headers: { 'content-length': '999999999' } }))");
    assert!(matches!(announced.send(get()).await, Err(HttpError::BodyTooLarge(_))));
    let at_cap = app_fetch("return Promise.resolve(new Response('\\u00e9'.repeat(128 * 1024)))");
    let resp = at_cap.send(get()).await.unwrap();
    assert_eq!(
        (resp.body.len(), resp.body.chars().count()),
        (256 * 1024, 128 * 1024),
        "whole, decoded as UTF-8"
    );
    let empty = app_fetch("return Promise.resolve(new Response(null, { status: 204 }))");
    assert_eq!(empty.send(get()).await.unwrap().body, "");
}

#[wasm_bindgen_test]
fn r14_random_source_gives_fresh_verifiers() {
    let env = BrowserEnv::default();
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let mut buf = [0u8; 32];
        env.fill_random(&mut buf).unwrap();
        assert!(buf.iter().any(|b| *b != 0));
        let v = CodeVerifier::from_random_bytes(&buf);
        assert_eq!(v.secret().len(), 43);
        assert!(seen.insert(v.secret().to_string()), "a verifier repeated");
    }
}

#[wasm_bindgen_test]
fn r32_bad_options_reject_with_a_typed_error() {
    for opts in [
        JsValue::NULL,
        js_sys::JSON::parse(r#"{"redirectUri":"https://elsewhere.example/cb"}"#).unwrap(),
    ] {
        let err = McpAuth::new(opts).err().expect("constructor must fail");
        assert_eq!(prop(&err, "name").as_string().as_deref(), Some("McpAuthError"));
        assert_eq!(prop(&err, "code").as_string().as_deref(), Some("invalid_input"));
        assert!(err.is_instance_of::<js_sys::Error>());
    }
}

/// An option of the wrong type is `invalid_input` naming the option (serde-wasm-bindgen reads it).
#[wasm_bindgen_test]
fn r32_an_option_of_the_wrong_type_is_named() {
    for (extra, name) in [
        (r#","refreshSkewSeconds":"soon""#, "refreshSkewSeconds"),
        (r#","clients":{"https://as.example":{"clientSecret":"s"}}"#, "clients"),
        (r#","clientName":7"#, "clientName"),
        (r#","storage":"cookies""#, "storage"),
        (r#","allowMissingPkceMetadata":"yes""#, "allowMissingPkceMetadata"),
        (r#","redirectUri":"ORIGIN/cb#frag""#, "redirectUri"),
    ] {
        let origin = web_sys::window().unwrap().location().origin().unwrap();
        let extra = extra.replace("ORIGIN", &origin);
        let extra = extra.as_str();
        let err = auth_with(extra).err().expect("constructor must fail");
        assert_eq!(
            prop(&err, "code").as_string().as_deref(),
            Some("invalid_input"),
            "{extra}"
        );
        let message = prop(&err, "message").as_string().unwrap();
        assert!(message.contains(name), "{message} does not name {name}");
    }
    assert!(auth_with(r#","clients":{"https://as.example":{"clientId":"c"}},"refreshSkewSeconds":30"#).is_ok());
    // R31: the message names the option, never quotes its value (it may be a secret)
    let err = auth_with(r#","clients":{"https://as.example":{"clientId":"c","clientSecret":918273645}}"#)
        .err()
        .unwrap();
    let message = prop(&err, "message").as_string().unwrap();
    assert!(
        message.contains("clients") && !message.contains("918273645"),
        "{message}"
    );
}

/// R38, R16, R34 (issue 17): an unknown option — a typo in a security option above all — is
/// `invalid_input` naming it, in `new McpAuth`, in a `clients` entry, in `authorize` and in
/// `revoke`; `offlineAccess` and `dpop` are known and checked.
#[wasm_bindgen_test]
async fn r38_an_unknown_option_is_invalid_input_naming_it() {
    for (extra, name) in [
        (r#","ofllineAccess":true"#, "ofllineAccess"),
        (r#","dpopp":"never""#, "dpopp"),
        (
            r#","clients":{"https://as.example":{"clientId":"c","client_secret":"s"}}"#,
            "client_secret",
        ),
        (r#","offlineAccess":"yes""#, "offlineAccess"),
        (r#","dpop":"sometimes""#, "dpop"),
        (r#","dpop":true"#, "dpop"),
    ] {
        let err = auth_with(extra).err().expect("constructor must fail");
        assert_eq!(
            prop(&err, "code").as_string().as_deref(),
            Some("invalid_input"),
            "{extra}"
        );
        let message = prop(&err, "message").as_string().unwrap();
        assert!(message.contains(name), "{message} does not name {name}");
        assert!(!message.contains("\"s\""), "never a value: {message}");
    }
    for ok in [
        r#","offlineAccess":true,"dpop":"never""#,
        r#","dpop":"always""#,
        r#","dpop":"auto","offlineAccess":false"#,
        r#","fetch":null"#,
    ] {
        assert!(auth_with(ok).is_ok(), "{ok}");
    }
    let auth = auth_with("").unwrap();
    let err = JsFuture::from(auth.authorize(
        "https://mcp.example/mcp".into(),
        Some(js_sys::JSON::parse(r#"{"scopes":"a b"}"#).unwrap()),
    ))
    .await
    .unwrap_err();
    assert_eq!(prop(&err, "code").as_string().as_deref(), Some("invalid_input"));
    assert!(prop(&err, "message").as_string().unwrap().contains("scopes"));
    let err = JsFuture::from(auth.revoke(
        "https://mcp.example/mcp".into(),
        Some(js_sys::JSON::parse(r#"{"forced":true}"#).unwrap()),
    ))
    .await
    .unwrap_err();
    assert_eq!(prop(&err, "code").as_string().as_deref(), Some("invalid_input"));
    assert!(prop(&err, "message").as_string().unwrap().contains("forced"));
}

/// `authorize` options of the wrong type, or a `returnTo` on another origin, reject before any
/// popup opens (R24).
#[wasm_bindgen_test]
async fn r24_authorize_options_are_checked_before_anything_opens() {
    let auth = auth_with("").unwrap();
    for opts in [
        r#"{"signal":"soon"}"#,
        r#"{"returnTo":"https://elsewhere.example/x"}"#,
        r#"{"mode":"sideways"}"#,
        r#"{"scope":7}"#,
    ] {
        let promise = auth.authorize(
            "https://mcp.example/mcp".into(),
            Some(js_sys::JSON::parse(opts).unwrap()),
        );
        let err = JsFuture::from(promise).await.unwrap_err();
        assert_eq!(
            prop(&err, "code").as_string().as_deref(),
            Some("invalid_input"),
            "{opts}"
        );
    }
}

#[wasm_bindgen_test]
async fn r8_r30_status_of_an_unknown_server_and_insecure_urls() {
    let auth = auth_with("").unwrap();
    let status = auth.status("https://mcp.example/mcp".into()).unwrap();
    assert_eq!(prop(&status, "state").as_string().as_deref(), Some("unknown"));
    assert!(prop(&status, "expiresAt").is_null());
    assert_eq!(prop(&status, "refreshable"), JsValue::FALSE);
    let err = JsFuture::from(auth.discover("http://mcp.example/mcp".into()))
        .await
        .unwrap_err();
    assert_eq!(prop(&err, "code").as_string().as_deref(), Some("insecure_url"));
    assert!(err.is_instance_of::<js_sys::Error>());
    let err = JsFuture::from(auth.get_access_token("https://mcp.example/mcp".into()))
        .await
        .unwrap_err();
    assert_eq!(
        prop(&err, "code").as_string().as_deref(),
        Some("authorization_required")
    );
    assert_eq!(
        prop(&err, "serverUrl").as_string().as_deref(),
        Some("https://mcp.example/mcp")
    );
    // R15: the server URL as the browser resolves it, numeric hosts and dot segments included
    let status = auth.status("HTTP://0x7f.1:8080/a/../mcp#x".into()).unwrap();
    assert_eq!(
        prop(&status, "serverUrl").as_string().as_deref(),
        Some("http://127.0.0.1:8080/mcp")
    );
}

/// A user-typed IDN host reaches Rust as the punycode the browser's `URL` gives it.
#[wasm_bindgen_test]
fn r15_an_idn_server_url_is_the_browsers_punycode() {
    let auth = auth_with("").unwrap();
    let status = auth.status("https://bücher.example/mcp".into()).unwrap();
    assert_eq!(
        prop(&status, "serverUrl").as_string().as_deref(),
        Some("https://xn--bcher-kva.example/mcp")
    );
    // a bare origin stays bare, though the browser's serialization adds a slash
    let status = auth.status("https://bücher.example".into()).unwrap();
    assert_eq!(
        prop(&status, "serverUrl").as_string().as_deref(),
        Some("https://xn--bcher-kva.example")
    );
}

/// `discover` end to end through the app's `fetch` option and the façade's promise: the
/// `ServerInfo` is a plain object, the metadata documents whole (unknown members kept).
#[wasm_bindgen_test]
async fn r1_r9_r10_discover_through_the_apps_fetch_resolves_a_server_info() {
    let fetch = js_sys::Function::new_with_args(
        "req",
        r#"const u = new URL(req.url); const json = (status, body, headers = {}) =>
             Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } }));
           if (u.pathname == "/mcp") return json(401, {}, { "www-authenticate": 'Bearer , resource_metadata="https://mcp.example/prm"' });
           if (u.pathname == "/prm") return Promise.resolve(new Response('{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["a"],"x-extra":[1],"x-big":18446744073709551615}'));
           if (u.pathname == "/.well-known/oauth-authorization-server") return json(200, { issuer: "https://as.example",
             authorization_endpoint: "https://as.example/auth", token_endpoint: "https://as.example/token",
             registration_endpoint: "https://as.example/reg", code_challenge_methods_supported: ["S256"] });
           return json(404, {});"#,
    );
    let opts = js_sys::Object::new();
    js_sys::Reflect::set(
        &opts,
        &"redirectUri".into(),
        &format!("{}/cb", web_sys::window().unwrap().location().origin().unwrap()).into(),
    )
    .unwrap();
    js_sys::Reflect::set(&opts, &"storage".into(), &"memory".into()).unwrap();
    js_sys::Reflect::set(&opts, &"fetch".into(), &fetch).unwrap();
    let auth = McpAuth::new(opts.into()).unwrap();
    let info = JsFuture::from(auth.discover("https://mcp.example/mcp".into()))
        .await
        .unwrap();
    assert_eq!(prop(&info, "registration").as_string().as_deref(), Some("dynamic"));
    assert_eq!(prop(&info, "requiresAuth"), JsValue::TRUE);
    assert_eq!(prop(&info, "issuer").as_string().as_deref(), Some("https://as.example"));
    assert_eq!(
        prop(&info, "resourceMetadataUrl").as_string().as_deref(),
        Some("https://mcp.example/prm")
    );
    let prm = prop(&info, "resourceMetadata");
    assert!(
        js_sys::Array::is_array(&prop(&prm, "x-extra")),
        "unknown members kept, as plain JS values"
    );
    assert_eq!(
        prop(&prm, "x-big").as_f64(),
        Some(18446744073709551615.0),
        "a number past 2^53, as JSON.parse gives it"
    );
    assert!(
        prop(&info, "challengeScope").is_undefined(),
        "absent optional members are left out"
    );
    let status = auth.status("https://mcp.example/mcp".into()).unwrap();
    assert_eq!(
        prop(&status, "state").as_string().as_deref(),
        Some("authorization_required")
    );
}

/// `auth.fetch(serverUrl, input)` takes `input` as a string, a `URL` or a `Request` (the
/// contract's `RequestInfo | URL`); to another origin it goes without a token.
#[wasm_bindgen_test]
async fn r28_fetch_input_may_be_a_string_a_url_or_a_request() {
    let auth = auth_with("").unwrap();
    let data = "data:text/plain,via%20input";
    let url = js_sys::Function::new_with_args("d", "return new URL(d)")
        .call1(&JsValue::NULL, &data.into())
        .unwrap();
    let request = web_sys::Request::new_with_str(data).unwrap();
    for input in [JsValue::from_str(data), url, request.into()] {
        let resp = JsFuture::from(auth.fetch("https://mcp.example/mcp".into(), Some(input.clone()), None))
            .await
            .unwrap();
        let resp: web_sys::Response = resp.unchecked_into();
        let text = JsFuture::from(resp.text().unwrap()).await.unwrap();
        assert_eq!(text.as_string().as_deref(), Some("via input"), "input {input:?}");
    }
}

/// Runs a JS function body with the strings `a` and `b` as its arguments.
fn run_js(body: &str, a: &str, b: &str) {
    js_sys::Function::new_with_args("a, b", body)
        .call2(&JsValue::NULL, &JsValue::from_str(a), &JsValue::from_str(b))
        .unwrap();
}

/// The text a popup's callback page hands over for `query`.
fn params_text(query: &str) -> String {
    serde_json::to_string(&parse_callback_url(&format!("https://app.example/cb?{query}"))).unwrap()
}

async fn watch_self(channel: &str, state: &str) -> Result<CallbackParams, McpError> {
    // the page stands in for the popup: its own `postMessage` has itself as the source
    let window = web_sys::window().unwrap();
    popup::wait_for_result(
        popup::Watch {
            popup: &window,
            channel,
            state,
            navigated_at: js_sys::Date::now(),
            timeout_ms: 20_000.0,
            signal: None,
            on_detached: &|| {},
        },
        "https://mcp.example/mcp",
    )
    .await
}

#[wasm_bindgen_test]
async fn r22_the_opener_takes_its_flows_parameters_from_post_message_at_its_own_origin_only() {
    // a: this flow's parameters; b: another flow's. Sent from a timer, once the watch listens.
    run_js(
        "const o = location.origin; setTimeout(() => {
           dispatchEvent(new MessageEvent('message', { data: a.replace('denied', 'forged'), origin: 'https://evil.example', source: window }));
           dispatchEvent(new MessageEvent('message', { data: a.replace('denied', 'no_source'), origin: o }));
           postMessage(b, o);
           postMessage({ not: 'a string' }, o);
           postMessage(a, o);
         }, 50);",
        &params_text("error=access_denied&error_description=denied&state=s-pm"),
        &params_text("code=other&state=s-other"),
    );
    let p = watch_self("mcp-oauth-test:flow:s-pm", "s-pm").await.unwrap();
    assert_eq!(
        (p.state.as_deref(), p.error.as_deref()),
        (Some("s-pm"), Some("access_denied"))
    );
    assert_eq!(
        p.error_description.as_deref(),
        Some("denied"),
        "the forged and sourceless messages were ignored"
    );
}

/// R22 both ways over the `BroadcastChannel`: the callback page hands the parameters over,
/// the opener takes the ones of its own flow and says so, and the hand-over resolves `true`;
/// with nobody listening it resolves `false`.
#[wasm_bindgen_test]
async fn r22_the_callback_page_hands_its_parameters_over_the_broadcast_channel() {
    let channel = "mcp-oauth-test:flow:s-bc";
    run_js(
        "setTimeout(() => { const c = new BroadcastChannel(b); c.postMessage('not json'); c.postMessage(a); c.close(); }, 50);",
        &params_text("code=someone-elses&state=s-other"),
        channel,
    );
    let watching = watch_self(channel, "s-bc");
    let mine = parse_callback_url("https://app.example/cb?code=c-bc&state=s-bc");
    let handing = popup::hand_over(channel, &mine, 5000, 5000);
    let (taken, handed) = futures::future::join(
        async {
            let taken = watching.await;
            // the opener finished the flow: it says how, and the popup's end resolves with it
            let status = mcp_oauth_wasm::flow::records::Status::unknown("https://mcp.example/mcp");
            popup::announce(&web_sys::window().unwrap(), channel, "s-bc", &Ok(status));
            taken
        },
        async {
            // after the watch listens
            JsFuture::from(js_sys::Promise::new(&mut |r, _| {
                web_sys::window()
                    .unwrap()
                    .set_timeout_with_callback_and_timeout_and_arguments_0(&r, 100)
                    .unwrap();
            }))
            .await
            .unwrap();
            handing.await
        },
    )
    .await;
    let taken = taken.unwrap();
    assert_eq!(
        (taken.state.as_deref(), taken.code.as_ref().map(|c| c.secret())),
        (Some("s-bc"), Some("c-bc"))
    );
    // issue 17: the popup learns the flow's real server and outcome, never an empty URL
    let handed = handed.expect("the opener said it took them");
    assert_eq!(handed.server_url, "https://mcp.example/mcp");
    let status = handed.outcome.expect("the outcome came").expect("a status");
    assert_eq!(status["serverUrl"], "https://mcp.example/mcp");
    assert_eq!(status["state"], "unknown");
    let nobody = popup::hand_over(
        "mcp-oauth-test:flow:nobody",
        &parse_callback_url("https://app.example/cb?code=c&state=nobody"),
        300,
        300,
    )
    .await;
    assert!(nobody.is_none());
}

/// Issue 17: a popup whose opener took the parameters but said nothing more in time still
/// resolves with the flow's server URL; an error outcome comes back as that error.
#[wasm_bindgen_test]
async fn r22_the_popup_learns_the_flows_server_even_without_an_outcome() {
    for (state, announce_error) in [("s-quiet", false), ("s-err", true)] {
        let channel = format!("mcp-oauth-test:flow:{state}");
        let watching = watch_self(&channel, state);
        let mine = parse_callback_url(&format!("https://app.example/cb?code=c&state={state}"));
        let handing = popup::hand_over(&channel, &mine, 5000, 300);
        let (_, handed) = futures::future::join(
            async {
                let taken = watching.await;
                if announce_error {
                    let e = McpError::new(
                        mcp_oauth_wasm::core::error::ErrorCode::AuthorizationFailed,
                        "the token endpoint answered invalid_grant",
                    );
                    popup::announce(&web_sys::window().unwrap(), &channel, state, &Err(e));
                }
                taken
            },
            handing,
        )
        .await;
        let handed = handed.expect("taken");
        assert_eq!(handed.server_url, "https://mcp.example/mcp");
        match (announce_error, handed.outcome) {
            (false, None) => {}
            (true, Some(Err(e))) => assert_eq!(e.code.as_str(), "authorization_failed"),
            (_, other) => panic!("{state}: {other:?}"),
        }
    }
}

/// R26: the refresh lock is a Web Lock: held until dropped, waited for at most the timeout
/// (an orphaned lock never hangs a call), free again once released.
#[wasm_bindgen_test]
async fn r26_web_lock_is_exclusive_bounded_and_released_on_drop() {
    let lock = BrowserLock;
    let name = "mcp-oauth-test:refresh:lock";
    let held = lock.acquire(name, 1000).await.unwrap();
    let err = lock.acquire(name, 100).await.err().expect("the lock is held");
    assert_eq!(err.code, ErrorCode::Timeout);
    let query = js_sys::Function::new_no_args("return navigator.locks.query()")
        .call0(&JsValue::NULL)
        .unwrap();
    let state = JsFuture::from(js_sys::Promise::from(query)).await.unwrap();
    let held_names: Vec<String> = js_sys::Array::from(&prop(&state, "held"))
        .iter()
        .filter_map(|l| prop(&l, "name").as_string())
        .collect();
    assert!(
        held_names.iter().any(|n| n == name),
        "a Web Lock is held: {held_names:?}"
    );
    drop(held);
    let again = lock.acquire(name, 1000).await;
    assert!(again.is_ok(), "released on drop");
}

/// R25: a storage that throws falls back to memory — the constructor does not throw, the first
/// listener hears one `storage_unavailable` warning — and memory storage refuses a full-page
/// redirect, which would lose the flow.
#[wasm_bindgen_test]
async fn r25_unavailable_storage_falls_back_to_memory_with_one_warning() {
    let disable = "globalThis.__saved = Object.getOwnPropertyDescriptor(window, 'localStorage');
        Object.defineProperty(window, 'localStorage', { configurable: true, get() { throw new DOMException('denied', 'SecurityError'); } });";
    let restore = "if (globalThis.__saved) Object.defineProperty(window, 'localStorage', globalThis.__saved); else delete window.localStorage;";
    run_js(disable, "", "");
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    let auth = McpAuth::new(js_sys::JSON::parse(&format!(r#"{{"redirectUri":"{origin}/cb"}}"#)).unwrap());
    run_js(restore, "", "");
    let auth = auth.expect("the constructor does not throw for unavailable storage");
    let heard = js_sys::Array::new();
    let (first, second) = (heard.clone(), js_sys::Array::new());
    let listen = |into: js_sys::Array| {
        wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            into.push(&e);
        })
    };
    let (l1, l2) = (listen(first), listen(second.clone()));
    auth.subscribe(l1.as_ref().unchecked_ref::<js_sys::Function>().clone());
    auth.subscribe(l2.as_ref().unchecked_ref::<js_sys::Function>().clone());
    assert_eq!(heard.length(), 1, "one warning");
    let warning = heard.get(0);
    assert_eq!(prop(&warning, "type").as_string().as_deref(), Some("warning"));
    assert_eq!(
        prop(&warning, "code").as_string().as_deref(),
        Some("storage_unavailable")
    );
    assert_eq!(second.length(), 0, "said once");
    let opts = js_sys::JSON::parse(r#"{"mode":"redirect"}"#).unwrap();
    let err = JsFuture::from(auth.authorize("https://mcp.example/mcp".into(), Some(opts)))
        .await
        .unwrap_err();
    assert_eq!(prop(&err, "code").as_string().as_deref(), Some("invalid_input"));
    assert!(
        web_sys::window().unwrap().local_storage().unwrap().is_some(),
        "restored for the other tests"
    );
}

/// R33: the vault round-trips a secret through IndexedDB, where it lies encrypted (no plaintext
/// in the stored record) under a key that cannot be exported.
#[wasm_bindgen_test]
async fn r33_the_vault_keeps_secrets_encrypted_under_a_non_extractable_key() {
    use mcp_oauth_wasm::browser::vault::BrowserVault;
    use mcp_oauth_wasm::flow::Vault;
    let vault = BrowserVault::IndexedDb("mcp-oauth-test-vault".into());
    let secret = "rt-the-secret-refresh-token";
    vault.put("k", secret).await.unwrap();
    assert_eq!(vault.get("k").await.as_deref(), Some(secret));
    let dump = js_sys::Function::new_no_args(
        "return new Promise((ok, ko) => { const o = indexedDB.open('mcp-oauth-test-vault'); o.onerror = () => ko(o.error);
           o.onsuccess = () => { const s = o.result.transaction('secrets').objectStore('secrets');
             const rec = s.get('k'); const key = s.get('aes-gcm-key');
             rec.onsuccess = () => key.onsuccess = async () => {
               const bytes = new Uint8Array(rec.result.data);
               const text = Array.from(bytes, (b) => String.fromCharCode(b)).join('');
               let exported = 'exported';
               try { await crypto.subtle.exportKey('raw', key.result); } catch (e) { exported = e.name; }
               ok({ text, extractable: key.result.extractable, exported, algorithm: key.result.algorithm.name });
             };
           };
         })",
    );
    let found = JsFuture::from(js_sys::Promise::from(dump.call0(&JsValue::NULL).unwrap()))
        .await
        .unwrap();
    assert!(
        !prop(&found, "text").as_string().unwrap().contains(secret),
        "the record holds ciphertext"
    );
    assert_eq!(prop(&found, "extractable"), JsValue::FALSE);
    assert_eq!(
        prop(&found, "exported").as_string().as_deref(),
        Some("InvalidAccessError")
    );
    assert_eq!(prop(&found, "algorithm").as_string().as_deref(), Some("AES-GCM"));
    vault.delete("k").await;
    assert_eq!(vault.get("k").await, None);
    // `session` storage: the same sealing, in the tab's sessionStorage
    let session = BrowserVault::Session("mcp-oauth-test-vault".into());
    session.put("mcp-oauth-test:sealed", secret).await.unwrap();
    let raw = web_sys::window()
        .unwrap()
        .session_storage()
        .unwrap()
        .unwrap()
        .get_item("mcp-oauth-test:sealed")
        .unwrap()
        .unwrap();
    assert!(!raw.contains(secret) && raw.len() > secret.len(), "sealed: {raw}");
    assert_eq!(session.get("mcp-oauth-test:sealed").await.as_deref(), Some(secret));
    session.delete("mcp-oauth-test:sealed").await;
    assert_eq!(session.get("mcp-oauth-test:sealed").await, None);
}

/// R26: without Web Locks (an insecure context), the page's callers still queue for the lock,
/// with the same bound, and a waiter that gave up does not block the ones after it.
#[wasm_bindgen_test]
async fn r26_without_web_locks_the_page_queues_with_a_bound() {
    run_js(
        "Object.defineProperty(navigator, 'locks', { value: undefined, configurable: true });",
        "",
        "",
    );
    let lock = BrowserLock;
    let name = "mcp-oauth-test:refresh:fallback";
    let held = lock.acquire(name, 1000).await.unwrap();
    assert_eq!(
        lock.acquire(name, 100).await.err().map(|e| e.code),
        Some(ErrorCode::Timeout)
    );
    drop(held);
    let again = lock.acquire(name, 1000).await;
    run_js("delete navigator.locks;", "", "");
    assert!(again.is_ok(), "free again once released, past the waiter that gave up");
    let locks = js_sys::Function::new_no_args("return navigator.locks")
        .call0(&JsValue::NULL)
        .unwrap();
    assert!(locks.is_object(), "restored");
}

/// R34: the DPoP key is an ECDSA P-256 pair kept in IndexedDB (what a reload reads) whose private
/// half cannot be exported; a signature verifies with the public JWK; delete makes the next key a
/// new one; `memory` storage keeps its key in the page only.
#[wasm_bindgen_test]
async fn r34_the_dpop_key_is_non_extractable_kept_in_indexeddb_and_its_proofs_verify() {
    use mcp_oauth_wasm::browser::vault::BrowserVault;
    use mcp_oauth_wasm::flow::Vault;
    let vault = BrowserVault::IndexedDb("mcp-oauth-test-dpop".into());
    let jwk = vault
        .dpop_public_key("mcp-oauth:dpop:https://as.example")
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&jwk).unwrap();
    assert_eq!(
        (parsed["kty"].as_str(), parsed["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert!(parsed.get("d").is_none(), "the public half only");
    // another handle (as after a reload) finds the same key
    let again = BrowserVault::IndexedDb("mcp-oauth-test-dpop".into());
    assert_eq!(
        again
            .dpop_public_key("mcp-oauth:dpop:https://as.example")
            .await
            .unwrap(),
        jwk
    );
    let signature = vault
        .dpop_sign("mcp-oauth:dpop:https://as.example", b"header.claims")
        .await
        .unwrap();
    assert_eq!(signature.len(), 64, "raw r || s");
    let check = js_sys::Function::new_with_args(
        "jwk, sig",
        "return new Promise((ok, ko) => { const o = indexedDB.open('mcp-oauth-test-dpop'); o.onerror = () => ko(o.error);
           o.onsuccess = () => { const r = o.result.transaction('secrets').objectStore('secrets').get('mcp-oauth:dpop:https://as.example');
             r.onsuccess = async () => {
               const pair = r.result;
               let exported = 'exported';
               try { await crypto.subtle.exportKey('jwk', pair.privateKey); } catch (e) { exported = e.name; }
               const pub = await crypto.subtle.importKey('jwk', JSON.parse(jwk), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
               const data = new TextEncoder().encode('header.claims');
               const verifies = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pub, sig, data);
               const tampered = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pub, sig, new TextEncoder().encode('header.claimz'));
               ok({ extractable: pair.privateKey.extractable, exported, verifies, tampered });
             };
           };
         })",
    );
    let sig = js_sys::Uint8Array::from(&signature[..]);
    let found = JsFuture::from(js_sys::Promise::from(
        check.call2(&JsValue::NULL, &JsValue::from_str(&jwk), &sig).unwrap(),
    ))
    .await
    .unwrap();
    assert_eq!(prop(&found, "extractable"), JsValue::FALSE);
    assert_eq!(
        prop(&found, "exported").as_string().as_deref(),
        Some("InvalidAccessError")
    );
    assert_eq!(
        prop(&found, "verifies"),
        JsValue::TRUE,
        "the signature verifies with the public JWK"
    );
    assert_eq!(prop(&found, "tampered"), JsValue::FALSE);
    // deleted (forget): the next key is another one
    vault.dpop_delete("mcp-oauth:dpop:https://as.example").await;
    assert_ne!(
        vault
            .dpop_public_key("mcp-oauth:dpop:https://as.example")
            .await
            .unwrap(),
        jwk
    );
    // session storage: the tab's own key, which outlives a reload (a second handle finds it) and
    // which a delete of the shared name (another tab forgetting the server) does not touch
    let shared = BrowserVault::IndexedDb("mcp-oauth-test-dpop".into());
    let session = BrowserVault::Session("mcp-oauth-test-dpop".into());
    let tab_key = session
        .dpop_public_key("mcp-oauth:dpop:https://tab.example")
        .await
        .unwrap();
    assert_ne!(
        shared
            .dpop_public_key("mcp-oauth:dpop:https://tab.example")
            .await
            .unwrap(),
        tab_key
    );
    shared.dpop_delete("mcp-oauth:dpop:https://tab.example").await;
    assert_eq!(
        BrowserVault::Session("mcp-oauth-test-dpop".into())
            .dpop_public_key("mcp-oauth:dpop:https://tab.example")
            .await
            .unwrap(),
        tab_key
    );
    // memory storage: a key for the page's life
    let memory = BrowserVault::Memory(Default::default());
    let m1 = memory
        .dpop_public_key("mcp-oauth:dpop:https://mem.example")
        .await
        .unwrap();
    assert_eq!(
        memory
            .dpop_public_key("mcp-oauth:dpop:https://mem.example")
            .await
            .unwrap(),
        m1
    );
    assert_eq!(
        memory
            .dpop_sign("mcp-oauth:dpop:https://mem.example", b"x")
            .await
            .unwrap()
            .len(),
        64
    );
}

/// R26: a lock the browser refuses outright (Web Locks take no name starting with "-") fails the
/// caller at once, and the page goes on (no retry loop).
#[wasm_bindgen_test]
async fn r26_a_refused_web_lock_fails_the_caller_at_once() {
    let started = js_sys::Date::now();
    assert!(BrowserLock.acquire("-refused", 5_000).await.is_err());
    assert!(
        js_sys::Date::now() - started < 2_000.0,
        "refused at once, not after the wait"
    );
    // the page still runs its timers and other locks
    mcp_oauth_wasm::browser::popup::sleep(10).await;
    drop(
        BrowserLock
            .acquire("mcp-oauth-test:after-refusal", 1_000)
            .await
            .unwrap(),
    );
}

/// The Web Locks held and waited for under `name` (`navigator.locks.query()`).
async fn web_locks_named(name: &str) -> (usize, usize) {
    let query = js_sys::Function::new_no_args("return navigator.locks.query()")
        .call0(&JsValue::NULL)
        .unwrap();
    let state = JsFuture::from(js_sys::Promise::from(query)).await.unwrap();
    let count = |k: &str| {
        js_sys::Array::from(&prop(&state, k))
            .iter()
            .filter(|l| prop(l, "name").as_string().as_deref() == Some(name))
            .count()
    };
    (count("held"), count("pending"))
}

/// R26: a run of the page's callers takes the Web Lock once, and the page gives it back when its
/// line empties.
#[wasm_bindgen_test]
async fn r26_a_run_of_the_page_s_callers_takes_the_web_lock_once() {
    let name = "mcp-oauth-test:refresh:run";
    run_js(
        "globalThis.__request = navigator.locks.request; globalThis.__asked = 0;
         navigator.locks.request = function (...args) { if (args[0] === a) globalThis.__asked++; return globalThis.__request.apply(this, args); };",
        name,
        "",
    );
    let first = BrowserLock.acquire(name, 5_000).await.unwrap();
    let next = || async { drop(BrowserLock.acquire(name, 5_000).await.unwrap()) };
    let released = async {
        popup::sleep(20).await;
        drop(first);
    };
    futures_util::future::join3(released, next(), next()).await;
    popup::sleep(20).await;
    let asked = js_sys::Reflect::get(&js_sys::global(), &"__asked".into()).unwrap();
    run_js("navigator.locks.request = globalThis.__request;", "", "");
    assert_eq!(asked.as_f64(), Some(1.0), "one Web Lock request for the run");
    assert_eq!(web_locks_named(name).await, (0, 0), "given back once the line emptied");
}

/// R26: a Web Lock request the page gave up (its caller went away) never keeps the lock: granted
/// later, it is released at once.
#[wasm_bindgen_test]
async fn r26_a_given_up_web_lock_request_never_keeps_the_lock() {
    let name = "mcp-oauth-test:refresh:given-up";
    // another tab holds it
    run_js(
        "navigator.locks.request(a, () => new Promise((r) => { globalThis.__other = r; }));",
        name,
        "",
    );
    popup::sleep(20).await;
    {
        let waiting = std::pin::pin!(BrowserLock.acquire(name, 5_000));
        let gave_up = std::pin::pin!(popup::sleep(50));
        assert!(matches!(
            futures_util::future::select(waiting, gave_up).await,
            futures_util::future::Either::Right(_)
        ));
    }
    assert_eq!(web_locks_named(name).await, (1, 1), "the page's request still waits");
    run_js("globalThis.__other();", "", "");
    popup::sleep(20).await;
    assert_eq!(web_locks_named(name).await, (0, 0), "granted, and released at once");
    drop(BrowserLock.acquire(name, 1_000).await.unwrap());
}
