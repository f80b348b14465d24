//! What a transport's run will do, decided before anything connects: which topics and clients
//! this process owns (its shard), who publishes what on which schedule, the envelope encoding,
//! how clients connect (in waves, by a deadline) and how recording is striped. Pure: the same
//! scenario, options and transport always give the same plan, and the unit tests below read it
//! without a socket.

use std::time::Duration;

use pushbench_wire::{Encoding, Transport};

use crate::client::publish::Publisher;
use crate::client::{self, Client};
use crate::scenario::{Direction, Scenario};
use crate::schedule::Schedule;

/// One slice of a run (`--shard K/N`): topics `t` with `t % N == K` and the clients of those
/// topics. Shards publish to and subscribe from their own topics only, so each shard's latencies
/// stay on its own clock; their results merge with `load-gen report DIR...`. Schedules are seeded
/// by global topic and client numbers, so the shards of a run together send exactly what an
/// unsharded run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl Shard {
    /// The whole run.
    pub const ALL: Shard = Shard { index: 0, count: 1 };
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard {s:?}: expected K/N, like 0/4"))?;
        let index: usize = k
            .parse()
            .map_err(|_| format!("shard {s:?}: K is not a number"))?;
        let count: usize = n
            .parse()
            .map_err(|_| format!("shard {s:?}: N is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {s:?}: expected 0 <= K < N"));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Who publishes, besides the subscribers reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// Push workload: one HTTP publisher per topic (`POST /publish`), the same for every
    /// transport, counted apart from subscriber traffic.
    PerTopic,
    /// Bidirectional workload on an HTTP transport, which has no upstream of its own: each
    /// client POSTs beside its subscription, counted with subscriber traffic.
    HttpPerClient,
    /// Bidirectional workload on WebSocket or raw TCP: each client publishes through its own
    /// socket, inside its subscriber task.
    OwnSocket,
}

/// The order of a run's transport runs, as (repeat, index into the transport list): every
/// transport once per round, the first rotating from round to round, so no transport always
/// runs first (on a cold machine) or right after the same neighbour.
pub fn interleaved(transports: usize, repeat: usize) -> Vec<(usize, usize)> {
    (0..repeat)
        .flat_map(|k| (0..transports).map(move |i| (k, (i + k) % transports.max(1))))
        .collect()
}

/// Subscribers connect this many at a time, so 10,000 clients do not overflow the server's
/// accept backlog at once.
pub const CONNECT_WAVE: usize = 256;

/// Everything decided before a transport's run starts.
#[derive(Debug, Clone)]
pub struct TransportPlan<'s> {
    /// The workload.
    pub scenario: &'s Scenario,
    /// The transport measured.
    pub transport: Transport,
    /// Owned topic names, in local order: `pb.<stamp>.<transport>.<global topic>`, fresh for
    /// every run so a long-lived `--target` server starts each topic empty.
    pub topics: Vec<String>,
    /// Each owned topic's number in the whole scenario (seeds its schedule).
    pub topic_global: Vec<usize>,
    /// Owned clients: (client number in the whole scenario, local topic index).
    pub clients: Vec<(usize, usize)>,
    /// Subscribers per local topic: how many deliveries each publish is owed.
    pub subscribers: Vec<u32>,
    /// Envelope encoding: the scenario's for transports with a binary form, text otherwise.
    pub encoding: Encoding,
    /// Who publishes.
    pub upstream: Upstream,
    /// How long subscribers may take to connect before the schedule starts anyway.
    pub connect_timeout: Duration,
    /// Recording stripes: one per generator thread (stripes are picked by thread), one spare.
    pub stripes: usize,
    /// Warm-up, ns on the run clock: messages intended before it are not measured.
    pub warmup_ns: u64,
    /// End of the schedule, ns on the run clock (warm-up + duration).
    pub end_ns: u64,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

impl<'s> TransportPlan<'s> {
    /// The plan for `transport` on `threads` generator threads, in `shard`. `stamp` makes topic
    /// names unique to the run.
    pub fn new(
        scenario: &'s Scenario,
        shard: Shard,
        transport: Transport,
        stamp: &str,
        threads: usize,
    ) -> Self {
        let topic_global: Vec<usize> = (0..scenario.topics)
            .filter(|t| t % shard.count == shard.index)
            .collect();
        // Topic t is this shard's local topic (t - K) / N when t % N == K.
        let clients: Vec<(usize, usize)> = (0..scenario.clients)
            .filter_map(|i| {
                let t = i % scenario.topics;
                (t % shard.count == shard.index).then_some((i, t / shard.count))
            })
            .collect();
        let mut subscribers = vec![0u32; topic_global.len()];
        for &(_, t) in &clients {
            subscribers[t] += 1;
        }
        let own_socket = matches!(transport, Transport::WebSocket | Transport::RawTcp);
        let upstream = match (scenario.direction, own_socket) {
            (Direction::Push, _) => Upstream::PerTopic,
            (Direction::All, false) => Upstream::HttpPerClient,
            (Direction::All, true) => Upstream::OwnSocket,
        };
        TransportPlan {
            scenario,
            transport,
            topics: topic_global
                .iter()
                .map(|t| format!("pb.{stamp}.{}.{t}", transport.name()))
                .collect(),
            connect_timeout: Duration::from_secs(30)
                + Duration::from_millis(clients.len() as u64 * 2),
            topic_global,
            clients,
            subscribers,
            encoding: if own_socket {
                scenario.encoding
            } else {
                Encoding::Text
            },
            upstream,
            stripes: threads + 1,
            warmup_ns: ns(scenario.warmup),
            end_ns: ns(scenario.warmup + scenario.duration),
        }
    }

    /// The open-loop schedule of one publishing stream out of `streams` (a topic's publisher,
    /// or a client's upstream): seeded by the stream's number in the whole scenario.
    fn schedule(&self, stream: usize, streams: usize) -> Schedule {
        let s = self.scenario;
        Schedule::new(
            s.seed,
            stream as u64,
            streams as u64,
            s.rate,
            s.pattern,
            s.size,
            self.end_ns,
        )
    }

    /// The subscribers, each with its upstream schedule when it publishes through its socket.
    pub fn subscribers(&self) -> Vec<Client> {
        self.clients
            .iter()
            .map(|&(i, topic_index)| Client {
                index: i,
                topic_index,
                topic: self.topics[topic_index].clone(),
                upstream: (self.upstream == Upstream::OwnSocket).then(|| {
                    client::upstream::Upstream::new(self.schedule(i, self.scenario.clients), i)
                }),
            })
            .collect()
    }

    /// The HTTP publishers: one per topic in a push workload, one per client for an HTTP
    /// transport's upstream, none when clients publish through their own sockets.
    pub fn publishers(&self) -> Vec<Publisher> {
        match self.upstream {
            Upstream::PerTopic => self
                .topics
                .iter()
                .enumerate()
                .map(|(t, topic)| {
                    let global = self.topic_global[t];
                    Publisher {
                        index: global,
                        topic: topic.clone(),
                        topic_index: t,
                        schedule: self.schedule(global, self.scenario.topics),
                        backend: true,
                    }
                })
                .collect(),
            Upstream::HttpPerClient => self
                .clients
                .iter()
                .map(|&(i, topic_index)| Publisher {
                    index: i,
                    topic: self.topics[topic_index].clone(),
                    topic_index,
                    schedule: self.schedule(i, self.scenario.clients),
                    backend: false,
                })
                .collect(),
            Upstream::OwnSocket => Vec::new(),
        }
    }

    /// How many messages the run's publishers are scheduled to send, HTTP publishers and
    /// clients' own upstream together: what the drain waits to see settled.
    pub fn scheduled_messages(&self) -> u64 {
        self.scheduled_per_topic().iter().sum()
    }

    /// The messages scheduled for each topic, by topic index: what subscribers are owed if
    /// every publish succeeds, against which loss is counted.
    pub fn scheduled_per_topic(&self) -> Vec<u64> {
        let mut per_topic = vec![0; self.topics.len()];
        for p in self.publishers() {
            per_topic[p.topic_index] += p.schedule.count() as u64;
        }
        for c in self.subscribers() {
            if let Some(u) = c.upstream {
                per_topic[c.topic_index] += u.schedule.count() as u64;
            }
        }
        per_topic
    }

    /// Whether polling: its clients hold no connection between requests, so the server's RSS
    /// per connection means nothing for it.
    pub fn holds_connections(&self) -> bool {
        !matches!(self.transport, Transport::ShortPoll | Transport::LongPoll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        Scenario::parse(
            &format!("description = \"d\"\ntransports = [\"sse\"]\nclients = 10\ntopics = 4\nrate = 1\nmessage_size = 8\nduration = \"1s\"\nwarmup = \"2s\"\n{extra}"),
            std::path::Path::new("s.toml"),
        )
        .unwrap()
    }

    #[test]
    fn shards_split_topics_and_their_clients_without_overlap() {
        let s = scenario("");
        let all = TransportPlan::new(&s, Shard::ALL, Transport::Sse, "x", 1);
        assert_eq!(all.clients.len(), 10);
        assert_eq!(all.subscribers, [3, 3, 2, 2]);
        let shards: Vec<TransportPlan> = (0..3)
            .map(|k| TransportPlan::new(&s, Shard { index: k, count: 3 }, Transport::Sse, "x", 1))
            .collect();
        let mut clients: Vec<usize> = shards
            .iter()
            .flat_map(|l| l.clients.iter().map(|c| c.0))
            .collect();
        clients.sort_unstable();
        assert_eq!(clients, (0..10).collect::<Vec<_>>());
        assert_eq!(shards[0].topic_global, [0, 3]);
        assert_eq!(shards[0].topics[1], "pb.x.sse.3");
        assert_eq!(shards[0].subscribers, [3, 2]);
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
    }

    #[test]
    fn repeats_interleave_with_the_first_transport_rotating() {
        assert_eq!(interleaved(3, 1), [(0, 0), (0, 1), (0, 2)]);
        assert_eq!(
            interleaved(3, 3),
            [
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 1),
                (1, 2),
                (1, 0),
                (2, 2),
                (2, 0),
                (2, 1)
            ]
        );
        // Every transport runs once per round.
        let order = interleaved(7, 5);
        for round in order.chunks(7) {
            let mut seen: Vec<usize> = round.iter().map(|&(_, i)| i).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..7).collect::<Vec<_>>());
        }
        assert!(interleaved(0, 3).is_empty());
    }

    #[test]
    fn push_workloads_publish_once_per_topic_on_every_transport() {
        let s = scenario("encoding = \"binary\"\n");
        for t in Transport::KNOWN {
            let p = TransportPlan::new(&s, Shard::ALL, t, "x", 1);
            assert_eq!(p.upstream, Upstream::PerTopic);
            let publishers = p.publishers();
            assert_eq!(publishers.len(), 4, "{t}");
            assert_eq!(
                publishers.iter().map(|p| p.index).collect::<Vec<_>>(),
                p.topic_global
            );
            assert!(p.subscribers().iter().all(|c| c.upstream.is_none()));
            let binary = matches!(t, Transport::WebSocket | Transport::RawTcp);
            assert_eq!(p.encoding == Encoding::Binary, binary, "{t}");
        }
    }

    #[test]
    fn bidirectional_clients_publish_over_http_or_their_own_socket() {
        let s = scenario("direction = \"all\"\n");
        let http = TransportPlan::new(&s, Shard::ALL, Transport::Sse, "x", 1);
        assert_eq!(http.upstream, Upstream::HttpPerClient);
        assert_eq!(http.publishers().len(), 10);
        assert!(http.subscribers().iter().all(|c| c.upstream.is_none()));
        let ws = TransportPlan::new(&s, Shard::ALL, Transport::WebSocket, "x", 1);
        assert_eq!(ws.upstream, Upstream::OwnSocket);
        assert!(ws.publishers().is_empty());
        let subs = ws.subscribers();
        assert!(subs.iter().all(|c| c.upstream.is_some()));
        // Each client's upstream is the same schedule the HTTP transports' publisher gets.
        let first_ws: Vec<u64> = subs
            .into_iter()
            .nth(3)
            .and_then(|c| c.upstream)
            .unwrap()
            .schedule
            .map(|p| p.intended_ns)
            .collect();
        let first_http: Vec<u64> = http.publishers()[3]
            .schedule
            .clone()
            .map(|p| p.intended_ns)
            .collect();
        assert!(!first_ws.is_empty());
        assert_eq!(first_ws, first_http);
    }

    #[test]
    fn every_publisher_counts_toward_the_scheduled_messages() {
        // 4 topics at 1 msg/s for 2 s of warm-up and 1 s measured: 12 push messages.
        let s = scenario("");
        assert_eq!(
            TransportPlan::new(&s, Shard::ALL, Transport::Sse, "x", 1).scheduled_messages(),
            12
        );
        // 10 clients at 1 msg/s for 3 s, through HTTP or their own socket alike.
        let s = scenario("direction = \"all\"\n");
        for t in [Transport::LongPoll, Transport::WebSocket, Transport::RawTcp] {
            let p = TransportPlan::new(&s, Shard::ALL, t, "x", 1);
            assert_eq!(p.scheduled_messages(), 30, "{t}");
        }
    }

    #[test]
    fn windows_waves_and_stripes_follow_the_scenario() {
        let s = scenario("");
        let p = TransportPlan::new(&s, Shard::ALL, Transport::LongPoll, "x", 3);
        assert_eq!(p.warmup_ns, 2_000_000_000);
        assert_eq!(p.end_ns, 3_000_000_000);
        assert_eq!(p.stripes, 4);
        assert_eq!(p.connect_timeout, Duration::from_millis(30_020));
        assert!(!p.holds_connections());
        assert!(TransportPlan::new(&s, Shard::ALL, Transport::Sse, "x", 1).holds_connections());
    }
}
