//! The server's lives in a run with a restart fault (`faults.restart`), and how each life's
//! sequence numbers map onto the run's.
//!
//! push-server's hub is in memory: the process started after a restart numbers every topic
//! from 1 again. Clients and publishers count in one run-wide sequence per topic, so that loss,
//! duplicates and reordering stay exact across the restart: a message numbered `s` by life `e`
//! is the run's message `base(e, topic) + s`.
//!
//! Who knows what, and when:
//! - The runner moves to the next life ([`Epochs::stopping`], then [`Epochs::next_life`]) only
//!   once the old process has exited, and starts the new process after that. So a connection
//!   belongs to the life [`Epochs::current`] reads right after its connect returns: before the
//!   move, only the old process can have accepted it; after, the old one is gone.
//! - A topic's publisher sets the new life's base ([`Epochs::set_base`]) on its first
//!   connection to the new process, before its first publish there; no subscriber can receive a
//!   message of that life before its base is known.
//! - The base follows everything the old life may have numbered: the last publish it answered,
//!   plus publishes whose request may have reached it unanswered (the process died under
//!   them). Those that never reached it are counted as never published, as before.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::Mutex;

/// The lives of the run's server.
#[derive(Debug)]
pub struct Epochs {
    current: AtomicU32,
    /// Set from the moment the runner signals the server until the new process listens: a
    /// session that fails meanwhile was ended by the restart, not by an error.
    down: AtomicBool,
    /// Per life, per topic: the run's sequence number just before the life's first message.
    bases: Mutex<Vec<Vec<Option<u64>>>>,
    /// Run-clock times, after a restart, at which a client connected (every attempt that
    /// reached the new process) and at which each client was subscribed again (once each).
    storm: Mutex<Storm>,
}

/// What the clients did around the restart, as the runner reads it afterwards.
#[derive(Debug, Default, Clone)]
pub struct Storm {
    /// Connections the new process accepted, by run-clock time (ns).
    pub connects: Vec<u64>,
    /// Each client's first subscription to the new process, by run-clock time (ns).
    pub back: Vec<u64>,
}

impl Epochs {
    /// A run over `topics` topics whose server is in its first life, numbering from 0.
    pub fn new(topics: usize) -> Self {
        Epochs {
            current: AtomicU32::new(0),
            down: AtomicBool::new(false),
            bases: Mutex::new(vec![vec![Some(0); topics]]),
            storm: Mutex::default(),
        }
    }

    /// The life a connection made just now belongs to.
    pub fn current(&self) -> u32 {
        self.current.load(Relaxed)
    }

    /// Whether the server is being restarted (signalled, not yet listening again).
    pub fn is_down(&self) -> bool {
        self.down.load(Relaxed)
    }

    /// The runner is about to signal the server.
    pub fn stopping(&self) {
        self.down.store(true, Relaxed);
    }

    /// The old process has exited: connections from now on are the next life's. Called before
    /// the new process starts.
    pub fn next_life(&self) {
        let mut bases = self.bases.lock().expect("bases lock");
        let topics = bases[0].len();
        bases.push(vec![None; topics]);
        self.current.store(bases.len() as u32 - 1, Relaxed);
    }

    /// The new process listens.
    pub fn up(&self) {
        self.down.store(false, Relaxed);
    }

    /// Life `life`'s base for `topic`, once its publisher has set it.
    pub fn base(&self, life: u32, topic: usize) -> Option<u64> {
        let bases = self.bases.lock().expect("bases lock");
        bases.get(life as usize)?.get(topic).copied().flatten()
    }

    /// Sets life `life`'s base for `topic`.
    pub fn set_base(&self, life: u32, topic: usize, base: u64) {
        let mut bases = self.bases.lock().expect("bases lock");
        if let Some(slot) = bases.get_mut(life as usize).and_then(|l| l.get_mut(topic)) {
            *slot = Some(base);
        }
    }

    /// A client connected to a restarted server at `now_ns`.
    pub fn connected(&self, now_ns: u64) {
        self.storm.lock().expect("storm lock").connects.push(now_ns);
    }

    /// A client subscribed to a restarted server for the first time at `now_ns`.
    pub fn back(&self, now_ns: u64) {
        self.storm.lock().expect("storm lock").back.push(now_ns);
    }

    /// How many clients have subscribed to a restarted server.
    pub fn back_count(&self) -> usize {
        self.storm.lock().expect("storm lock").back.len()
    }

    /// What the clients did since the restart.
    pub fn storm(&self) -> Storm {
        self.storm.lock().expect("storm lock").clone()
    }
}

/// A publisher's side of the renumbering: where its topic's run sequence stands.
#[derive(Debug, Default)]
pub struct PublisherLives {
    life: u32,
    base: u64,
    /// The run's number of the last publish answered.
    last: u64,
    /// Publishes since the last answer whose request may have reached the server.
    uncertain: u64,
}

impl PublisherLives {
    /// A publish answered with the life's sequence number `seq`: the run's number for it.
    pub fn answered(&mut self, seq: u64) -> u64 {
        self.uncertain = 0;
        self.last = self.base + seq;
        self.last
    }

    /// A publish failed after its request was (perhaps partly) written.
    pub fn unanswered(&mut self) {
        self.uncertain += 1;
    }

    /// Whether a publish that just failed was failed by the restart: its connection was to an
    /// earlier life, or the server is being restarted.
    pub fn ended_by_restart(&self, epochs: &Epochs) -> bool {
        epochs.is_down() || self.life < epochs.current()
    }

    /// A connection made in `life` for `topic`: on the first one to a new life, sets that life's
    /// base and returns it (the run's numbers up to it are taken, published or not).
    pub fn connected(&mut self, epochs: &Epochs, life: u32, topic: usize) -> Option<u64> {
        if life == self.life {
            return None;
        }
        self.life = life;
        self.base = self.last + self.uncertain;
        self.uncertain = 0;
        epochs.set_base(life, topic, self.base);
        Some(self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_life_numbers_on_from_what_the_old_one_may_have_numbered() {
        let epochs = Epochs::new(2);
        let mut p = PublisherLives::default();
        assert_eq!(p.connected(&epochs, 0, 1), None);
        assert_eq!(p.answered(1), 1);
        assert_eq!(p.answered(7), 7);
        // The server dies under one publish; the next finds it gone (never reached it).
        p.unanswered();
        epochs.stopping();
        assert!(epochs.is_down());
        epochs.next_life();
        assert_eq!(epochs.current(), 1);
        assert_eq!(
            epochs.base(1, 1),
            None,
            "unknown until its publisher connects"
        );
        epochs.up();
        assert_eq!(p.connected(&epochs, 1, 1), Some(8));
        assert_eq!(epochs.base(1, 1), Some(8));
        assert_eq!(epochs.base(1, 0), None);
        assert_eq!(epochs.base(0, 0), Some(0));
        assert_eq!(p.connected(&epochs, 1, 1), None, "set once per life");
        assert_eq!(p.answered(1), 9);
        // A failure within a life, followed by an answer, changes nothing.
        p.unanswered();
        assert_eq!(p.answered(2), 10);
    }
}
