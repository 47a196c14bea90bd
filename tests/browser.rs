//! Browser tests of the shell, in headless Chromium (wasm-bindgen-test-runner + chromedriver):
//! storage, fetch, the randomness source, the promise bridge, the popup result's channels, and
//! the JS error shape.
#![cfg(target_arch = "wasm32")]

use std::collections::HashSet;

use mcp_oauth_wasm::McpAuth;
use mcp_oauth_wasm::browser::env::BrowserEnv;
use mcp_oauth_wasm::browser::fetch::BrowserHttp;
use mcp_oauth_wasm::browser::storage::BrowserStore;
use mcp_oauth_wasm::browser::popup;
use mcp_oauth_wasm::core::error::{ErrorCode, HttpError, McpError};
use mcp_oauth_wasm::core::json::Record;
use mcp_oauth_wasm::flow::records::FlowResult;
use mcp_oauth_wasm::core::http::HttpRequest;
use mcp_oauth_wasm::core::pkce::CodeVerifier;
use mcp_oauth_wasm::flow::{Env, Http, Store};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn prop(v: &JsValue, k: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(k)).unwrap()
}

#[wasm_bindgen_test]
fn r25_local_storage_round_trip_is_seen_by_a_second_handle() {
    let a = BrowserStore::open("local").unwrap();
    let b = BrowserStore::open("local").unwrap();
    a.set("mcp-oauth-test:k1", "v1 ✓").unwrap();
    assert_eq!(b.get("mcp-oauth-test:k1").as_deref(), Some("v1 ✓"));
    let raw = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    assert_eq!(raw.get_item("mcp-oauth-test:k1").unwrap().as_deref(), Some("v1 ✓"));
    assert!(b.keys().iter().any(|k| k == "mcp-oauth-test:k1"));
    b.remove("mcp-oauth-test:k1");
    assert_eq!(a.get("mcp-oauth-test:k1"), None);
}

#[wasm_bindgen_test]
fn r25_session_and_memory_stores_are_separate() {
    let session = BrowserStore::open("session").unwrap();
    let memory = BrowserStore::open("memory").unwrap();
    let local = BrowserStore::open("local").unwrap();
    session.set("mcp-oauth-test:s", "session").unwrap();
    memory.set("mcp-oauth-test:s", "memory").unwrap();
    assert_eq!(session.get("mcp-oauth-test:s").as_deref(), Some("session"));
    assert_eq!(memory.get("mcp-oauth-test:s").as_deref(), Some("memory"));
    assert_eq!(local.get("mcp-oauth-test:s"), None);
    assert_eq!(BrowserStore::open("memory").unwrap().get("mcp-oauth-test:s"), None, "memory is per instance");
    session.remove("mcp-oauth-test:s");
    assert!(BrowserStore::open("cookies").is_err());
}

#[wasm_bindgen_test]
async fn r10_fetch_returns_status_headers_and_body() {
    let http = BrowserHttp::default();
    let resp = http.send(HttpRequest::get("data:application/json,%7B%22issuer%22%3A%22x%22%7D")).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    assert_eq!(resp.json_object().unwrap().str("issuer").as_deref(), Some("x"));
}

#[wasm_bindgen_test]
async fn r10_fetch_failure_is_a_network_error() {
    // port 9 on loopback: nothing listens, the connection is refused
    let err = BrowserHttp::default().send(HttpRequest::get("http://127.0.0.1:9/.well-known/x")).await.unwrap_err();
    assert!(matches!(err, HttpError::Network(_)), "{err:?}");
}

#[wasm_bindgen_test]
async fn r10_the_apps_fetch_option_is_used() {
    let f = js_sys::Function::new_with_args("req", "return Promise.resolve(new Response('via app', { status: 203 }))");
    let http = BrowserHttp { fetch_fn: Some(f) };
    let resp = http.send(HttpRequest::get("https://unreachable.invalid/x")).await.unwrap();
    assert_eq!((resp.status, resp.body.as_slice()), (203, b"via app".as_slice()));
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
    for opts in [JsValue::NULL, js_sys::JSON::parse(r#"{"redirectUri":"https://elsewhere.example/cb"}"#).unwrap()] {
        let err = McpAuth::new(opts).err().expect("constructor must fail");
        assert_eq!(prop(&err, "name").as_string().as_deref(), Some("McpAuthError"));
        assert_eq!(prop(&err, "code").as_string().as_deref(), Some("invalid_input"));
        assert!(err.is_instance_of::<js_sys::Error>());
    }
}

#[wasm_bindgen_test]
async fn r8_r30_status_of_an_unknown_server_and_insecure_urls() {
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    let opts = js_sys::JSON::parse(&format!(r#"{{"redirectUri":"{origin}/cb","storage":"memory"}}"#)).unwrap();
    let auth = McpAuth::new(opts).unwrap();
    let status = auth.status("https://mcp.example/mcp".into());
    assert_eq!(prop(&status, "state").as_string().as_deref(), Some("unknown"));
    assert!(prop(&status, "expiresAt").is_null());
    let err = wasm_bindgen_futures::JsFuture::from(auth.discover("http://mcp.example/mcp".into())).await.unwrap_err();
    assert_eq!(prop(&err, "code").as_string().as_deref(), Some("insecure_url"));
    let err = wasm_bindgen_futures::JsFuture::from(auth.get_access_token("https://mcp.example/mcp".into())).await.unwrap_err();
    assert_eq!(prop(&err, "code").as_string().as_deref(), Some("authorization_required"));
}

/// `auth.fetch(serverUrl, input)` takes `input` as a string, a `URL` or a `Request` (the
/// contract's `RequestInfo | URL`); to another origin it goes without a token.
#[wasm_bindgen_test]
async fn r28_fetch_input_may_be_a_string_a_url_or_a_request() {
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    let opts = js_sys::JSON::parse(&format!(r#"{{"redirectUri":"{origin}/cb","storage":"memory"}}"#)).unwrap();
    let auth = McpAuth::new(opts).unwrap();
    let data = "data:text/plain,via%20input";
    let url = js_sys::Function::new_with_args("d", "return new URL(d)").call1(&JsValue::NULL, &data.into()).unwrap();
    let request = web_sys::Request::new_with_str(data).unwrap();
    for input in [JsValue::from_str(data), url, request.into()] {
        let resp = wasm_bindgen_futures::JsFuture::from(auth.fetch("https://mcp.example/mcp".into(), Some(input.clone()), None)).await.unwrap();
        let resp: web_sys::Response = resp.unchecked_into();
        let text = wasm_bindgen_futures::JsFuture::from(resp.text().unwrap()).await.unwrap();
        assert_eq!(text.as_string().as_deref(), Some("via input"), "input {input:?}");
    }
}

/// The task bridge both ways: `spawn` settles its promise with the future's result (after
/// several awaits that each park the task), and `settled` reports rejection as `Err`.
#[wasm_bindgen_test]
async fn task_spawn_runs_to_completion_across_awaits_and_rejects_with_the_error() {
    use mcp_oauth_wasm::browser::task::{settled, spawn};
    let delayed = |ms: i32, v: &str| {
        let v = JsValue::from_str(v);
        js_sys::Promise::new(&mut |resolve, _| {
            let f: js_sys::Function = resolve.bind1(&JsValue::NULL, &v).unchecked_into();
            web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&f, ms).unwrap();
        })
    };
    let (a, b) = (delayed(20, "a"), delayed(5, "b"));
    let joined = spawn(Box::pin(async move {
        let a = settled(&a).await?.as_string().unwrap();
        let b = settled(&b).await?.as_string().unwrap(); // already settled when awaited
        Ok(JsValue::from_str(&format!("{a}{b}")))
    }));
    assert_eq!(settled(&joined).await.unwrap().as_string().as_deref(), Some("ab"));

    let rejected = js_sys::Promise::reject(&JsValue::from_str("no"));
    assert_eq!(settled(&rejected).await.unwrap_err().as_string().as_deref(), Some("no"));
    let failing = spawn(Box::pin(async move { Err(JsValue::from_str("boom")) }));
    assert_eq!(wasm_bindgen_futures::JsFuture::from(failing).await.unwrap_err().as_string().as_deref(), Some("boom"));
}

/// Runs a JS function body with the strings `a` and `b` as its arguments.
fn run_js(body: &str, a: &str, b: &str) {
    js_sys::Function::new_with_args("a, b", body).call2(&JsValue::NULL, &JsValue::from_str(a), &JsValue::from_str(b)).unwrap();
}

fn result_text(state: &str, error: Option<McpError>) -> String {
    FlowResult { state: state.into(), error }.to_json().text()
}

async fn watch_self(channel: &str, state: &str) -> Result<FlowResult, McpError> {
    // the page stands in for the popup: its own `postMessage` has itself as the source
    let window = web_sys::window().unwrap();
    popup::wait_for_result(popup::Watch {
        popup: &window,
        channel,
        state,
        navigated_at: js_sys::Date::now(),
        timeout_ms: 20_000.0,
        signal: None,
        read_stored: &|| None,
        on_detached: &|| {},
    })
    .await
}

#[wasm_bindgen_test]
async fn r22_the_opener_takes_its_flows_result_from_post_message_at_its_own_origin_only() {
    // a: this flow's result; b: another flow's. Sent from a timer, once the watch listens.
    run_js(
        "const o = location.origin; setTimeout(() => {
           dispatchEvent(new MessageEvent('message', { data: a.replace('denied', 'forged'), origin: 'https://evil.example', source: window }));
           dispatchEvent(new MessageEvent('message', { data: a.replace('denied', 'no source'), origin: o }));
           postMessage(b, o);
           postMessage({ not: 'a string' }, o);
           postMessage(a, o);
         }, 50);",
        &result_text("s-pm", Some(McpError::new(ErrorCode::AuthorizationFailed, "denied"))),
        &result_text("s-other", None),
    );
    let r = watch_self("mcp-oauth-test:flow:s-pm", "s-pm").await.unwrap();
    assert_eq!(r.state, "s-pm");
    let e = r.error.expect("the popup's error is handed over");
    assert_eq!(e.code, ErrorCode::AuthorizationFailed);
    assert_eq!(e.message, "denied", "the forged and sourceless messages were ignored");
}

#[wasm_bindgen_test]
async fn r22_the_opener_takes_its_flows_result_from_the_broadcast_channel() {
    let channel = "mcp-oauth-test:flow:s-bc";
    run_js(
        "setTimeout(() => { const c = new BroadcastChannel(b); c.postMessage('not json'); c.postMessage(a); c.close(); }, 50);",
        &result_text("s-bc", None),
        channel,
    );
    let r = watch_self(channel, "s-bc").await.unwrap();
    assert_eq!((r.state.as_str(), r.error), ("s-bc", None));
}
