//! The sign-in window (R21–R24): the popup flow's decisions with a fake window, and the callback
//! page's choice between handing over and completing a full-page redirect.

use std::cell::{Cell, RefCell};

use super::*;
use crate::core::authorize::{CallbackParams, parse_callback_url};
use crate::flow::window::CallbackPage;
use crate::flow::{HandOver, HandedOver, Popup};

/// A popup window as the shell drives it: it records what the flow asks of it, and its
/// callback page answers the flow's own state with a code — or ends as the test says.
#[derive(Default)]
struct FakePopup {
    navigated: RefCell<Vec<String>>,
    cancelled: Cell<bool>,
    gone: Cell<bool>,
    /// how waiting for the callback ends instead of a code
    fails_with: Cell<Option<crate::core::error::ErrorCode>>,
    announced: RefCell<Vec<Result<Status, McpError>>>,
    closed: Cell<bool>,
}

impl Popup for FakePopup {
    fn navigate(&self, url: &url::Url) -> Result<(), McpError> {
        if self.gone.get() {
            return Err(McpError::new(
                crate::core::error::ErrorCode::PopupClosed,
                "the window is gone",
            ));
        }
        self.navigated.borrow_mut().push(url.to_string());
        Ok(())
    }
    async fn closed_while_blank(&self) -> McpError {
        // the window stays open while the flow begins
        std::future::pending().await
    }
    fn cancelled(&self) -> bool {
        self.cancelled.get()
    }
    async fn wait_for_result(
        &self,
        _channel: &str,
        state: &str,
        _server_url: &str,
        _on_detached: &dyn Fn(),
    ) -> Result<CallbackParams, McpError> {
        match self.fails_with.get() {
            Some(code) => Err(McpError::new(code, "the window ended")),
            None => Ok(parse_callback_url(&format!("{CB}?code=the-code&state={state}"))),
        }
    }
    fn announce(&self, _channel: &str, _state: &str, outcome: &Result<Status, McpError>) {
        self.announced.borrow_mut().push(outcome.clone());
    }
    fn close(&self) {
        self.closed.set(true);
    }
}

fn popup_options() -> AuthorizeOptions {
    AuthorizeOptions {
        popup: true,
        ..Default::default()
    }
}

/// R21, R22: the window goes to the authorization URL only once the flow is ready, its callback
/// page hands the code back, the code is exchanged here, and the window hears how it ended.
#[test]
fn r21_r22_the_popup_flow_navigates_waits_exchanges_and_announces() {
    let w = World::new();
    let e = w.engine();
    let popup = FakePopup::default();
    let status = block_on(e.authorize_in_popup(&srv(MCP), &popup, popup_options())).unwrap();
    assert_eq!(status.state, "authorized");
    let navigated = popup.navigated.borrow();
    assert_eq!(navigated.len(), 1);
    assert!(navigated[0].starts_with("https://as.example/auth?"), "{}", navigated[0]);
    let announced = popup.announced.borrow();
    assert!(matches!(&announced[..], [Ok(s)] if s.state == "authorized"));
    assert!(e.popup_flows.borrow().is_empty(), "the flow was taken out");
    assert_eq!(
        w.http.last_to("https://as.example/token").url.as_str(),
        "https://as.example/token"
    );
}

/// R23: an app that aborts while the flow begins, a window gone before it could navigate, and a
/// wait that ends (closed, timed out, cancelled) each end the call with that error, and leave no
/// pending flow behind.
#[test]
fn r23_every_way_a_popup_flow_ends_early_leaves_no_flow() {
    use crate::core::error::ErrorCode::{Cancelled, PopupClosed, Timeout};
    let w = World::new();
    let e = w.engine();
    let cancelled = FakePopup::default();
    cancelled.cancelled.set(true);
    let err = block_on(e.authorize_in_popup(&srv(MCP), &cancelled, popup_options())).unwrap_err();
    assert_eq!(err.code.as_str(), "cancelled");
    assert!(
        cancelled.navigated.borrow().is_empty(),
        "never sent to the authorization server"
    );
    assert!(e.popup_flows.borrow().is_empty());

    let gone = FakePopup::default();
    gone.gone.set(true);
    let err = block_on(e.authorize_in_popup(&srv(MCP), &gone, popup_options())).unwrap_err();
    assert_eq!(err.code.as_str(), "popup_closed");
    assert!(e.popup_flows.borrow().is_empty());

    for code in [PopupClosed, Timeout, Cancelled] {
        let ends = FakePopup::default();
        ends.fails_with.set(Some(code));
        let err = block_on(e.authorize_in_popup(&srv(MCP), &ends, popup_options())).unwrap_err();
        assert_eq!(err.code, code);
        assert!(e.popup_flows.borrow().is_empty(), "{code:?}: the flow was taken out");
    }
    assert!(
        !w.http.urls().iter().any(|u| u.ends_with("/token")),
        "no code was exchanged"
    );
}

/// R1: a server that needs no authorization closes the window and resolves its status.
#[test]
fn r1_a_server_needing_no_authorization_closes_the_popup() {
    let w = World::new();
    w.http.route(MCP, |_| Some(Ok(HttpResponse::new(200, vec![], "{}"))));
    w.http.json(PRM, 404, "");
    let e = w.engine();
    let popup = FakePopup::default();
    let status = block_on(e.authorize_in_popup(&srv(MCP), &popup, popup_options())).unwrap();
    assert_eq!(status.state, "unknown");
    assert!(popup.closed.get() && popup.navigated.borrow().is_empty());
}

/// The callback page's end of a popup flow: what the opener says, or nobody.
struct FakeHandOver(Option<HandedOver>, Cell<bool>);

impl HandOver for FakeHandOver {
    async fn hand_over(&self, _channel: &str, _params: &CallbackParams) -> Option<HandedOver> {
        self.0.as_ref().map(|h| HandedOver {
            server_url: h.server_url.clone(),
            outcome: h.outcome.clone(),
        })
    }
    fn close_window(&self) {
        self.1.set(true);
    }
}

/// R24: a full-page redirect's flow waits in this tab: the callback page completes it itself,
/// and the address bar is cleaned to the flow's redirect URI first.
#[test]
fn r24_the_callback_page_completes_a_full_page_redirect() {
    let w = World::new();
    let e = w.engine();
    let Begin::Navigate { state, .. } =
        block_on(e.begin_authorization(&srv(MCP), AuthorizeOptions::default())).unwrap()
    else {
        panic!()
    };
    let cleaned = RefCell::new(None);
    let nobody = FakeHandOver(None, Cell::new(false));
    let params = parse_callback_url(&format!("{CB}?code=the-code&state={state}"));
    let page =
        block_on(e.callback_page(params, &nobody, |uri| *cleaned.borrow_mut() = uri.map(str::to_string))).unwrap();
    let CallbackPage::FullPage { flow, status } = page else {
        panic!("a full page")
    };
    assert_eq!((flow.server_url.as_str(), status.state.as_str()), (MCP, "authorized"));
    assert_eq!(cleaned.borrow().as_deref(), Some(CB));
    assert!(!nobody.1.get(), "a full page stays open");
}

/// R22, issue 17: in a popup the page hands over and resolves with the flow's server and the
/// status the opener announced — or, with no word in time, what this origin's storage says;
/// an error the opener announced rejects here too; nobody taking the parameters is a
/// `state_mismatch`; a URL that is no authorization response is `invalid_input`.
#[test]
fn r22_the_popup_callback_page_resolves_with_the_openers_outcome() {
    let w = World::new();
    w.connect();
    let e = w.engine();
    let params = || parse_callback_url(&format!("{CB}?code=c&state=the-openers"));
    let announced = serde_json::json!({"serverUrl": MCP, "state": "authorized"});
    let opener = FakeHandOver(
        Some(HandedOver {
            server_url: MCP.into(),
            outcome: Some(Ok(announced.clone())),
        }),
        Cell::new(false),
    );
    let CallbackPage::Popup { server_url, status } = block_on(e.callback_page(params(), &opener, |_| {})).unwrap()
    else {
        panic!("a popup")
    };
    assert_eq!((server_url.as_str(), &status), (MCP, &announced));
    assert!(opener.1.get(), "the window closes");

    let quiet = FakeHandOver(
        Some(HandedOver {
            server_url: MCP.into(),
            outcome: None,
        }),
        Cell::new(false),
    );
    let CallbackPage::Popup { status, .. } = block_on(e.callback_page(params(), &quiet, |_| {})).unwrap() else {
        panic!()
    };
    assert_eq!(status["state"], "authorized", "from this origin's storage");

    let failed = McpError::new(crate::core::error::ErrorCode::AuthorizationFailed, "invalid_grant");
    let refused = FakeHandOver(
        Some(HandedOver {
            server_url: MCP.into(),
            outcome: Some(Err(failed)),
        }),
        Cell::new(false),
    );
    assert_eq!(
        block_on(e.callback_page(params(), &refused, |_| {}))
            .err()
            .unwrap()
            .code
            .as_str(),
        "authorization_failed"
    );

    let nobody = FakeHandOver(None, Cell::new(false));
    assert_eq!(
        block_on(e.callback_page(params(), &nobody, |_| {}))
            .err()
            .unwrap()
            .code
            .as_str(),
        "state_mismatch"
    );
    let not_oauth = parse_callback_url(&format!("{CB}?page=2"));
    assert_eq!(
        block_on(e.callback_page(not_oauth, &nobody, |_| {}))
            .err()
            .unwrap()
            .code
            .as_str(),
        "invalid_input"
    );
}

/// R21, R24, R25: where the flow runs, for every mode, whether the popup opened, and whether
/// the store is the page's memory (which a full-page redirect would lose).
#[test]
fn r21_r24_r25_the_mode_decides_popup_redirect_or_error() {
    use crate::flow::window::Mode::{Auto, Popup, Redirect};
    // (mode, popup opened, memory store) -> in the popup, or the error code
    let cases = [
        (Auto, true, false, Ok(true)),
        (Auto, false, false, Ok(false)),
        (Auto, true, true, Ok(true)),
        (Auto, false, true, Err("popup_blocked")),
        (Popup, true, false, Ok(true)),
        (Popup, false, false, Err("popup_blocked")),
        (Popup, false, true, Err("popup_blocked")),
        (Redirect, false, false, Ok(false)),
        (Redirect, false, true, Err("invalid_input")),
    ];
    for (mode, opened, memory, want) in cases {
        let got = mode.in_popup(opened, memory).map_err(|e| e.code.as_str());
        assert_eq!(got, want, "{mode:?}, popup opened {opened}, memory {memory}");
    }
    assert!(Auto.opens_popup() && Popup.opens_popup() && !Redirect.opens_popup());
}
