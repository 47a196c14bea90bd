//! R26: the page's line in front of the cross-tab lock (`PageLocks`), over a fake origin whose
//! locks wait as Web Locks do (granted in request order, one holder a name) and whose clock
//! moves only when a test says so. Pages are `PageLocks` over the same origin; callers are tasks
//! of one local executor.

use std::cell::Cell;
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;

use super::*;
use crate::flow::page_locks::{CrossTab, Denied, PageGuard, PageLocks};

const NAME: &str = "mcp-oauth:refresh:https://mcp.example/mcp";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    WebLocks,
    /// an insecure context: no Web Locks
    Unavailable,
    /// an opaque origin: every request refused outright
    Refusing,
}

/// The origin's cross-tab locks and the clock, shared by its pages.
struct Origin {
    mode: Cell<Mode>,
    now: Cell<u64>,
    held: RefCell<BTreeSet<String>>,
    /// requests waiting, in request order: (id, name)
    queue: RefCell<VecDeque<(u64, String)>>,
    next_id: Cell<u64>,
    /// every request asked: (name, timeout)
    requests: RefCell<Vec<(String, u32)>>,
    /// whoever waits on a lock or the clock; all woken on any change
    wakers: RefCell<Vec<Waker>>,
}

impl Origin {
    fn new(mode: Mode) -> Rc<Origin> {
        Rc::new(Origin {
            mode: Cell::new(mode),
            now: Cell::new(0),
            held: RefCell::default(),
            queue: RefCell::default(),
            next_id: Cell::new(0),
            requests: RefCell::default(),
            wakers: RefCell::default(),
        })
    }
    fn wake_all(&self) {
        for w in self.wakers.take() {
            w.wake();
        }
    }
    fn advance(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
        self.wake_all();
    }
    fn requests(&self) -> usize {
        self.requests.borrow().len()
    }
    fn is_held(&self) -> bool {
        self.held.borrow().contains(NAME)
    }
}

/// A page's handle on the origin.
#[derive(Clone)]
struct Tab(Rc<Origin>);

struct Release(Rc<Origin>, String);
impl Drop for Release {
    fn drop(&mut self) {
        self.0.held.borrow_mut().remove(&self.1);
        self.0.wake_all();
    }
}

struct Request {
    origin: Rc<Origin>,
    id: u64,
    name: String,
    deadline: u64,
    done: bool,
}
impl Future for Request {
    type Output = Result<Release, Denied>;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let o = self.origin.clone();
        let ended = match o.mode.get() {
            Mode::Unavailable => Some(Err(Denied::Unavailable)),
            Mode::Refusing => Some(Err(Denied::Refused("SecurityError".into()))),
            Mode::WebLocks => {
                let first = o
                    .queue
                    .borrow()
                    .iter()
                    .find(|(_, n)| *n == self.name)
                    .map(|(id, _)| *id);
                if first == Some(self.id) && !o.is_held_name(&self.name) {
                    o.held.borrow_mut().insert(self.name.clone());
                    Some(Ok(Release(o.clone(), self.name.clone())))
                } else if o.now.get() >= self.deadline {
                    Some(Err(Denied::TimedOut))
                } else {
                    None
                }
            }
        };
        match ended {
            Some(r) => {
                self.done = true;
                let id = self.id;
                o.queue.borrow_mut().retain(|(i, _)| *i != id);
                o.wake_all();
                Poll::Ready(r)
            }
            None => {
                o.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
impl Drop for Request {
    /// A request given up leaves the origin's queue (as an aborted Web Lock request does).
    fn drop(&mut self) {
        if !self.done {
            let id = self.id;
            self.origin.queue.borrow_mut().retain(|(i, _)| *i != id);
            self.origin.wake_all();
        }
    }
}

impl Origin {
    fn is_held_name(&self, name: &str) -> bool {
        self.held.borrow().contains(name)
    }
}

struct Sleep(Rc<Origin>, u64);
impl Future for Sleep {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.now.get() >= self.1 {
            return Poll::Ready(());
        }
        self.0.wakers.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

impl CrossTab for Tab {
    type Release = Release;
    type Request = Request;
    fn request(&self, name: &str, timeout_ms: u32) -> Request {
        let o = &self.0;
        let id = o.next_id.get();
        o.next_id.set(id + 1);
        o.requests.borrow_mut().push((name.to_string(), timeout_ms));
        o.queue.borrow_mut().push_back((id, name.to_string()));
        Request {
            origin: o.clone(),
            id,
            name: name.to_string(),
            deadline: o.now.get() + u64::from(timeout_ms),
            done: false,
        }
    }
    fn sleep(&self, ms: u32) -> impl Future<Output = ()> {
        Sleep(self.0.clone(), self.0.now.get() + u64::from(ms))
    }
}

type Page = PageLocks<Tab>;

/// What the callers got: the guards they hold (by name), and in order who got the lock and who
/// failed with what.
#[derive(Default)]
struct Callers {
    holding: RefCell<BTreeMap<&'static str, PageGuard<Tab>>>,
    log: RefCell<Vec<String>>,
}

impl Callers {
    fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
    /// `who` gives the lock back.
    fn release(&self, who: &str) {
        let guard = self.holding.borrow_mut().remove(who).expect("holds the lock");
        drop(guard);
    }
}

struct Run {
    pool: LocalPool,
    origin: Rc<Origin>,
    callers: Rc<Callers>,
}

impl Run {
    fn new(mode: Mode) -> Run {
        Run {
            pool: LocalPool::new(),
            origin: Origin::new(mode),
            callers: Rc::default(),
        }
    }
    fn page(&self) -> Page {
        PageLocks::new(Tab(self.origin.clone()))
    }
    /// `who` of `page` asks for the lock, bounded by `timeout_ms`; runs until everyone waits.
    fn call(&mut self, page: &Page, who: &'static str, timeout_ms: u32) {
        let (page, callers) = (page.clone(), self.callers.clone());
        self.pool
            .spawner()
            .spawn_local(async move {
                match page.acquire(NAME, timeout_ms).await {
                    Ok(guard) => {
                        callers.log.borrow_mut().push(format!("{who} got"));
                        callers.holding.borrow_mut().insert(who, guard);
                    }
                    Err(e) => callers.log.borrow_mut().push(format!("{who} {}", e.code.as_str())),
                }
            })
            .unwrap();
        self.settle();
    }
    fn settle(&mut self) {
        self.pool.run_until_stalled();
    }
    fn release(&mut self, who: &str) {
        self.callers.release(who);
        self.settle();
    }
    fn advance(&mut self, ms: u64) {
        self.origin.advance(ms);
        self.settle();
    }
    fn log(&self) -> Vec<String> {
        self.callers.log()
    }
}

fn got(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{n} got")).collect()
}

#[test]
fn r26_the_lock_is_exclusive_across_the_page_s_callers_and_the_tabs() {
    let mut r = Run::new(Mode::WebLocks);
    let (a, b) = (r.page(), r.page());
    r.call(&a, "a1", 10_000);
    r.call(&a, "a2", 10_000);
    r.call(&b, "b1", 10_000);
    assert_eq!(
        r.log(),
        got(&["a1"]),
        "one holder at a time, in the page and across tabs"
    );
    assert!(r.origin.is_held());
    // another name is another lock
    let other = {
        let page = a.clone();
        let mut f = pin!(page.acquire("another", 10));
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(held) => held.map(|_| ()).map_err(|e| e.code),
            Poll::Pending => panic!("another name is free"),
        }
    };
    assert_eq!(other, Ok(()));
    r.release("a1");
    r.release("a2");
    r.release("b1");
    assert_eq!(r.log(), got(&["a1", "a2", "b1"]));
    assert!(!r.origin.is_held(), "free once everyone released it");
}

#[test]
fn r26_the_page_s_callers_get_the_lock_in_call_order() {
    let mut r = Run::new(Mode::WebLocks);
    let a = r.page();
    for who in ["a1", "a2", "a3", "a4"] {
        r.call(&a, who, 10_000);
    }
    for who in ["a1", "a2", "a3"] {
        r.release(who);
    }
    assert_eq!(r.log(), got(&["a1", "a2", "a3", "a4"]));
}

#[test]
fn r26_a_run_of_the_page_s_callers_takes_the_cross_tab_lock_once() {
    let mut r = Run::new(Mode::WebLocks);
    let (a, b) = (r.page(), r.page());
    r.call(&a, "a1", 10_000);
    r.call(&b, "b1", 10_000);
    for who in ["a2", "a3", "a4", "a5"] {
        r.call(&a, who, 10_000);
    }
    for who in ["a1", "a2", "a3", "a4"] {
        r.release(who);
        assert!(
            r.origin.is_held(),
            "the page keeps the cross-tab lock while its callers wait"
        );
    }
    assert_eq!(
        r.log(),
        got(&["a1", "a2", "a3", "a4", "a5"]),
        "b1 waits for the page's run"
    );
    assert_eq!(r.origin.requests(), 2, "one request for page a's run, one for page b");
}

#[test]
fn r26_the_cross_tab_lock_goes_back_when_the_page_s_line_empties() {
    let mut r = Run::new(Mode::WebLocks);
    let (a, b) = (r.page(), r.page());
    r.call(&a, "a1", 10_000);
    r.release("a1");
    assert!(
        !r.origin.is_held(),
        "no one in the page waits: released to the other tabs"
    );
    r.call(&a, "a2", 10_000);
    r.call(&b, "b1", 10_000);
    r.call(&a, "a3", 10_000);
    r.release("a2");
    r.release("a3");
    assert_eq!(r.log(), got(&["a1", "a2", "a3", "b1"]), "b1 once page a's line emptied");
    r.call(&a, "a4", 10_000);
    assert_eq!(r.log().len(), 4, "page a asks the other tabs again");
    r.release("b1");
    assert_eq!(r.log(), got(&["a1", "a2", "a3", "b1", "a4"]));
    assert_eq!(r.origin.requests(), 4, "a1; a2 and a3; b1; a4");
}

#[test]
fn r26_a_waiter_that_times_out_leaves_the_line_and_the_next_one_gets_it() {
    let mut r = Run::new(Mode::WebLocks);
    let a = r.page();
    r.call(&a, "a1", 10_000);
    r.call(&a, "a2", 100);
    r.call(&a, "a3", 10_000);
    r.advance(100);
    assert_eq!(r.log(), vec!["a1 got".to_string(), "a2 timeout".into()]);
    r.release("a1");
    assert_eq!(r.log()[2], "a3 got", "past the waiter that gave up");
}

#[test]
fn r26_a_waiter_s_bound_counts_from_its_own_call() {
    let mut r = Run::new(Mode::WebLocks);
    let (a, b) = (r.page(), r.page());
    r.call(&b, "b1", 10_000);
    r.call(&a, "a1", 100);
    r.advance(60);
    r.call(&a, "a2", 100);
    r.advance(40);
    assert_eq!(r.log(), vec!["b1 got".to_string(), "a1 timeout".into()], "a1 at 100 ms");
    r.advance(59);
    assert_eq!(r.log().len(), 2, "a2 still waits at 159 ms: its bound began at 60");
    r.advance(1);
    assert_eq!(r.log()[2], "a2 timeout");
    // the page's request for a1 timed out with a1; a2's own was asked with a2's bound
    assert_eq!(
        *r.origin.requests.borrow(),
        vec![(NAME.to_string(), 10_000), (NAME.into(), 100), (NAME.into(), 100)]
    );
    r.call(&a, "a3", 1_000);
    r.release("b1");
    assert_eq!(r.log()[3], "a3 got", "a request given up does not keep the lock");
}

#[test]
fn r26_a_refused_request_fails_every_waiter_at_once_and_is_not_asked_again() {
    let mut r = Run::new(Mode::WebLocks);
    let (a, b) = (r.page(), r.page());
    r.call(&b, "b1", 60_000);
    for who in ["a1", "a2", "a3"] {
        r.call(&a, who, 10_000);
    }
    assert_eq!(r.origin.requests(), 2, "page a's three callers wait behind one request");
    // the document is no longer active: its request is refused outright
    r.origin.mode.set(Mode::Refusing);
    r.advance(1);
    assert_eq!(
        r.log(),
        vec!["b1 got", "a1 timeout", "a2 timeout", "a3 timeout"],
        "all at once"
    );
    r.advance(20_000);
    assert_eq!(r.origin.requests(), 2, "and never asked again in a loop");
    // a later caller asks afresh, and gets the lock once the origin grants it
    r.origin.mode.set(Mode::WebLocks);
    r.call(&a, "a4", 10_000);
    r.release("b1");
    assert_eq!(r.log()[4], "a4 got");
}

#[test]
fn r26_without_a_cross_tab_lock_the_page_s_callers_still_queue_with_the_bound() {
    let mut r = Run::new(Mode::Unavailable);
    let a = r.page();
    r.call(&a, "a1", 10_000);
    r.call(&a, "a2", 100);
    r.call(&a, "a3", 10_000);
    r.call(&a, "a4", 10_000);
    r.advance(100);
    assert_eq!(
        r.log(),
        vec!["a1 got".to_string(), "a2 timeout".into()],
        "one holder; a bounded wait"
    );
    r.release("a1");
    r.release("a3");
    assert_eq!(r.log()[2..], got(&["a3", "a4"]));
    assert!(!r.origin.is_held());
}

#[test]
fn r26_a_timed_out_cross_tab_request_is_asked_again_while_the_page_waits() {
    let mut r = Run::new(Mode::WebLocks);
    let (a, b) = (r.page(), r.page());
    r.call(&b, "b1", 10_000);
    r.call(&a, "a1", 1_000);
    r.advance(500);
    r.call(&a, "a2", 5_000);
    r.advance(500);
    assert_eq!(r.log()[1], "a1 timeout");
    // the request asked for a1 timed out with it: asked again for a2, with a2's bound
    let asked: Vec<u32> = r.origin.requests.borrow().iter().map(|(_, t)| *t).collect();
    assert_eq!(asked, vec![10_000, 1_000, 5_000]);
    r.advance(1_000);
    r.release("b1");
    assert_eq!(r.log()[2..], got(&["a2"]));
}
