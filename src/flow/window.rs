//! The sign-in window (R21–R24): a popup flow from the blank window to the exchange, and the
//! callback page's choice between handing the response to its opener and completing a
//! full-page redirect itself.

use futures_util::future::{Either, select};

use crate::core::authorize::{CallbackError, CallbackParams, PendingFlow};
use crate::core::error::{ErrorCode, McpError};
use crate::core::resource::ServerUrl;

use super::engine::*;
use super::records::{Status, Step};
use super::{Env, HandOver, HandedOver, Http, Lock, Popup, Store, Vault};

/// `authorize`'s `mode` (R21, R24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The popup, or a full-page redirect when the browser blocks it.
    Auto,
    /// The popup, or the `popup_blocked` error when the browser blocks it (R21).
    Popup,
    /// A full-page redirect (R24); needs `local` or `session` storage (R25).
    Redirect,
}

impl Mode {
    /// Whether a popup is to be opened in the click.
    pub fn opens_popup(self) -> bool {
        self != Mode::Redirect
    }

    /// R21, R25: given whether the popup opened, whether the flow runs in it (`true`) or by a
    /// full-page redirect (`false`). A redirect loses the page's memory, and with it a memory
    /// store's flow: memory storage needs the popup; a blocked popup in `popup` mode is an
    /// error, in `auto` mode a redirect.
    pub fn in_popup(self, popup_opened: bool, in_memory: bool) -> Result<bool, McpError> {
        if self == Mode::Redirect {
            return match in_memory {
                true => Err(McpError::new(
                    ErrorCode::InvalidInput,
                    "mode \"redirect\" needs storage \"local\" or \"session\"",
                )),
                false => Ok(false),
            };
        }
        if popup_opened {
            return Ok(true);
        }
        if self == Mode::Popup || in_memory {
            return Err(McpError::new(
                ErrorCode::PopupBlocked,
                "the browser blocked the sign-in popup",
            ));
        }
        Ok(false)
    }
}

/// What the callback page did (R22, R24).
pub enum CallbackPage {
    /// A popup: the opener finished the flow of `server_url`, with this status (the contract's
    /// JSON); the window closes.
    Popup {
        /// The flow's server, as the opener holds it.
        server_url: String,
        /// The status the flow ended in, as the contract's JSON.
        status: serde_json::Value,
    },
    /// A full-page redirect: this page completed `flow`.
    FullPage {
        /// The pending flow the callback completed, its `return_to` included (R24).
        flow: Box<PendingFlow>,
        /// The server's status once the tokens are stored.
        status: Status,
    },
}

impl<H: Http, S: Store, E: Env, L: Lock, V: Vault> Engine<H, S, E, L, V> {
    /// R21–R23: the popup flow in `popup`, opened blank in the click: discovery and the client
    /// while the window waits (a window closed meanwhile ends the call at once), then the window
    /// goes to the authorization server, its callback page hands the response back, and the code
    /// is exchanged here. The pending flow is taken out however it ends, and the window hears
    /// how it did.
    pub async fn authorize_in_popup<P: Popup>(
        &self,
        server: &ServerUrl,
        popup: &P,
        options: AuthorizeOptions,
    ) -> Result<Status, McpError> {
        let begin = std::pin::pin!(self.begin_authorization(server, options));
        let watch = std::pin::pin!(popup.closed_while_blank());
        let begun = match select(begin, watch).await {
            Either::Left((begun, _)) => begun?,
            Either::Right((stopped, _)) => return Err(stopped),
        };
        let (url, state) = match begun {
            Begin::NotNeeded(status) => {
                popup.close();
                return Ok(status);
            }
            Begin::Navigate { url, state } => (url, state),
        };
        if popup.cancelled() {
            self.take_flow(Some(&state));
            return Err(McpError::new(
                ErrorCode::Cancelled,
                "the app cancelled the authorization",
            ));
        }
        if let Err(e) = popup.navigate(&url) {
            self.take_flow(Some(&state));
            return Err(e);
        }
        let on_detached = || {
            self.env
                .step(server.as_str(), Step::PopupDetached, "finish signing in in the popup")
        };
        let channel = self.flow_key(&state);
        let handed = popup
            .wait_for_result(&channel, &state, server.as_str(), &on_detached)
            .await;
        // R22: this page holds the flow (taken out whatever happened); it checks the parameters
        // and exchanges the code
        let flow = self.take_flow(Some(&state));
        let outcome = self.complete_callback(handed?, flow.as_ref()).await;
        popup.announce(&channel, &state, &outcome);
        outcome
    }

    /// R22, R24: the callback page. A flow waiting in this tab (a full-page redirect) is
    /// completed here; otherwise the parameters go to the opener that holds the popup flow, and
    /// the page resolves with that flow's server and the status the opener finished with (what
    /// this origin's storage says of the server when no word came in time). `clean` gets the
    /// flow's redirect URI (or `None`) as soon as the flow is known, for the address bar.
    pub async fn callback_page<T: HandOver>(
        &self,
        params: CallbackParams,
        hand_over: &T,
        clean: impl FnOnce(Option<&str>),
    ) -> Result<CallbackPage, McpError> {
        if !params.is_oauth_response() {
            return Err(McpError::new(
                ErrorCode::InvalidInput,
                "not an authorization response: the URL has no code, error or state",
            ));
        }
        let flow = self.take_flow(params.state.as_deref());
        clean(flow.as_ref().map(|f| f.redirect_uri.as_str()));
        if let Some(flow) = flow {
            let status = self.complete_callback(params, Some(&flow)).await?;
            return Ok(CallbackPage::FullPage {
                flow: Box::new(flow),
                status,
            });
        }
        let handed = match params.state.as_deref() {
            Some(state) => hand_over.hand_over(&self.flow_key(state), &params).await,
            None => None,
        };
        let Some(HandedOver { server_url, outcome }) = handed else {
            return Err(CallbackError::StateMismatch.into());
        };
        hand_over.close_window();
        let status = match outcome {
            Some(Ok(status)) => status,
            Some(Err(e)) => return Err(e),
            None => {
                let status =
                    ServerUrl::parse(&server_url).map_or_else(|_| Status::unknown(&server_url), |s| self.status(&s));
                serde_json::to_value(status).map_err(|e| McpError::new(ErrorCode::InvalidResponse, e.to_string()))?
            }
        };
        Ok(CallbackPage::Popup { server_url, status })
    }
}
