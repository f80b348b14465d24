//! [`OnWake`]: a stream that is polled only when it can have something new.
//!
//! A connection task `select!`s over its subscription, its socket and its heartbeat, and every
//! wake-up (nearly always a message) polls all three again. A poll that finds nothing still
//! costs: the heartbeat's watch channel locks its waiter list to look, tokio-tungstenite
//! registers the task's waker in two waker proxies and goes down through tungstenite to the
//! socket's readiness. On WebSocket at 200 subscribers × 100 messages/s
//! (`scenarios/efficiency.toml`) those idle polls were about 6% of push-server's CPU samples.
//! [`OnWake`] hands the inner stream a waker of its own and skips the poll until that waker has
//! fired, so the heartbeat and the socket are looked at when they wake the task, not whenever a
//! message does.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use futures_util::Stream;

/// `inner`, polled only after its own waker fired or after it yielded an item.
#[derive(Debug)]
pub struct OnWake<S> {
    inner: S,
    signal: Arc<Signal>,
    /// Wakes `signal`: what `inner` registers wherever it waits.
    waker: Waker,
    /// The task waker last registered in `signal`: a task polls with the same waker every
    /// time, and comparing it here spares the atomic register at every poll.
    registered: Option<Waker>,
}

#[derive(Debug, Default)]
struct Signal {
    /// Set when `inner` may make progress: it was woken, or it has not been polled since it
    /// last yielded (a stream that yielded an item may have more without a new wake-up).
    due: AtomicBool,
    /// The task polling the [`OnWake`].
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.due.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<S> OnWake<S> {
    /// Wraps `inner`; its first poll goes through.
    pub fn new(inner: S) -> Self {
        let signal = Arc::new(Signal {
            due: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        OnWake {
            inner,
            waker: Waker::from(signal.clone()),
            signal,
            registered: None,
        }
    }

    /// The inner stream, e.g. to write to a socket whose reading side this wraps. Nothing done
    /// through it may leave the stream able to yield without a wake-up (writing does not), or
    /// the stream is not polled until its next wake-up.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: Stream + Unpin> Stream for OnWake<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        loop {
            // Registered before `due` is read: a wake-up between the two is seen by the swap,
            // one after it wakes the task registered.
            if !this
                .registered
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                this.signal.task.register(cx.waker());
                this.registered = Some(cx.waker().clone());
            }
            if !this.signal.due.swap(false, Ordering::AcqRel) {
                return Poll::Pending;
            }
            // A wake-up takes the registered waker out of `signal`: register again next time.
            this.registered = None;
            let mut own = Context::from_waker(&this.waker);
            let polled = Pin::new(&mut this.inner).poll_next(&mut own);
            if polled.is_ready() {
                this.signal.due.store(true, Ordering::Release);
                return polled;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; yields an item whenever `ready` says so.
    struct Counted {
        polls: Arc<AtomicUsize>,
        rx: tokio::sync::mpsc::UnboundedReceiver<u32>,
    }

    impl Stream for Counted {
        type Item = u32;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.rx.poll_recv(cx)
        }
    }

    #[tokio::test]
    async fn polls_the_inner_stream_only_when_woken_or_after_an_item() {
        let polls = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut s = OnWake::new(Counted {
            polls: polls.clone(),
            rx,
        });
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        // First poll goes through and finds nothing; later polls without a wake-up do not.
        assert!(s.poll_next_unpin(&mut cx).is_pending());
        for _ in 0..10 {
            assert!(s.poll_next_unpin(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // Two items sent: the channel wakes the inner waker once; both come out, and the poll
        // after an item goes through (it finds the second without another wake-up).
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(s.next().await, Some(1));
        assert_eq!(s.next().await, Some(2));
        assert!(s.poll_next_unpin(&mut cx).is_pending());
        assert!(s.poll_next_unpin(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), 4);
        // The end of the stream comes through its wake-up too.
        drop(tx);
        assert_eq!(s.next().await, None);
    }

    /// Every wake-up reaches the task waiting on the wrapper, not only the first (a wake-up
    /// takes the task's waker out of the wrapper, so it must be registered again).
    #[tokio::test]
    async fn every_wake_up_reaches_the_task_waiting_on_the_wrapper() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (got_tx, mut got) = tokio::sync::mpsc::unbounded_channel();
        let mut s = OnWake::new(Counted {
            polls: Arc::default(),
            rx,
        });
        let waiter = tokio::spawn(async move {
            while let Some(item) = s.next().await {
                got_tx.send(item).unwrap();
            }
        });
        for i in 0..5 {
            // The waiter is parked on an empty stream before each item arrives.
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            tx.send(i).unwrap();
            let item = tokio::time::timeout(std::time::Duration::from_secs(5), got.recv()).await;
            assert_eq!(item.expect("the waiter was woken"), Some(i));
        }
        drop(tx);
        waiter.await.unwrap();
    }
}
