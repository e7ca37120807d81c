//! A worker's stop as its sessions wait for it between requests: a flag and the wakers of
//! those waiting, on the worker's thread only.
//!
//! Sessions wait for the next request and for the stop at once, on every keep-alive request.
//! A `tokio::sync::watch` receiver does that with a cloned receiver, a lock and an insertion
//! into the channel's waiter list each time, about 600 instructions; this is a slot in a
//! vector. The worker's own `watch` receiver stays the source: the worker raises this signal
//! when the channel says stop.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The signal (one per worker).
#[derive(Default)]
pub struct StopSignal {
    raised: Cell<bool>,
    waiters: RefCell<Waiters>,
}

#[derive(Default)]
struct Waiters {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl StopSignal {
    /// Whether the stop was raised.
    pub fn is_raised(&self) -> bool {
        self.raised.get()
    }

    /// Raises the stop and wakes everyone waiting for it.
    pub fn raise(&self) {
        self.raised.set(true);
        let wakers: Vec<Waker> = {
            let mut w = self.waiters.borrow_mut();
            w.wakers.iter_mut().filter_map(Option::take).collect()
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Resolves once the stop is raised.
    pub fn raised(&self) -> Raised<'_> {
        Raised {
            signal: self,
            slot: None,
        }
    }
}

/// The future of [`StopSignal::raised`].
pub struct Raised<'a> {
    signal: &'a StopSignal,
    slot: Option<usize>,
}

impl Future for Raised<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.signal.raised.get() {
            return Poll::Ready(());
        }
        let mut w = this.signal.waiters.borrow_mut();
        match this.slot {
            Some(i) => match &mut w.wakers[i] {
                Some(k) if k.will_wake(cx.waker()) => {}
                k => *k = Some(cx.waker().clone()),
            },
            None => {
                let waker = Some(cx.waker().clone());
                let i = match w.free.pop() {
                    Some(i) => {
                        w.wakers[i] = waker;
                        i
                    }
                    None => {
                        w.wakers.push(waker);
                        w.wakers.len() - 1
                    }
                };
                this.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for Raised<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            if let Ok(mut w) = self.signal.waiters.try_borrow_mut() {
                w.wakers[i] = None;
                w.free.push(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn waiters_are_woken_once_raised_and_slots_are_reused() {
        let s = StopSignal::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        {
            let mut a = std::pin::pin!(s.raised());
            assert!(a.as_mut().poll(&mut cx).is_pending());
        }
        let mut b = std::pin::pin!(s.raised());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        // The first waiter's slot was given back on drop and taken by the second.
        assert_eq!(s.waiters.borrow().wakers.len(), 1);
        s.raise();
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert!(b.as_mut().poll(&mut cx).is_ready());
        assert!(s.is_raised());
    }
}
