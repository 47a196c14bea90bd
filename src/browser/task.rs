//! Promises both ways: [`spawn`] runs a Rust future and settles a JS `Promise` with its result,
//! and [`settled`] awaits a JS `Promise` from Rust.
//!
//! This replaces wasm-bindgen-futures, whose general task queue, JSPI support and per-type
//! closures cost about 6 KB of wasm that this library does not use. What it needs is small: a
//! task per public call, polled on a microtask whenever it is woken (single-threaded, so no
//! locks), and a waker that is an `Rc` of that task.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::Cell;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use js_sys::{Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `queueMicrotask(f)`: runs `f` once the current JS task has finished.
    #[wasm_bindgen(js_name = queueMicrotask)]
    fn queue_microtask(f: &JsValue);
}

type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

// `Cell`s, taken and put back, rather than `RefCell`s: nothing here can hold a borrow across a
// call, and the module carries no borrow-panic path.
struct Task {
    future: Cell<Option<LocalFuture>>,
    /// A poll is already queued: more wakes before it runs change nothing.
    queued: Cell<bool>,
}

impl Task {
    fn schedule(self: Rc<Self>) {
        if self.queued.replace(true) {
            return;
        }
        queue_microtask(&Closure::once_into_js(move || self.run()));
    }

    fn run(self: Rc<Self>) {
        self.queued.set(false);
        let waker = waker(&self);
        let mut cx = Context::from_waker(&waker);
        // A wake during the poll only queues another microtask: the future is back in its
        // cell before that runs.
        if let Some(mut f) = self.future.take()
            && f.as_mut().poll(&mut cx).is_pending()
        {
            self.future.set(Some(f));
        }
    }
}

// The waker is an `Rc<Task>` behind a raw pointer: the four functions below keep the strong
// count right (clone +1, wake and drop −1, wake_by_ref ±0). Wasm without atomics has one thread,
// so an `Rc` never crosses threads.
const VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

fn raw(task: Rc<Task>) -> RawWaker {
    RawWaker::new(Rc::into_raw(task).cast(), &VTABLE)
}

unsafe fn clone_raw(p: *const ()) -> RawWaker {
    // SAFETY: `p` came from `Rc::into_raw` in `raw` and its count is still held by the waker.
    unsafe { Rc::increment_strong_count(p.cast::<Task>()) };
    RawWaker::new(p, &VTABLE)
}

unsafe fn wake_raw(p: *const ()) {
    // SAFETY: as above; this consumes the waker's count.
    unsafe { Rc::from_raw(p.cast::<Task>()) }.schedule();
}

unsafe fn wake_by_ref_raw(p: *const ()) {
    // SAFETY: as above; the waker keeps its count, the clone made here is consumed.
    unsafe { Rc::increment_strong_count(p.cast::<Task>()) };
    unsafe { Rc::from_raw(p.cast::<Task>()) }.schedule();
}

unsafe fn drop_raw(p: *const ()) {
    // SAFETY: as above; this releases the waker's count.
    drop(unsafe { Rc::from_raw(p.cast::<Task>()) });
}

fn waker(task: &Rc<Task>) -> Waker {
    // SAFETY: `VTABLE` upholds the `RawWaker` contract for an `Rc<Task>` (see above).
    unsafe { Waker::from_raw(raw(task.clone())) }
}

/// Runs `f` (first poll on a microtask) and returns a `Promise` that settles with its result.
pub fn spawn(f: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>) -> Promise {
    let mut f = Some(f);
    Promise::new(&mut |resolve: Function, reject: Function| {
        let Some(f) = f.take() else { return };
        let task = Rc::new(Task {
            future: Cell::new(Some(Box::pin(async move {
                let _ = match f.await {
                    Ok(v) => resolve.call1(&JsValue::UNDEFINED, &v),
                    Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
                };
            }))),
            queued: Cell::new(false),
        });
        task.schedule();
    })
}

type Callback = Closure<dyn FnMut(JsValue)>;

/// What a settled promise gave, and who waits for it.
#[derive(Default)]
struct Outcome {
    result: Cell<Option<Result<JsValue, JsValue>>>,
    waker: Cell<Option<Waker>>,
    /// The two callbacks, dropped once either runs (the other is then never called).
    callbacks: Cell<Option<(Callback, Callback)>>,
}

fn settle(state: &Outcome, r: Result<JsValue, JsValue>) {
    state.result.set(Some(r));
    drop(state.callbacks.take());
    if let Some(w) = state.waker.take() {
        w.wake();
    }
}

/// Awaits `promise`: `Ok` with its value, `Err` with its rejection reason.
pub async fn settled(promise: &Promise) -> Result<JsValue, JsValue> {
    let state: Rc<Outcome> = Rc::default();
    let (a, b) = (state.clone(), state.clone());
    let ok = Closure::once(move |v: JsValue| settle(&a, Ok(v)));
    let err = Closure::once(move |e: JsValue| settle(&b, Err(e)));
    let _ = promise.then2(&ok, &err);
    state.callbacks.set(Some((ok, err)));
    poll_fn(move |cx| match state.result.take() {
        Some(r) => Poll::Ready(r),
        None => {
            state.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    })
    .await
}
