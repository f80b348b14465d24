//! Validation: reads the file into `RawScenario` with serde, then checks ranges and the rules
//! between fields and fills in defaults to give a [`Scenario`].

use std::time::Duration;

use pushbench_wire::{Encoding, Transport};
use serde::Deserialize;
use toml::Spanned;

use super::diagnostics::{or_list, Doc};
use super::{
    Direction, DropFault, DropHow, Faults, HttpVersion, NamedNetwork, Network, Outage, Pattern,
    Reconnect, RequestHeaders, RestartFault, Scenario, ScenarioError, SizeDist, StopHow, Sweep,
    DEFAULT_DRAIN, DEFAULT_LONG_POLL_TIMEOUT, DEFAULT_POLL_INTERVAL, DEFAULT_SEED, DEFAULT_STREAMS,
    DEFAULT_TOPICS, DEFAULT_WARMUP, MAX_CLIENTS, MAX_DURATION, MAX_LONG_POLL_TIMEOUT,
    MAX_MESSAGE_SIZE, MAX_RATE, MAX_REPEAT, MAX_STEPS, MAX_STREAMS, NETWORK_PROFILES,
};
use pushbench_results::sweep::{Param, Slo};

/// The file as serde sees it: every key of the TOML layout, with its span kept for errors.
/// Optional keys are `Option`; numbers are read as `i64` so that ranges (and negative values)
/// are checked here with messages that say what was expected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    description: Spanned<String>,
    transports: Spanned<Vec<Spanned<String>>>,
    clients: Spanned<i64>,
    topics: Option<Spanned<i64>>,
    direction: Option<Spanned<String>>,
    encoding: Option<Spanned<String>>,
    rate: Spanned<f64>,
    pattern: Option<Spanned<String>>,
    message_size: Spanned<i64>,
    message_size_max: Option<Spanned<i64>>,
    duration: Spanned<String>,
    warmup: Option<Spanned<String>>,
    seed: Option<Spanned<i64>>,
    repeat: Option<Spanned<i64>>,
    poll_interval: Option<Spanned<String>>,
    poll_new_connection: Option<bool>,
    long_poll_timeout: Option<Spanned<String>>,
    drain: Option<Spanned<String>>,
    request_headers: Option<Spanned<String>>,
    sweep: Option<Spanned<RawSweep>>,
    slo: Option<Spanned<RawSlo>>,
    faults: Option<Spanned<RawFaults>>,
    reconnect: Option<Spanned<RawReconnect>>,
    network: Option<Spanned<RawNetwork>>,
    networks: Option<Spanned<Vec<Spanned<RawNetworkEntry>>>>,
    tls: Option<Spanned<toml::Value>>,
    http: Option<Spanned<toml::Value>>,
    multiplex: Option<Spanned<toml::Value>>,
}

/// `network = { rtt = "100ms", down = "10Mbit", up = "2Mbit", loss = 0.01, queue = "64KiB" }`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    rtt: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    down: Option<Spanned<String>>,
    up: Option<Spanned<String>>,
    loss: Option<Spanned<f64>>,
    queue: Option<Spanned<String>>,
}

/// One of `networks`: a profile's name, or a table like `network`'s.
enum RawNetworkEntry {
    Profile(String),
    Link(Box<RawNetwork>),
}

impl<'de> Deserialize<'de> for RawNetworkEntry {
    /// By hand, as serde's untagged enums buffer the value and lose the spans of the table's
    /// keys, which errors point at.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = RawNetworkEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    r#"a profile's name or a table, like "3g" or { name = "slow", rtt = "400ms" }"#,
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawNetworkEntry::Profile(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                RawNetwork::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|raw| RawNetworkEntry::Link(Box::new(raw)))
            }
        }
        d.deserialize_any(Entry)
    }
}

/// `faults = { drop = { ... } }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFaults {
    drop: Option<Spanned<RawDrop>>,
    outage: Option<Spanned<RawOutage>>,
    restart: Option<Spanned<RawRestart>>,
}

/// `outage = { at = "20s", for = "5s" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutage {
    at: Spanned<String>,
    #[serde(rename = "for")]
    length: Spanned<String>,
}

/// `restart = { at = "20s", how = "term" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    at: Spanned<String>,
    how: Option<Spanned<String>>,
}

/// `drop = { every = "15s", jitter = "5s", how = "close" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrop {
    every: Spanned<String>,
    jitter: Option<Spanned<String>>,
    how: Option<Spanned<String>>,
}

/// `reconnect = { delay = "100ms", max_delay = "5s", jitter = 0.5 }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReconnect {
    delay: Option<Spanned<String>>,
    max_delay: Option<Spanned<String>>,
    jitter: Option<Spanned<f64>>,
    heartbeat_timeout: Option<Spanned<String>>,
}

/// `sweep = { rate = ... }`: exactly one of the keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    rate: Option<RawSteps>,
    clients: Option<RawSteps>,
    message_size: Option<RawSteps>,
}

/// A sweep's steps: a list of values, or a geometric range.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSteps {
    List(Vec<f64>),
    Range { from: f64, to: f64, factor: f64 },
}

/// `slo = { p99 = "50ms", loss = 0 }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    p99: Spanned<String>,
    loss: Option<Spanned<i64>>,
}

impl RawScenario {
    /// Checks ranges and cross-field rules, fills in defaults.
    pub(super) fn validate(self, doc: &Doc<'_>) -> Result<Scenario, ScenarioError> {
        let description = self.description.get_ref().trim();
        if description.is_empty() {
            return Err(doc.error(
                self.description.span(),
                "description",
                "expected a non-empty description of the workload the scenario models",
            ));
        }
        let description = description.to_owned();

        let transports = doc.transports(&self.transports)?;
        let clients = doc.int_in_range("clients", &self.clients, 1, MAX_CLIENTS)?;

        let topics = match &self.topics {
            None => DEFAULT_TOPICS,
            Some(t) => {
                let topics = doc.int_in_range("topics", t, 1, MAX_CLIENTS)?;
                if topics > clients {
                    return Err(doc.error(
                        t.span(),
                        "topics",
                        format!(
                            "expected at most `clients` ({clients}), got {topics}; \
                             every topic needs a subscriber"
                        ),
                    ));
                }
                topics
            }
        };

        let request_headers = doc.opt_keyword(
            "request_headers",
            &self.request_headers,
            RequestHeaders::Minimal,
            &[
                ("minimal", RequestHeaders::Minimal),
                ("browser", RequestHeaders::Browser),
            ],
        )?;
        let direction = doc.opt_keyword(
            "direction",
            &self.direction,
            Direction::Push,
            &[("push", Direction::Push), ("all", Direction::All)],
        )?;
        let encoding = doc.opt_keyword(
            "encoding",
            &self.encoding,
            Encoding::Text,
            &[("text", Encoding::Text), ("binary", Encoding::Binary)],
        )?;

        let rate = *self.rate.get_ref();
        if !(rate.is_finite() && rate > 0.0) {
            return Err(doc.error(
                self.rate.span(),
                "rate",
                format!(
                    "expected a number of messages per second greater than 0, got {}",
                    number(rate)
                ),
            ));
        }
        if rate > MAX_RATE {
            return Err(doc.error(
                self.rate.span(),
                "rate",
                format!(
                    "expected at most {MAX_RATE} messages per second, got {}",
                    number(rate)
                ),
            ));
        }

        let pattern = doc.opt_keyword(
            "pattern",
            &self.pattern,
            Pattern::Constant,
            &[
                ("constant", Pattern::Constant),
                ("poisson", Pattern::Poisson),
            ],
        )?;

        let min = doc.int_in_range("message_size", &self.message_size, 1, MAX_MESSAGE_SIZE)?;
        let size = match &self.message_size_max {
            None => SizeDist::Fixed(min),
            Some(m) => {
                let max = doc.int_in_range("message_size_max", m, 1, MAX_MESSAGE_SIZE)?;
                if max < min {
                    return Err(doc.error(
                        m.span(),
                        "message_size_max",
                        format!("expected at least `message_size` ({min}), got {max}"),
                    ));
                }
                if max == min {
                    SizeDist::Fixed(min)
                } else {
                    SizeDist::Uniform { min, max }
                }
            }
        };

        let duration = doc.duration("duration", &self.duration, false)?;
        let warmup = doc.opt_duration("warmup", &self.warmup, true, DEFAULT_WARMUP)?;
        let seed = match &self.seed {
            None => DEFAULT_SEED,
            Some(s) => doc.int_in_range("seed", s, 0, i64::MAX)?,
        };
        let repeat = match &self.repeat {
            None => 1,
            Some(r) => doc.int_in_range::<usize>("repeat", r, 1, MAX_REPEAT)?,
        };
        let poll_interval = doc.opt_duration(
            "poll_interval",
            &self.poll_interval,
            false,
            DEFAULT_POLL_INTERVAL,
        )?;
        let long_poll_timeout = doc.opt_duration(
            "long_poll_timeout",
            &self.long_poll_timeout,
            false,
            DEFAULT_LONG_POLL_TIMEOUT,
        )?;
        if long_poll_timeout > MAX_LONG_POLL_TIMEOUT {
            if let Some(s) = &self.long_poll_timeout {
                return Err(doc.error(
                    s.span(),
                    "long_poll_timeout",
                    format!(
                        "expected at most \"120s\" (push-server's limit), got {:?}",
                        s.get_ref()
                    ),
                ));
            }
        }
        let drain = doc.opt_duration("drain", &self.drain, false, DEFAULT_DRAIN)?;
        let sweep = doc.sweep(self.sweep, self.slo, topics, &size)?;
        let networks = doc.networks(self.network, self.networks)?;
        let tls = doc.tls(self.tls.as_ref())?;
        let http = doc.http(self.http.as_ref())?;
        let multiplex = doc.multiplex(
            self.multiplex.as_ref(),
            &http,
            self.poll_new_connection.unwrap_or(false),
        )?;
        let faults = doc.faults(
            self.faults,
            warmup + duration,
            direction,
            !networks.is_empty(),
        )?;
        let reconnect = doc.reconnect(self.reconnect)?;

        Ok(Scenario {
            name: doc.path.file_stem().map_or_else(
                || "scenario".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            ),
            description,
            transports,
            clients,
            topics,
            direction,
            encoding,
            rate,
            pattern,
            size,
            duration,
            warmup,
            seed,
            repeat,
            poll_interval,
            poll_new_connection: self.poll_new_connection.unwrap_or(false),
            request_headers,
            long_poll_timeout,
            drain,
            sweep,
            faults,
            reconnect,
            networks,
            tls,
            http,
            multiplex,
            source: doc.text.to_owned(),
            path: doc.path.to_path_buf(),
        })
    }
}

impl Doc<'_> {
    /// `faults`: each fault's keys, its times within the `run` (warm-up and duration).
    fn faults(
        &self,
        faults: Option<Spanned<RawFaults>>,
        run: Duration,
        direction: Direction,
        network: bool,
    ) -> Result<Faults, ScenarioError> {
        let Some(faults) = faults else {
            return Ok(Faults::default());
        };
        let faults = faults.into_inner();
        Ok(Faults {
            outage: faults
                .outage
                .map(|outage| self.outage_fault(outage, run, network))
                .transpose()?,
            drop: faults
                .drop
                .map(|drop| self.drop_fault(drop, run))
                .transpose()?,
            restart: faults
                .restart
                .map(|restart| self.restart_fault(restart, run, direction))
                .transpose()?,
        })
    }

    /// `faults.outage`.
    fn outage_fault(
        &self,
        outage: Spanned<RawOutage>,
        run: Duration,
        network: bool,
    ) -> Result<Outage, ScenarioError> {
        const FIELD: &str = "faults";
        let span = outage.span();
        if !network {
            return Err(self.error(
                span,
                FIELD,
                "an outage needs a `network`: it cuts the emulated link, and loopback has none",
            ));
        }
        let raw = outage.into_inner();
        let at = self.duration(FIELD, &raw.at, false)?;
        let length = self.duration(FIELD, &raw.length, false)?;
        if at + length > run {
            return Err(self.error(
                raw.length.span(),
                FIELD,
                format!(
                    "an outage from {:?} for {:?} would outlast the run: expected it to end within warmup and duration together ({run:?})",
                    raw.at.get_ref(),
                    raw.length.get_ref()
                ),
            ));
        }
        Ok(Outage { at, length })
    }

    /// `faults.drop`.
    fn drop_fault(
        &self,
        drop: Spanned<RawDrop>,
        run: Duration,
    ) -> Result<DropFault, ScenarioError> {
        const FIELD: &str = "faults";
        let span = drop.span();
        let raw = drop.into_inner();
        let every = self.duration(FIELD, &raw.every, false)?;
        if every >= run {
            return Err(self.error(
                raw.every.span(),
                FIELD,
                format!(
                    "drop every {:?} would never drop a connection: expected less than warmup and duration together ({run:?})",
                    raw.every.get_ref()
                ),
            ));
        }
        let jitter = self.opt_duration(FIELD, &raw.jitter, true, Duration::ZERO)?;
        if jitter > every / 2 {
            return Err(self.error(
                raw.jitter.as_ref().map_or(span, |j| j.span()),
                FIELD,
                format!(
                    "drop jitter {jitter:?} could put a client's drops out of order: expected at most half of every ({:?})",
                    every / 2
                ),
            ));
        }
        let how = self.opt_keyword(
            FIELD,
            &raw.how,
            DropHow::Close,
            &[("close", DropHow::Close), ("reset", DropHow::Reset)],
        )?;
        Ok(DropFault { every, jitter, how })
    }

    /// `faults.restart`.
    fn restart_fault(
        &self,
        restart: Spanned<RawRestart>,
        run: Duration,
        direction: Direction,
    ) -> Result<RestartFault, ScenarioError> {
        const FIELD: &str = "faults";
        if direction != Direction::Push {
            // A client's own publishes would each need the restart's renumbering; one
            // publisher per topic keeps the run's count of what was published exact.
            return Err(self.error(
                restart.span(),
                FIELD,
                "a restart needs direction = \"push\" (one publisher per topic)",
            ));
        }
        let raw = restart.into_inner();
        let at = self.duration(FIELD, &raw.at, false)?;
        if at >= run {
            return Err(self.error(
                raw.at.span(),
                FIELD,
                format!(
                    "restart at {:?} would never restart the server: expected less than warmup and duration together ({run:?})",
                    raw.at.get_ref()
                ),
            ));
        }
        let how = self.opt_keyword(
            FIELD,
            &raw.how,
            StopHow::Term,
            &[("term", StopHow::Term), ("kill", StopHow::Kill)],
        )?;
        Ok(RestartFault { at, how })
    }

    /// `network` or `networks` (not both): the links, each with its name, unique.
    fn networks(
        &self,
        network: Option<Spanned<RawNetwork>>,
        networks: Option<Spanned<Vec<Spanned<RawNetworkEntry>>>>,
    ) -> Result<Vec<NamedNetwork>, ScenarioError> {
        const FIELD: &str = "networks";
        match (network, networks) {
            (None, None) => Ok(Vec::new()),
            (Some(_), Some(list)) => Err(self.error(
                list.span(),
                FIELD,
                "expected `network` (one link) or `networks` (several), not both",
            )),
            (Some(one), None) => Ok(vec![self.network("network", one, false)?]),
            (None, Some(list)) => {
                let span = list.span();
                let list = list.into_inner();
                if list.is_empty() {
                    return Err(self.error(
                        span,
                        FIELD,
                        r#"expected at least one link, like ["lan", "3g"]"#,
                    ));
                }
                let mut out: Vec<NamedNetwork> = Vec::new();
                for entry in list {
                    let span = entry.span();
                    let raw = match entry.into_inner() {
                        RawNetworkEntry::Profile(p) => RawNetwork {
                            profile: Some(Spanned::new(span.clone(), p)),
                            ..RawNetwork::default()
                        },
                        RawNetworkEntry::Link(raw) => *raw,
                    };
                    let named = self.network(FIELD, Spanned::new(span.clone(), raw), true)?;
                    if out.iter().any(|n| n.name == named.name) {
                        return Err(self.error(
                            span,
                            FIELD,
                            format!(
                                "two links are named {:?}; give each a `name` of its own",
                                named.name
                            ),
                        ));
                    }
                    out.push(named);
                }
                Ok(out)
            }
        }
    }

    /// A link of `network` or `networks` (`field`): a profile, and the round trip, rates, loss
    /// and queue of the emulated link (each overriding the profile's); its name, which one of
    /// several (`named`) needs unless it is a profile's.
    fn network(
        &self,
        field: &str,
        network: Spanned<RawNetwork>,
        named: bool,
    ) -> Result<NamedNetwork, ScenarioError> {
        let span = network.span();
        let raw = network.into_inner();
        let name = match (&raw.name, &raw.profile) {
            (Some(n), _) => {
                let ok = !n.get_ref().is_empty()
                    && n
                        .get_ref()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if !ok {
                    return Err(self.error(
                        n.span(),
                        field,
                        format!(
                            "expected a name of letters, digits, `-`, `_` and `.` (it names files), got {:?}",
                            n.get_ref()
                        ),
                    ));
                }
                n.get_ref().clone()
            }
            (None, Some(p)) => p.get_ref().clone(),
            (None, None) if named => {
                return Err(self.error(
                    span,
                    field,
                    r#"expected a `name` for a link of your own, like { name = "slow", rtt = "400ms" }"#,
                ))
            }
            (None, None) => "custom".to_owned(),
        };
        let base = match &raw.profile {
            None => None,
            Some(p) => Some(
                NETWORK_PROFILES
                    .iter()
                    .find(|(name, _, _)| name == p.get_ref())
                    .map(|(_, link, _)| *link)
                    .ok_or_else(|| {
                        let names: Vec<String> = NETWORK_PROFILES
                            .iter()
                            .map(|(n, _, _)| format!("{n:?}"))
                            .collect();
                        self.error(
                            p.span(),
                            field,
                            format!(
                                "unknown network profile {:?}; expected one of {}",
                                p.get_ref(),
                                names.join(", ")
                            ),
                        )
                    })?,
            ),
        };
        let rtt = match (&raw.rtt, base) {
            (Some(rtt), _) => self.duration(field, rtt, true)?,
            (None, Some(base)) => base.rtt,
            (None, None) => return Err(self.error(
                span,
                field,
                "expected `rtt` (or a `profile`), like { rtt = \"100ms\" } or { profile = \"3g\" }",
            )),
        };
        let jitter = self.opt_duration(
            field,
            &raw.jitter,
            true,
            base.map_or(Duration::ZERO, |b| b.jitter),
        )?;
        if jitter > rtt / 2 {
            return Err(self.error(
                raw.jitter.as_ref().map_or(span.clone(), |j| j.span()),
                field,
                format!(
                    "expected a jitter of at most half the round trip ({:?}), got {jitter:?}",
                    rtt / 2
                ),
            ));
        }
        let rate = |v: &Option<Spanned<String>>| -> Result<Option<u64>, ScenarioError> {
            v.as_ref()
                .map(|v| parse_rate(v.get_ref()).map_err(|m| self.error(v.span(), field, m)))
                .transpose()
        };
        let (down, up) = (
            rate(&raw.down)?.or(base.and_then(|b| b.down)),
            rate(&raw.up)?.or(base.and_then(|b| b.up)),
        );
        let loss = match &raw.loss {
            None => base.map_or(0.0, |b| b.loss),
            Some(l) if (0.0..1.0).contains(l.get_ref()) => *l.get_ref(),
            Some(l) => {
                return Err(self.error(
                    l.span(),
                    field,
                    format!(
                        "expected a loss from 0 up to (not including) 1, got {}",
                        number(*l.get_ref())
                    ),
                ))
            }
        };
        let queue = raw
            .queue
            .as_ref()
            .map(|q| parse_bytes(q.get_ref()).map_err(|m| self.error(q.span(), field, m)))
            .transpose()?;
        if let (Some(0), Some(q)) = (queue, &raw.queue) {
            return Err(self.error(
                q.span(),
                field,
                "expected a queue of at least one packet (1500 bytes), got 0",
            ));
        }
        Ok(NamedNetwork {
            name,
            link: Network {
                rtt,
                jitter,
                down,
                up,
                loss,
                queue,
            },
        })
    }

    /// `reconnect`: the first and longest wait and the jitter, defaults for what is left out.
    fn reconnect(
        &self,
        reconnect: Option<Spanned<RawReconnect>>,
    ) -> Result<Reconnect, ScenarioError> {
        const FIELD: &str = "reconnect";
        let Some(reconnect) = reconnect else {
            return Ok(Reconnect::default());
        };
        let span = reconnect.span();
        let raw = reconnect.into_inner();
        let default = Reconnect::default();
        let delay = self.opt_duration(FIELD, &raw.delay, true, default.delay)?;
        let max_delay =
            self.opt_duration(FIELD, &raw.max_delay, true, default.max_delay.max(delay))?;
        if max_delay < delay {
            return Err(self.error(
                raw.max_delay.as_ref().map_or(span.clone(), |m| m.span()),
                FIELD,
                format!("expected max_delay at least delay ({delay:?}), got {max_delay:?}"),
            ));
        }
        let jitter = match &raw.jitter {
            None => default.jitter,
            Some(j) if (0.0..=1.0).contains(j.get_ref()) => *j.get_ref(),
            Some(j) => {
                return Err(self.error(
                    j.span(),
                    FIELD,
                    format!(
                        "expected a jitter from 0 to 1, got {}",
                        number(*j.get_ref())
                    ),
                ))
            }
        };
        let heartbeat_timeout = match &raw.heartbeat_timeout {
            None => default.heartbeat_timeout,
            Some(t) => Some(self.duration(FIELD, t, true)?).filter(|t| !t.is_zero()),
        };
        Ok(Reconnect {
            delay,
            max_delay,
            jitter,
            heartbeat_timeout,
        })
    }

    /// `sweep` and `slo`, checked together: both or neither, one swept key, rising steps that
    /// are valid values of that key.
    fn sweep(
        &self,
        sweep: Option<Spanned<RawSweep>>,
        slo: Option<Spanned<RawSlo>>,
        topics: usize,
        size: &SizeDist,
    ) -> Result<Option<Sweep>, ScenarioError> {
        let (sweep, slo) = match (sweep, slo) {
            (None, None) => return Ok(None),
            (Some(sweep), Some(slo)) => (sweep, slo),
            (Some(sweep), None) => {
                return Err(self.error(
                    sweep.span(),
                    "sweep",
                    r#"a sweep needs an objective to judge each step by: add slo = { p99 = "50ms", loss = 0 }"#,
                ))
            }
            (None, Some(slo)) => {
                return Err(self.error(
                    slo.span(),
                    "slo",
                    "an slo only judges the steps of a sweep: add sweep = { rate = [...] }, or remove it",
                ))
            }
        };
        let span = sweep.span();
        let raw = sweep.into_inner();
        let keys = [
            (Param::Rate, raw.rate),
            (Param::Clients, raw.clients),
            (Param::MessageSize, raw.message_size),
        ];
        let mut given = keys.into_iter().filter_map(|(p, s)| s.map(|s| (p, s)));
        let (Some((param, steps)), None) = (given.next(), given.next()) else {
            return Err(self.error(
                span,
                "sweep",
                "expected exactly one of rate, clients or message_size, e.g. sweep = { rate = [10, 20, 40] }",
            ));
        };
        let bad = |message: String| self.error(span.clone(), "sweep", message);
        let mut values = match steps {
            RawSteps::List(v) => v,
            RawSteps::Range { from, to, factor } => {
                if !(from > 0.0 && to >= from && factor > 1.0) {
                    return Err(bad(format!(
                        "expected a range with from > 0, to >= from and factor > 1, got from = {from}, to = {to}, factor = {factor}"
                    )));
                }
                let mut v = Vec::new();
                let mut x = from;
                while x <= to * (1.0 + 1e-9) && v.len() <= MAX_STEPS {
                    v.push(x);
                    x *= factor;
                }
                v
            }
        };
        if param != Param::Rate {
            for v in &mut values {
                *v = v.round();
            }
            values.dedup();
        }
        if values.is_empty() || values.len() > MAX_STEPS {
            return Err(bad(format!(
                "expected 1 to {MAX_STEPS} steps, got {}",
                values.len()
            )));
        }
        if values.windows(2).any(|w| w[1] <= w[0]) {
            return Err(bad(format!("expected rising steps, got {values:?}")));
        }
        let (lo, hi) = match param {
            Param::Rate => (f64::MIN_POSITIVE, MAX_RATE),
            Param::Clients => (topics as f64, MAX_CLIENTS as f64),
            Param::MessageSize => (1.0, MAX_MESSAGE_SIZE as f64),
        };
        if let Some(v) = values.iter().find(|v| !(lo..=hi).contains(*v)) {
            let range = match param {
                Param::Rate => format!("above 0 and at most {}", number(hi)),
                Param::Clients => format!("{}..={} (at least topics)", number(lo), number(hi)),
                Param::MessageSize => format!("{}..={}", number(lo), number(hi)),
            };
            return Err(bad(format!(
                "{} steps must lie {range}, got {}",
                param.key(),
                number(*v)
            )));
        }
        if param == Param::MessageSize && matches!(size, SizeDist::Uniform { .. }) {
            return Err(bad(
                "a message_size sweep sets every payload's size: remove message_size_max".into(),
            ));
        }
        let raw_slo = slo.into_inner();
        let p99 = self.duration("slo", &raw_slo.p99, false)?;
        let loss = match &raw_slo.loss {
            None => 0,
            Some(l) => self.int_in_range::<u64>("slo", l, 0, i64::MAX)?,
        };
        Ok(Some(Sweep {
            param,
            values,
            slo: Slo::new(p99, loss),
        }))
    }

    /// An integer key within `min..=max`, as the type the scenario stores it in.
    fn int_in_range<T: TryFrom<i64>>(
        &self,
        field: &str,
        value: &Spanned<i64>,
        min: i64,
        max: i64,
    ) -> Result<T, ScenarioError> {
        let v = *value.get_ref();
        if v < min {
            let what = if min == 0 {
                "a non-negative integer".to_owned()
            } else {
                format!("at least {min}")
            };
            return Err(self.error(value.span(), field, format!("expected {what}, got {v}")));
        }
        if v > max {
            return Err(self.error(
                value.span(),
                field,
                format!("expected at most {max}, got {v}"),
            ));
        }
        T::try_from(v)
            .map_err(|_| self.error(value.span(), field, format!("{v} is too large here")))
    }

    /// A string key that must be one of a few words.
    fn keyword<T: Copy>(
        &self,
        field: &str,
        value: &Spanned<String>,
        options: &[(&str, T)],
    ) -> Result<T, ScenarioError> {
        let s = value.get_ref();
        options
            .iter()
            .find(|(name, _)| name == s)
            .map(|&(_, v)| v)
            .ok_or_else(|| {
                let names: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
                self.error(
                    value.span(),
                    field,
                    format!("unknown {field} {s:?}; expected {}", or_list(&names)),
                )
            })
    }

    /// An optional keyword key, `default` when absent.
    fn opt_keyword<T: Copy>(
        &self,
        field: &str,
        value: &Option<Spanned<String>>,
        default: T,
        options: &[(&str, T)],
    ) -> Result<T, ScenarioError> {
        match value {
            None => Ok(default),
            Some(v) => self.keyword(field, v, options),
        }
    }

    /// `tls`: `true`, `false` or a list of them without duplicates; `[false]` if absent.
    fn tls(&self, value: Option<&Spanned<toml::Value>>) -> Result<Vec<bool>, ScenarioError> {
        self.one_or_list(
            "tls",
            value,
            false,
            toml::Value::as_bool,
            "true, false or a list of them, like [false, true]",
        )
    }

    /// `http`: `"1.1"`, `"2"` or a list of them without duplicates; `["1.1"]` if absent.
    fn http(
        &self,
        value: Option<&Spanned<toml::Value>>,
    ) -> Result<Vec<HttpVersion>, ScenarioError> {
        self.one_or_list(
            "http",
            value,
            HttpVersion::H1,
            |v| v.as_str().and_then(HttpVersion::parse),
            r#""1.1", "2" or a list of them, like ["1.1", "2"]"#,
        )
    }

    /// A key whose value is one setting, or a list of them to run each in turn: `one` reads a
    /// setting; a list must be non-empty and without duplicates; `[default]` if absent.
    fn one_or_list<T: PartialEq>(
        &self,
        field: &str,
        value: Option<&Spanned<toml::Value>>,
        default: T,
        one: impl Fn(&toml::Value) -> Option<T>,
        expected: &str,
    ) -> Result<Vec<T>, ScenarioError> {
        let Some(value) = value else {
            return Ok(vec![default]);
        };
        let wrong = || {
            let got = match value.get_ref() {
                toml::Value::Array(items) => format!("a list of {} items", items.len()),
                other => format!("{} `{other}`", other.type_str()),
            };
            self.error(
                value.span(),
                field,
                format!("expected {expected}; got {got}"),
            )
        };
        let list = match value.get_ref() {
            toml::Value::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match one(item) {
                        Some(v) if !list.contains(&v) => list.push(v),
                        _ => return Err(wrong()),
                    }
                }
                list
            }
            single => vec![one(single).ok_or_else(wrong)?],
        };
        if list.is_empty() {
            return Err(wrong());
        }
        Ok(list)
    }

    /// `multiplex`: `false`, `true` ([`DEFAULT_STREAMS`] streams a connection) or the streams a
    /// connection carries, 1 to [`MAX_STREAMS`]; only with HTTP/2 among `http`, and not with
    /// `poll_new_connection`.
    fn multiplex(
        &self,
        value: Option<&Spanned<toml::Value>>,
        http: &[HttpVersion],
        poll_new_connection: bool,
    ) -> Result<Option<usize>, ScenarioError> {
        const FIELD: &str = "multiplex";
        let Some(value) = value else {
            return Ok(None);
        };
        let streams = match value.get_ref() {
            toml::Value::Boolean(false) => return Ok(None),
            toml::Value::Boolean(true) => DEFAULT_STREAMS,
            toml::Value::Integer(n) if (1..=MAX_STREAMS as i64).contains(n) => *n as usize,
            other => {
                return Err(self.error(
                    value.span(),
                    FIELD,
                    format!(
                        "expected true, false or the streams a connection carries, 1 to {MAX_STREAMS}; got {} `{other}`",
                        other.type_str()
                    ),
                ))
            }
        };
        if !http.contains(&HttpVersion::H2) {
            return Err(self.error(
                value.span(),
                FIELD,
                "needs http = \"2\" (or a list with it): HTTP/1.1 carries one request at a time on a connection",
            ));
        }
        if poll_new_connection {
            return Err(self.error(
                value.span(),
                FIELD,
                "cannot share connections with poll_new_connection = true, which opens one per poll",
            ));
        }
        Ok(Some(streams))
    }

    /// The `transports` list: known names, no duplicates, `"all"` alone.
    fn transports(
        &self,
        value: &Spanned<Vec<Spanned<String>>>,
    ) -> Result<Vec<Transport>, ScenarioError> {
        const FIELD: &str = "transports";
        let names = value.get_ref();
        if names.is_empty() {
            return Err(self.error(
                value.span(),
                FIELD,
                "expected at least one transport name, or [\"all\"]",
            ));
        }
        if let Some(all) = names.iter().find(|n| n.get_ref() == "all") {
            if names.len() > 1 {
                return Err(self.error(
                    all.span(),
                    FIELD,
                    "\"all\" already names every transport; expected [\"all\"] alone, \
                     or transport names without \"all\"",
                ));
            }
            return Ok(Transport::KNOWN.to_vec());
        }
        let mut transports = Vec::with_capacity(names.len());
        for name in names {
            let Ok(t) = name.get_ref().parse::<Transport>() else {
                let known: Vec<&str> = Transport::KNOWN.iter().map(|t| t.name()).collect();
                return Err(self.error(
                    name.span(),
                    FIELD,
                    format!(
                        "unknown transport {:?}; expected one of {}, or \"all\"",
                        name.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            if transports.contains(&t) {
                return Err(self.error(
                    name.span(),
                    FIELD,
                    format!(
                        "transport {:?} is listed twice; expected each transport at most once",
                        name.get_ref()
                    ),
                ));
            }
            transports.push(t);
        }
        Ok(transports)
    }

    /// A duration string; zero only where `allow_zero`.
    fn duration(
        &self,
        field: &str,
        value: &Spanned<String>,
        allow_zero: bool,
    ) -> Result<Duration, ScenarioError> {
        let s = value.get_ref();
        let d = parse_duration(s).map_err(|m| self.error(value.span(), field, m))?;
        if d.is_zero() && !allow_zero {
            return Err(self.error(
                value.span(),
                field,
                format!("expected a duration greater than 0, got {s:?}"),
            ));
        }
        Ok(d)
    }

    /// An optional duration key, `default` when absent.
    fn opt_duration(
        &self,
        field: &str,
        value: &Option<Spanned<String>>,
        allow_zero: bool,
        default: Duration,
    ) -> Result<Duration, ScenarioError> {
        match value {
            None => Ok(default),
            Some(v) => self.duration(field, v, allow_zero),
        }
    }
}

/// Parses `"250ms"`, `"30s"`, `"2m"`, `"1.5s"`: a decimal number and a unit (`ms`, `s`, `m`),
/// nothing else. Exact to the nanosecond (no float rounding); at most 24 hours.
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let not_a_duration = || {
        format!(
            "{s:?} is not a duration; expected a number and a unit, like \"250ms\", \"30s\" or \"2m\""
        )
    };
    let too_long =
        || format!("{s:?} is too long; expected a duration of at most 24 hours (\"1440m\")");

    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(not_a_duration)?;
    let (number, unit) = s.split_at(split);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let number_ok = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(number.ends_with('.'));
    if !number_ok {
        return Err(not_a_duration());
    }
    let unit_nanos: u128 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        _ if unit.bytes().all(|b| b.is_ascii_alphabetic()) => {
            return Err(format!(
                "{s:?} has an unknown unit {unit:?}; expected ms, s or m, like \"250ms\", \"30s\" or \"2m\""
            ));
        }
        _ => return Err(not_a_duration()),
    };
    // More than 20 digits cannot fit in 24 hours of any unit; this also keeps the parse in range.
    let whole: u128 = match whole.trim_start_matches('0') {
        "" => 0,
        w if w.len() > 20 => return Err(too_long()),
        w => w.parse().map_err(|_| not_a_duration())?,
    };
    let mut nanos = whole * unit_nanos;
    // Digits past the 12th are below a nanosecond for every unit.
    let frac = &frac[..frac.len().min(12)];
    if !frac.is_empty() {
        let digits: u128 = frac.parse().map_err(|_| not_a_duration())?;
        nanos += digits * unit_nanos / 10u128.pow(frac.len() as u32);
    }
    if nanos > MAX_DURATION.as_nanos() {
        return Err(too_long());
    }
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| too_long())
}

/// A number and a unit, split where the digits end: `("10", "Mbit")`.
fn number_and_unit(s: &str) -> Option<(f64, &str)> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().ok()?;
    value.is_finite().then_some((value, unit.trim()))
}

/// Parses a rate in bits per second: `"10Mbit"`, `"500kbit"`, `"1.5Gbit"`, `"64000bit"` (SI
/// prefixes, as `tc` and WebPageTest write them).
pub(super) fn parse_rate(s: &str) -> Result<u64, String> {
    let wrong = || {
        format!(
            r#"{s:?} is not a rate; expected a number and a unit, like "10Mbit", "500kbit" or "1Gbit""#
        )
    };
    let (value, unit) = number_and_unit(s).ok_or_else(wrong)?;
    let scale = match unit {
        "bit" => 1.0,
        "kbit" => 1e3,
        "Mbit" => 1e6,
        "Gbit" => 1e9,
        _ => return Err(wrong()),
    };
    let bps = (value * scale).round();
    if !(1_000.0..=100e9).contains(&bps) {
        return Err(format!(
            r#"{s:?} is out of range; expected from "1kbit" to "100Gbit""#
        ));
    }
    Ok(bps as u64)
}

/// Parses a size in bytes: `"64KiB"`, `"1MiB"`, `"1500"` (binary prefixes), or `"64kB"` (SI).
pub(super) fn parse_bytes(s: &str) -> Result<u64, String> {
    let wrong = || {
        format!(
            r#"{s:?} is not a size; expected a number of bytes with an optional unit, like "64KiB", "1MiB" or "1500""#
        )
    };
    let (value, unit) = number_and_unit(s).ok_or_else(wrong)?;
    let scale = match unit {
        "" | "B" => 1.0,
        "kB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        _ => return Err(wrong()),
    };
    let bytes = (value * scale).round();
    if bytes > 1024.0 * 1024.0 * 1024.0 {
        return Err(format!(r#"{s:?} is too large; expected at most "1024MiB""#));
    }
    Ok(bytes as u64)
}

/// A number as a person would write it in an error: digits when it is a modest size, otherwise
/// scientific notation (`1e308`, not 309 digits).
fn number(x: f64) -> String {
    if x.is_finite() && (x == 0.0 || (1e-3..1e9).contains(&x.abs())) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

#[cfg(test)]
mod number_tests {
    #[test]
    fn huge_and_tiny_numbers_are_written_short() {
        assert_eq!(super::number(1e308), "1e308");
        assert_eq!(super::number(2.5e-7), "2.5e-7");
        assert_eq!(super::number(1000000.0), "1000000");
        assert_eq!(super::number(0.5), "0.5");
        assert_eq!(super::number(f64::INFINITY), "inf");
    }
}
