//! The fakes the flow tests run over: a scripted HTTP peer, a memory store, a settable clock
//! and event sink, locks that wait as Web Locks do, a vault, and the shell's `send` for the
//! app's own requests.

use super::*;

/// The vault as IndexedDB would be: a map of secret texts; `broken` makes every write fail.
#[derive(Default)]
pub(super) struct FakeVault {
    pub(super) secrets: RefCell<BTreeMap<String, String>>,
    pub(super) broken: std::cell::Cell<bool>,
    pub(super) dpop_keys: RefCell<std::collections::BTreeSet<String>>,
}
impl Vault for &FakeVault {
    async fn get(&self, key: &str) -> Option<String> {
        self.secrets.borrow().get(key).cloned()
    }
    async fn put(&self, key: &str, value: &str) -> Result<(), McpError> {
        if self.broken.get() {
            return Err(McpError::new(
                crate::core::error::ErrorCode::StorageUnavailable,
                "IndexedDB refused",
            ));
        }
        self.secrets.borrow_mut().insert(key.into(), value.into());
        Ok(())
    }
    async fn delete(&self, key: &str) {
        self.secrets.borrow_mut().remove(key);
    }
    async fn dpop_public_key(&self, name: &str) -> Result<String, McpError> {
        self.dpop_keys.borrow_mut().insert(name.into());
        Ok(format!(r#"{{"crv":"P-256","kty":"EC","x":"x-of-{name}","y":"y"}}"#))
    }
    /// A test double: "signs" with the key's name, so a test can tell which key signed what.
    async fn dpop_sign(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, McpError> {
        assert!(self.dpop_keys.borrow().contains(name), "a key is made before it signs");
        Ok([name.as_bytes(), b"|", &Sha256::digest(input)[..4]].concat())
    }
    async fn dpop_delete(&self, name: &str) {
        self.dpop_keys.borrow_mut().remove(name);
    }
}
pub(super) type Handler = Box<dyn Fn(&HttpRequest) -> Option<Result<HttpResponse, HttpError>>>;
/// Locks by name, as Web Locks are: an async mutex each; counts the acquisitions.
#[derive(Default)]
pub(super) struct FakeLock {
    pub(super) locks: RefCell<BTreeMap<String, std::sync::Arc<futures::lock::Mutex<()>>>>,
    pub(super) acquired: RefCell<u32>,
}
impl Lock for &FakeLock {
    type Guard = futures::lock::OwnedMutexGuard<()>;
    async fn acquire(&self, name: &str, _timeout_ms: u32) -> Result<Self::Guard, McpError> {
        let m = self.locks.borrow_mut().entry(name.to_string()).or_default().clone();
        let guard = m.lock_owned().await;
        *self.acquired.borrow_mut() += 1;
        Ok(guard)
    }
}
#[derive(Default)]
pub(super) struct FakeHttp {
    pub(super) routes: RefCell<Vec<(String, Handler)>>,
    pub(super) log: RefCell<Vec<HttpRequest>>,
    /// Requests to this URL take a turn of the executor before their answer (as a real
    /// request would), so that concurrent callers interleave.
    pub(super) slow: RefCell<Option<String>>,
}
/// Gives the executor one turn: `Pending` once, with a wake-up.
pub(super) struct YieldNow(pub(super) bool);
impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
impl FakeHttp {
    pub(super) fn route(
        &self,
        url: &str,
        f: impl Fn(&HttpRequest) -> Option<Result<HttpResponse, HttpError>> + 'static,
    ) {
        self.routes.borrow_mut().insert(0, (url.to_string(), Box::new(f)));
    }
    pub(super) fn json(&self, url: &str, status: u16, body: &'static str) {
        self.route(url, move |_| Some(Ok(HttpResponse::new(status, vec![], body))));
    }
    pub(super) fn urls(&self) -> Vec<String> {
        self.log.borrow().iter().map(|r| r.url.to_string()).collect()
    }
    pub(super) fn last_to(&self, url: &str) -> HttpRequest {
        self.log
            .borrow()
            .iter()
            .rev()
            .find(|r| r.url.as_str() == url)
            .cloned()
            .expect("no request to that URL")
    }
}
impl Http for &FakeHttp {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.log.borrow_mut().push(req.clone());
        if self.slow.borrow().as_deref() == Some(req.url.as_str()) {
            YieldNow(false).await;
        }
        for (url, h) in self.routes.borrow().iter() {
            if url == req.url.as_str()
                && let Some(r) = h(&req)
            {
                return r;
            }
        }
        Ok(HttpResponse::new(404, vec![], "not found"))
    }
}
#[derive(Default)]
pub(super) struct MemStore(pub(super) RefCell<BTreeMap<String, String>>);
impl Store for &MemStore {
    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, Corrupt>> {
        self.0
            .borrow()
            .get(key)
            .map(|text| serde_json::from_str(text).map_err(|_| Corrupt))
    }
    fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<(), McpError> {
        self.0
            .borrow_mut()
            .insert(key.into(), serde_json::to_string(value).unwrap());
        Ok(())
    }
    fn remove(&self, key: &str) {
        self.0.borrow_mut().remove(key);
    }
    fn keys(&self) -> Vec<String> {
        self.0.borrow().keys().cloned().collect()
    }
    fn shares_keys_with(&self, other: &Self) -> bool {
        std::ptr::eq(*self, *other)
    }
}
#[derive(Default)]
pub(super) struct FakeEnv {
    pub(super) now: RefCell<u64>,
    pub(super) counter: RefCell<u8>,
    pub(super) steps: RefCell<Vec<(String, String)>>,
    pub(super) statuses: RefCell<Vec<Status>>,
    pub(super) warnings: RefCell<Vec<(Option<String>, Warning)>>,
}
impl Env for &FakeEnv {
    fn now_ms(&self) -> u64 {
        *self.now.borrow()
    }
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), McpError> {
        let mut c = self.counter.borrow_mut();
        *c = c.wrapping_add(1);
        buf.fill(*c);
        Ok(())
    }
    fn step(&self, _server: &str, step: crate::flow::records::Step, detail: &str) {
        self.steps.borrow_mut().push((step.as_str().into(), detail.into()));
    }
    fn status_changed(&self, status: &Status) {
        self.statuses.borrow_mut().push(status.clone());
    }
    fn warning(&self, server_url: Option<&str>, warning: Warning, _message: &str) {
        self.warnings
            .borrow_mut()
            .push((server_url.map(str::to_string), warning));
    }
}
/// The shell's side of `auth.fetch` in these tests: records the token each send carried and
/// answers with the scripted statuses in turn.
pub(super) type Answer = (u16, Option<&'static str>, Option<&'static str>);
/// An answer and the URL it came from (`Response.url`, after redirects).
pub(super) type RedirectedAnswer = (u16, Option<&'static str>, Option<&'static str>, Option<&'static str>);
pub(super) struct FakeSend {
    pub(super) answers: RefCell<Vec<RedirectedAnswer>>,
    pub(super) sent: RefCell<Vec<Option<Credentials>>>,
}
impl FakeSend {
    pub(super) fn new(statuses: &[u16]) -> FakeSend {
        Self::answering(&statuses.iter().map(|s| (*s, None)).collect::<Vec<_>>())
    }
    /// Statuses with a `WWW-Authenticate` header each.
    pub(super) fn answering(answers: &[(u16, Option<&'static str>)]) -> FakeSend {
        Self::answering_with_nonces(&answers.iter().map(|(s, c)| (*s, *c, None)).collect::<Vec<_>>())
    }
    /// Statuses with a `WWW-Authenticate` and a `DPoP-Nonce` header each.
    pub(super) fn answering_with_nonces(answers: &[Answer]) -> FakeSend {
        Self::redirected(&answers.iter().map(|(s, c, n)| (*s, *c, *n, None)).collect::<Vec<_>>())
    }
    /// Answers with the URL each came from.
    pub(super) fn redirected(answers: &[RedirectedAnswer]) -> FakeSend {
        FakeSend {
            answers: RefCell::new(answers.to_vec()),
            sent: RefCell::default(),
        }
    }
    pub(super) async fn send(&self, credentials: Option<Credentials>) -> Result<Sent<u16>, McpError> {
        self.sent.borrow_mut().push(credentials);
        let (status, challenge, nonce, final_url) = self.answers.borrow_mut().remove(0);
        Ok(Sent {
            status,
            www_authenticate: challenge.map(str::to_string),
            dpop_nonce: nonce.map(str::to_string),
            final_url: final_url.map(str::to_string),
            response: status,
        })
    }
    /// The credentials of each send in turn.
    pub(super) fn credentials(&self) -> Vec<Option<Credentials>> {
        self.sent.borrow().clone()
    }
    /// The token of each send in turn, `-` for none.
    pub(super) fn tokens(&self) -> Vec<String> {
        self.sent
            .borrow()
            .iter()
            .map(|c| c.as_ref().map_or_else(|| "-".into(), |c| c.token.secret().to_string()))
            .collect()
    }
}
