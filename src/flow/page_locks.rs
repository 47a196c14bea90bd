//! R26's refresh lock as the page holds it: a cross-tab lock per name (a Web Lock in the browser)
//! and the page's own line of callers in front of it, so that the page takes the cross-tab lock
//! once for a run of its callers. A release hands the lock to the page's next caller at once; it
//! goes back to the other tabs when the page has no one waiting. A waiter gives up after its own
//! bound, counted from its own call, and leaves the line. A cross-tab request refused outright
//! fails every waiter at once and is not asked again for them. Without a cross-tab lock (an
//! insecure context has no Web Locks) the page's callers still queue, with the same bound.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::future::{Either, select};

use crate::core::error::{ErrorCode, McpError};

/// Why the cross-tab lock was not had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Not granted within the request's bound (or aborted): asked again while the page waits.
    TimedOut,
    /// There is no cross-tab lock here: the page's line alone orders its callers.
    Unavailable,
    /// Refused outright (an opaque origin, a document no longer active), with what was said.
    Refused(String),
}

/// The shell's side of the page's locks: the cross-tab lock, and a timer for the waiters' bounds.
pub trait CrossTab {
    /// Gives the cross-tab lock back when dropped.
    type Release;
    /// A request in flight. Dropped before it resolves, it gives up the lock should it still
    /// be granted.
    type Request: Future<Output = Result<Self::Release, Denied>>;
    /// Asks for the cross-tab lock `name`, granted within `timeout_ms` or `Denied::TimedOut`.
    fn request(&self, name: &str, timeout_ms: u32) -> Self::Request;
    /// Resolves `ms` after the call (not after the first poll).
    fn sleep(&self, ms: u32) -> impl Future<Output = ()>;
}

/// Every lock name's line in this page; cloned handles share it.
pub struct PageLocks<T: CrossTab>(Rc<Page<T>>);

impl<T: CrossTab> Clone for PageLocks<T> {
    fn clone(&self) -> Self {
        PageLocks(self.0.clone())
    }
}

impl<T: CrossTab> PageLocks<T> {
    /// The page's lines, empty, over `cross_tab`.
    pub fn new(cross_tab: T) -> Self {
        PageLocks(Rc::new(Page {
            cross_tab,
            lines: RefCell::default(),
        }))
    }
}

/// The lock `name` held by one of the page's callers, until dropped.
pub struct PageGuard<T: CrossTab> {
    page: Rc<Page<T>>,
    name: String,
}

impl<T: CrossTab> Drop for PageGuard<T> {
    fn drop(&mut self) {
        self.page.release(&self.name);
    }
}

impl<T: CrossTab> super::Lock for PageLocks<T> {
    type Guard = PageGuard<T>;

    async fn acquire(&self, name: &str, timeout_ms: u32) -> Result<PageGuard<T>, McpError> {
        let timer = self.0.cross_tab.sleep(timeout_ms);
        let place = Place::join(&self.0, name, timeout_ms);
        let waited = {
            let turn = pin!(poll_fn(|cx| place.poll_turn(cx)));
            match select(turn, pin!(timer)).await {
                Either::Left((turn, _)) => Some(turn),
                Either::Right(_) => None,
            }
        };
        match waited {
            Some(Ok(())) => Ok(place.into_guard()),
            Some(Err(why)) => Err(McpError::new(
                ErrorCode::Timeout,
                format!("the browser refused this server's refresh lock: {why}"),
            )),
            // handed the lock in the same turn as the bound ran out: it is this caller's
            None if place.granted() => Ok(place.into_guard()),
            // leaves the line as `place` drops
            None => Err(McpError::new(
                ErrorCode::Timeout,
                "another tab or caller has held this server's refresh lock too long",
            )),
        }
    }
}

struct Page<T: CrossTab> {
    cross_tab: T,
    /// Few names (one a server): a list.
    lines: RefCell<Vec<Line<T>>>,
}

/// One lock name's line: the page's waiters in call order, whether one of the page's callers
/// holds it, the cross-tab lock while the page holds it, and the request for it in flight.
struct Line<T: CrossTab> {
    name: String,
    waiting: Vec<Rc<Waiter>>,
    held: bool,
    cross_tab: Option<T::Release>,
    asking: Option<Pin<Box<T::Request>>>,
    /// No cross-tab lock to be had: the page's line alone, until it empties.
    page_only: bool,
}

impl<T: CrossTab> Line<T> {
    fn new(name: &str) -> Self {
        Line {
            name: name.to_string(),
            waiting: Vec::new(),
            held: false,
            cross_tab: None,
            asking: None,
            page_only: false,
        }
    }
}

enum Turn {
    Waiting(Option<Waker>),
    Granted,
    Failed(String),
}

struct Waiter {
    turn: RefCell<Turn>,
    timeout_ms: u32,
}

impl Waiter {
    fn wake(&self) {
        if let Turn::Waiting(Some(w)) = &*self.turn.borrow() {
            w.wake_by_ref();
        }
    }

    fn end(&self, turn: Turn) {
        let before = self.turn.replace(turn);
        if let Turn::Waiting(Some(w)) = before {
            w.wake();
        }
    }
}

impl<T: CrossTab> Page<T> {
    /// The line's next move after any change: hand the lock to the page's next waiter, ask for
    /// the cross-tab lock, or give it back to the other tabs.
    fn settle(&self, name: &str) {
        let mut lines = self.lines.borrow_mut();
        let Some(at) = lines.iter().position(|l| l.name == name) else {
            return;
        };
        let line = &mut lines[at];
        if line.held {
            return;
        }
        if line.waiting.is_empty() {
            // no one in the page wants it: back to the other tabs (a request in flight given up)
            let gone = lines.swap_remove(at);
            drop(lines);
            drop(gone);
            return;
        }
        if line.cross_tab.is_some() || line.page_only {
            let next = line.waiting.remove(0);
            line.held = true;
            next.end(Turn::Granted);
        } else if line.asking.is_none() {
            // bounded by the longest wait of the page's line: each waiter's own bound, from its
            // own call, decides when it gives up; the request is given up when the line empties
            let bound = line.waiting.iter().map(|w| w.timeout_ms).max().unwrap_or_default();
            line.asking = Some(Box::pin(self.cross_tab.request(name, bound)));
            // the front waiter polls the request
            line.waiting[0].wake();
        }
    }

    /// Polls the cross-tab request in flight (a waiter's poll drives it) and acts on its end.
    fn drive(&self, name: &str, cx: &mut Context<'_>) {
        {
            let mut lines = self.lines.borrow_mut();
            let Some(line) = lines.iter_mut().find(|l| l.name == name) else {
                return;
            };
            let Some(asking) = line.asking.as_mut() else {
                return;
            };
            let Poll::Ready(ended) = asking.as_mut().poll(cx) else {
                return;
            };
            line.asking = None;
            match ended {
                Ok(release) => line.cross_tab = Some(release),
                Err(Denied::Unavailable) => line.page_only = true,
                // asked again (by `settle`, on the front waiter's next poll) while the page waits
                Err(Denied::TimedOut) => {}
                Err(Denied::Refused(why)) => {
                    // every waiter told at once, and none of them asks again
                    for w in line.waiting.drain(..) {
                        w.end(Turn::Failed(why.clone()));
                    }
                }
            }
        }
        self.settle(name);
    }

    fn release(&self, name: &str) {
        if let Some(line) = self.lines.borrow_mut().iter_mut().find(|l| l.name == name) {
            line.held = false;
        }
        self.settle(name);
    }

    /// A waiter that gave up (or whose call was dropped) leaves the line at once.
    fn leave(&self, name: &str, waiter: &Rc<Waiter>) {
        if let Some(line) = self.lines.borrow_mut().iter_mut().find(|l| l.name == name) {
            line.waiting.retain(|w| !Rc::ptr_eq(w, waiter));
            if line.asking.is_some()
                && let Some(front) = line.waiting.first()
            {
                // it may have been the one the request would wake
                front.wake();
            }
        }
        self.settle(name);
    }
}

/// A caller's place in the line, left when dropped unless it became a guard.
struct Place<T: CrossTab> {
    page: Rc<Page<T>>,
    name: String,
    waiter: Rc<Waiter>,
    taken: Cell<bool>,
}

impl<T: CrossTab> Place<T> {
    fn join(page: &Rc<Page<T>>, name: &str, timeout_ms: u32) -> Self {
        let waiter = Rc::new(Waiter {
            turn: RefCell::new(Turn::Waiting(None)),
            timeout_ms,
        });
        {
            let mut lines = page.lines.borrow_mut();
            let at = match lines.iter().position(|l| l.name == name) {
                Some(at) => at,
                None => {
                    lines.push(Line::new(name));
                    lines.len() - 1
                }
            };
            lines[at].waiting.push(waiter.clone());
        }
        page.settle(name);
        Place {
            page: page.clone(),
            name: name.to_string(),
            waiter,
            taken: Cell::new(false),
        }
    }

    fn poll_turn(&self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        if let Turn::Waiting(w) = &mut *self.waiter.turn.borrow_mut() {
            *w = Some(cx.waker().clone());
        }
        self.page.drive(&self.name, cx);
        match &*self.waiter.turn.borrow() {
            Turn::Waiting(_) => Poll::Pending,
            Turn::Granted => Poll::Ready(Ok(())),
            Turn::Failed(why) => Poll::Ready(Err(why.clone())),
        }
    }

    fn granted(&self) -> bool {
        matches!(*self.waiter.turn.borrow(), Turn::Granted)
    }

    fn into_guard(self) -> PageGuard<T> {
        self.taken.set(true);
        PageGuard {
            page: self.page.clone(),
            name: self.name.clone(),
        }
    }
}

impl<T: CrossTab> Drop for Place<T> {
    fn drop(&mut self) {
        if self.taken.get() {
            return;
        }
        let turn = std::mem::replace(&mut *self.waiter.turn.borrow_mut(), Turn::Failed(String::new()));
        match turn {
            Turn::Waiting(_) => self.page.leave(&self.name, &self.waiter),
            // handed the lock but never took it: the next one's
            Turn::Granted => self.page.release(&self.name),
            Turn::Failed(_) => {}
        }
    }
}
