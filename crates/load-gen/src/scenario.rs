//! Scenario files: one TOML file describes one workload, and this module turns it into a checked
//! [`Scenario`].
//!
//! Loading happens in two steps. First serde (through the `toml` crate) reads the text into
//! `RawScenario`, a flat struct whose fields keep their byte spans in the file; syntax errors,
//! unknown keys, missing keys and wrong value types are caught here. Then `validate` checks
//! ranges and the rules between fields (`topics <= clients`, `message_size_max >=
//! message_size`, durations, transport names) and fills in defaults. Either way a mistake comes
//! back as one [`ScenarioError`] that names the file, the line and the field and says what was
//! expected, so a user can fix the file without reading this code.
//!
//! Where the data goes next: the runner builds the open-loop publish schedule from a
//! [`Scenario`] (rate, pattern, sizes and seed fix every send time before the run starts), runs
//! it once per transport in [`Scenario::transports`], and copies [`Scenario::source`] into the
//! results folder so every run records exactly what it measured.
//!
//! The accepted keys, their defaults and limits are listed on [`Scenario`]'s fields; the files
//! under `scenarios/` are worked examples.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pushbench_wire::{Encoding, Transport};
use serde::Deserialize;
use toml::Spanned;

/// Most subscribers per transport a scenario may ask for.
const MAX_CLIENTS: i64 = 1_000_000;
/// Largest payload, matching push-server's default `--max-message-size` (1 MiB).
const MAX_MESSAGE_SIZE: i64 = 1_048_576;
/// Highest publish rate; above it the schedule, not the transport, is what gets measured.
const MAX_RATE: f64 = 1_000_000.0;
/// Longest long-poll hold push-server grants (its default `--max-long-poll-timeout`).
const MAX_LONG_POLL_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest value any duration key accepts; keeps time arithmetic far from overflow.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

const DEFAULT_TOPICS: usize = 1;
const DEFAULT_WARMUP: Duration = Duration::from_secs(2);
const DEFAULT_SEED: u64 = 1;
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);
const DEFAULT_LONG_POLL_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_DRAIN: Duration = Duration::from_secs(3);

/// Who publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `"push"`: one publisher per topic sends `POST /publish`, the same for every transport;
    /// clients only receive.
    Push,
    /// `"all"`: every client publishes through its own transport's upstream (a `POST` beside the
    /// HTTP transports, frames on WebSocket and raw TCP) and receives its topic (chat, game).
    All,
}

/// Which headers load-gen's HTTP requests carry besides `host`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestHeaders {
    /// `host` only (plus `content-length` and what a protocol needs): the floor.
    Minimal,
    /// What Chromium sends with `fetch` from a page: user agent, accept, language, fetch
    /// metadata, a session cookie.
    Browser,
}

/// How send times are spread over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// `"constant"`: evenly spaced, `1 / rate` apart.
    Constant,
    /// `"poisson"`: exponentially distributed gaps with mean `1 / rate`, from the seeded RNG.
    Poisson,
}

/// Payload sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeDist {
    /// Every payload has this size (`message_size` alone, or `message_size_max` equal to it).
    Fixed(usize),
    /// Sizes drawn uniformly from `min..=max` (`message_size` .. `message_size_max`).
    Uniform {
        /// Smallest payload, `message_size`.
        min: usize,
        /// Largest payload, `message_size_max`; always greater than `min`.
        max: usize,
    },
}

/// One validated workload, read from a scenario file.
///
/// Every field corresponds to a top-level key of the same name (see each field for its default
/// and limits), except `name`, `source` and `path`, which come from the file itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The file stem (`quick` for `scenarios/quick.toml`): names the run in results and reports.
    pub name: String,
    /// `description`, required: what real use the workload models, shown in reports.
    pub description: String,
    /// `transports`, required: the transports to measure, one after the other, in the order
    /// given; `["all"]` means [`Transport::ALL`]. Never empty, never a duplicate.
    pub transports: Vec<Transport>,
    /// `clients`, required, 1 to 1,000,000: subscribers per transport.
    pub clients: usize,
    /// `topics`, default 1, at most `clients`: clients are spread round-robin over the topics,
    /// so every topic has a subscriber.
    pub topics: usize,
    /// `direction`, default `"push"`: who publishes.
    pub direction: Direction,
    /// `encoding`, default `"text"`: the envelope encoding on WebSocket and raw TCP (the other
    /// transports always carry text).
    pub encoding: Encoding,
    /// `rate`, required, greater than 0: messages per second, per topic for
    /// [`Direction::Push`] and per client for [`Direction::All`].
    pub rate: f64,
    /// `pattern`, default `"constant"`: how send times are spread.
    pub pattern: Pattern,
    /// `message_size` (required, 1 B to 1 MiB) and optional `message_size_max`: payload bytes.
    pub size: SizeDist,
    /// `duration`, required, greater than 0: the measured part of each transport's run.
    pub duration: Duration,
    /// `warmup`, default 2 s, may be 0: run before `duration` and left out of every figure, so
    /// connection setup and first-request costs do not skew latency.
    pub warmup: Duration,
    /// `seed`, default 1: seeds the schedule's RNG (Poisson gaps, sizes), so every transport
    /// gets the same message stream and runs are repeatable.
    pub seed: u64,
    /// `poll_interval`, default 100 ms, greater than 0: the short-poll period.
    pub poll_interval: Duration,
    /// `poll_new_connection`, default false: short polls open a fresh TCP connection each time
    /// instead of reusing a keep-alive one (what clients behind some proxies do).
    pub poll_new_connection: bool,
    /// `request_headers`, default `"minimal"`: the headers every HTTP request carries besides
    /// `host`. `"browser"` adds what a browser's `fetch` or `EventSource` sends (user agent,
    /// accept, language, fetch metadata, a session cookie: about 480 bytes), so header overhead
    /// is what a web app pays.
    pub request_headers: RequestHeaders,
    /// `long_poll_timeout`, default 30 s, greater than 0 and at most 120 s (push-server's
    /// limit): how long the server holds a long poll that has nothing to return.
    pub long_poll_timeout: Duration,
    /// `drain`, default 3 s, greater than 0: how long to keep receiving after the last publish,
    /// so late messages are counted as late rather than lost.
    pub drain: Duration,
    /// The file's text, copied into the results so a run records what it measured.
    pub source: String,
    /// Where the scenario was read from; errors and results name it.
    pub path: PathBuf,
}

impl Scenario {
    /// Reads and validates a scenario file. A file that cannot be read gives an error with no
    /// line and no field.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: None,
            field: String::new(),
            message: format!("cannot read the scenario file: {e}"),
        })?;
        Scenario::parse(&text, path)
    }

    /// Validates scenario text; `path` names the file in errors and gives [`Scenario::name`].
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let doc = Doc { text, path };
        let table = toml::de::DeTable::parse(text).map_err(|e| doc.syntax_error(&e))?;
        // Where each top-level key and its value sit, to name the field a serde error is about.
        let keys: Vec<(String, Range<usize>)> = table
            .get_ref()
            .iter()
            .map(|(k, v)| (k.get_ref().to_string(), k.span().start..v.span().end))
            .collect();
        let raw = RawScenario::deserialize(toml::de::Deserializer::from(table))
            .map_err(|e| doc.serde_error(&e, &keys))?;
        raw.validate(&doc)
    }
}

/// A mistake in a scenario file (or a file that cannot be read). Always fatal to the run: nothing
/// is measured from a scenario that did not validate.
///
/// Displays as ``{file}:{line}: field `{field}`: {message}``, leaving out `:{line}` when the line
/// is unknown and the field part when no single field is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The scenario file.
    pub file: PathBuf,
    /// 1-based line of the offending key or value; `None` for a missing key or an unreadable file.
    pub line: Option<usize>,
    /// The top-level key at fault; empty when the error is not about one key.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The file as serde sees it: every key of the TOML layout, with its span kept for errors.
/// Optional keys are `Option`; numbers are read as `i64` so that ranges (and negative values)
/// are checked here with messages that say what was expected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
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
    poll_interval: Option<Spanned<String>>,
    poll_new_connection: Option<bool>,
    long_poll_timeout: Option<Spanned<String>>,
    drain: Option<Spanned<String>>,
    request_headers: Option<Spanned<String>>,
}

impl RawScenario {
    /// Checks ranges and cross-field rules, fills in defaults.
    fn validate(self, doc: &Doc<'_>) -> Result<Scenario, ScenarioError> {
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

        let request_headers = match &self.request_headers {
            None => RequestHeaders::Minimal,
            Some(s) => doc.keyword(
                "request_headers",
                s,
                &[
                    ("minimal", RequestHeaders::Minimal),
                    ("browser", RequestHeaders::Browser),
                ],
            )?,
        };
        let direction = match &self.direction {
            None => Direction::Push,
            Some(s) => doc.keyword(
                "direction",
                s,
                &[("push", Direction::Push), ("all", Direction::All)],
            )?,
        };
        let encoding = match &self.encoding {
            None => Encoding::Text,
            Some(s) => doc.keyword(
                "encoding",
                s,
                &[("text", Encoding::Text), ("binary", Encoding::Binary)],
            )?,
        };

        let rate = *self.rate.get_ref();
        if !(rate.is_finite() && rate > 0.0) {
            return Err(doc.error(
                self.rate.span(),
                "rate",
                format!("expected a number of messages per second greater than 0, got {rate}"),
            ));
        }
        if rate > MAX_RATE {
            return Err(doc.error(
                self.rate.span(),
                "rate",
                format!("expected at most {MAX_RATE} messages per second, got {rate}"),
            ));
        }

        let pattern = match &self.pattern {
            None => Pattern::Constant,
            Some(s) => doc.keyword(
                "pattern",
                s,
                &[
                    ("constant", Pattern::Constant),
                    ("poisson", Pattern::Poisson),
                ],
            )?,
        };

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
            poll_interval,
            poll_new_connection: self.poll_new_connection.unwrap_or(false),
            request_headers,
            long_poll_timeout,
            drain,
            source: doc.text.to_owned(),
            path: doc.path.to_path_buf(),
        })
    }
}

/// The text being parsed and its file name: everything an error needs to point at a line.
struct Doc<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Doc<'_> {
    /// An error at the line holding byte offset `span.start`.
    fn error(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.path.to_path_buf(),
            line: Some(line_of(self.text, span.start)),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The file is not valid TOML. The field is the key assigned on the offending line, if any.
    fn syntax_error(&self, e: &toml::de::Error) -> ScenarioError {
        let line = e.span().map(|s| line_of(self.text, s.start));
        let field = line
            .and_then(|l| key_on_line(self.text, l))
            .unwrap_or_default();
        let toml_message = one_line(e.message());
        let value_missing = line
            .and_then(|l| self.text.lines().nth(l - 1))
            .and_then(|l| l.split_once('='))
            .is_some_and(|(_, rest)| rest.split('#').next().unwrap_or("").trim().is_empty());
        let message = if value_missing && !field.is_empty() {
            // toml's own words for `clients =` are "string values must be quoted".
            format!(
                "invalid TOML: no value after `=`; expected a line like `{}`",
                example_line(&field)
            )
        } else if toml_message == "duplicate key" {
            "invalid TOML: duplicate key; expected each key at most once".to_owned()
        } else {
            format!("invalid TOML: {toml_message}")
        };
        ScenarioError {
            file: self.path.to_path_buf(),
            line,
            field,
            message,
        }
    }

    /// Valid TOML that does not fit the layout: unknown key, missing key or wrong value type.
    fn serde_error(&self, e: &toml::de::Error, keys: &[(String, Range<usize>)]) -> ScenarioError {
        let message = one_line(e.message());
        if let Some(field) = missing_field(&message) {
            return ScenarioError {
                file: self.path.to_path_buf(),
                line: None,
                message: format!(
                    "missing required field; expected a line like `{}`",
                    example_line(field)
                ),
                field: field.to_owned(),
            };
        }
        let span = e.span();
        let line = span.clone().map(|s| line_of(self.text, s.start));
        let field = span
            .and_then(|s| {
                keys.iter()
                    .find(|(_, range)| range.contains(&s.start))
                    .map(|(k, _)| k.clone())
            })
            .or_else(|| line.and_then(|l| key_on_line(self.text, l)))
            .unwrap_or_default();
        let message = match message.strip_prefix("invalid type: ") {
            Some(rest) => {
                // "invalid type: string \"x\", expected i64": keep what was found, say in the
                // file's terms what was expected.
                let (got, serde_expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
                let expected = expected_type(&field, serde_expected);
                // serde reports integers beyond 64 bits as "integer `N` as i128".
                match got
                    .strip_suffix(" as i128")
                    .or_else(|| got.strip_suffix(" as u128"))
                {
                    Some(big) => format!("expected {expected}, got {big}, which is too large"),
                    None => format!("expected {expected}, got {got}"),
                }
            }
            None => message,
        };
        ScenarioError {
            file: self.path.to_path_buf(),
            line,
            field,
            message,
        }
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
            return Ok(Transport::ALL.to_vec());
        }
        let mut transports = Vec::with_capacity(names.len());
        for name in names {
            let Ok(t) = name.get_ref().parse::<Transport>() else {
                let known: Vec<&str> = Transport::ALL.iter().map(|t| t.name()).collect();
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
fn parse_duration(s: &str) -> Result<Duration, String> {
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

/// 1-based line holding byte `offset`; an offset at the very end counts as the last line, as
/// toml's own messages do.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len().saturating_sub(1));
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The bare key assigned on a 1-based line (`clients = 0` gives `clients`), if the line is an
/// assignment.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let (key, _) = text.lines().nth(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim();
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    bare.then(|| key.to_owned())
}

/// toml messages may span lines; errors here are one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key named by serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// A line to copy into the file for each key (optional keys show their default).
fn example_line(field: &str) -> String {
    let line = match field {
        "description" => r#"description = "what real use this models""#,
        "transports" => r#"transports = ["all"]"#,
        "clients" => "clients = 100",
        "topics" => "topics = 1",
        "direction" => r#"direction = "push""#,
        "encoding" => r#"encoding = "text""#,
        "rate" => "rate = 50.0",
        "pattern" => r#"pattern = "constant""#,
        "message_size" => "message_size = 128",
        "message_size_max" => "message_size_max = 1024",
        "duration" => r#"duration = "30s""#,
        "warmup" => r#"warmup = "2s""#,
        "seed" => "seed = 1",
        "poll_interval" => r#"poll_interval = "100ms""#,
        "poll_new_connection" => "poll_new_connection = false",
        "long_poll_timeout" => r#"long_poll_timeout = "30s""#,
        "drain" => r#"drain = "3s""#,
        "request_headers" => r#"request_headers = "minimal""#,
        other => return format!("{other} = ..."),
    };
    line.to_owned()
}

/// What a key's value should look like, for wrong-type errors; `serde_expected` is serde's own
/// wording, used for keys not listed and to tell a list from its items.
fn expected_type(field: &str, serde_expected: &str) -> String {
    let s = match field {
        "description" => "a string",
        "transports" if serde_expected == "a sequence" => {
            "a list of transport names, like [\"sse\", \"websocket\"] or [\"all\"]"
        }
        "transports" => "a transport name in quotes, like \"sse\"",
        "clients" | "topics" | "message_size" | "message_size_max" | "seed" => "an integer",
        "rate" => "a number of messages per second, like 50 or 0.5",
        "direction" => "\"push\" or \"all\"",
        "encoding" => "\"text\" or \"binary\"",
        "pattern" => "\"constant\" or \"poisson\"",
        "duration" | "warmup" | "poll_interval" | "long_poll_timeout" | "drain" => {
            "a duration in quotes, like \"250ms\", \"30s\" or \"2m\""
        }
        "poll_new_connection" => "true or false",
        "request_headers" => "\"minimal\" or \"browser\"",
        _ if serde_expected.is_empty() => "another type",
        _ => serde_expected,
    };
    s.to_owned()
}

/// `"a" or "b"`, `"a", "b" or "c"`.
fn or_list(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid file with only the required keys, one per line (line numbers matter below).
    const BASE: &str = r#"description = "test"
transports = ["sse", "websocket"]
clients = 20
rate = 50
message_size = 128
duration = "3s"
"#;

    /// `BASE` with the line assigning `key` replaced by `line`, or `line` appended (line 7).
    fn set(key: &str, line: &str) -> String {
        let prefix = format!("{key} =");
        let mut replaced = false;
        let mut out: Vec<String> = BASE
            .lines()
            .map(|l| {
                if l.starts_with(&prefix) {
                    replaced = true;
                    line.to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect();
        if !replaced {
            out.push(line.to_owned());
        }
        out.join("\n") + "\n"
    }

    /// `BASE` without the line assigning `key`.
    fn without(key: &str) -> String {
        let prefix = format!("{key} =");
        BASE.lines()
            .filter(|l| !l.starts_with(&prefix))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("scenarios/t.toml"))
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(s) => panic!("expected an error, parsed {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn full_file_parses_to_the_expected_struct() {
        let text = r#"# every key
description = "everything set"
transports = ["websocket", "sse", "raw-tcp"]
clients = 100
topics = 10
direction = "all"
encoding = "binary"
rate = 2.5
pattern = "poisson"
message_size = 40
message_size_max = 400
duration = "1.5m"
warmup = "0s"
seed = 42
poll_interval = "250ms"
poll_new_connection = true
request_headers = "browser"
long_poll_timeout = "120s"
drain = "0.5s"
"#;
        let s = Scenario::parse(text, Path::new("/x/chat.toml")).unwrap();
        let expected = Scenario {
            name: "chat".into(),
            description: "everything set".into(),
            transports: vec![Transport::WebSocket, Transport::Sse, Transport::RawTcp],
            clients: 100,
            topics: 10,
            direction: Direction::All,
            encoding: Encoding::Binary,
            rate: 2.5,
            pattern: Pattern::Poisson,
            size: SizeDist::Uniform { min: 40, max: 400 },
            duration: Duration::from_secs(90),
            warmup: Duration::ZERO,
            seed: 42,
            poll_interval: Duration::from_millis(250),
            poll_new_connection: true,
            request_headers: RequestHeaders::Browser,
            long_poll_timeout: Duration::from_secs(120),
            drain: Duration::from_millis(500),
            source: text.into(),
            path: PathBuf::from("/x/chat.toml"),
        };
        assert_eq!(s, expected);
    }

    #[test]
    fn defaults_apply() {
        let s = parse(BASE).unwrap();
        assert_eq!(s.name, "t");
        assert_eq!(s.transports, vec![Transport::Sse, Transport::WebSocket]);
        assert_eq!(s.clients, 20);
        assert_eq!(s.topics, 1);
        assert_eq!(s.direction, Direction::Push);
        assert_eq!(s.encoding, Encoding::Text);
        assert_eq!(s.rate, 50.0); // an integer rate is accepted
        assert_eq!(s.pattern, Pattern::Constant);
        assert_eq!(s.size, SizeDist::Fixed(128));
        assert_eq!(s.duration, Duration::from_secs(3));
        assert_eq!(s.warmup, Duration::from_secs(2));
        assert_eq!(s.seed, 1);
        assert_eq!(s.poll_interval, Duration::from_millis(100));
        assert!(!s.poll_new_connection);
        assert_eq!(s.long_poll_timeout, Duration::from_secs(30));
        assert_eq!(s.drain, Duration::from_secs(3));
        assert_eq!(s.source, BASE);
    }

    #[test]
    fn all_means_every_transport_and_equal_sizes_are_fixed() {
        let s = parse(&set("transports", r#"transports = ["all"]"#)).unwrap();
        assert_eq!(s.transports, Transport::ALL.to_vec());
        let s = parse(&set("message_size_max", "message_size_max = 128")).unwrap();
        assert_eq!(s.size, SizeDist::Fixed(128));
    }

    #[test]
    fn durations() {
        let ok = [
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("2m", Duration::from_secs(120)),
            ("0s", Duration::ZERO),
            ("1.5s", Duration::from_millis(1500)),
            ("0.3s", Duration::from_millis(300)),
            ("0.25m", Duration::from_secs(15)),
            ("0.5ms", Duration::from_micros(500)),
            ("007s", Duration::from_secs(7)),
            ("1440m", Duration::from_secs(86_400)),
        ];
        for (s, d) in ok {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
        for s in [
            "", "30", "s", ".5s", "1.s", "1..5s", "-1s", "30 s", "1e3s", "1.2.3s",
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(
                e.contains("is not a duration; expected a number and a unit"),
                "{s}: {e}"
            );
        }
        assert_eq!(
            parse_duration("2h").unwrap_err(),
            r#""2h" has an unknown unit "h"; expected ms, s or m, like "250ms", "30s" or "2m""#
        );
        for s in ["1441m", "99999999999999999999999999s"] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains("is too long"), "{s}: {e}");
        }
    }

    #[test]
    fn unknown_field() {
        assert_eq!(
            err(&set("durations", r#"durations = "3s""#)),
            "scenarios/t.toml:7: field `durations`: unknown field `durations`, expected one of \
             `description`, `transports`, `clients`, `topics`, `direction`, `encoding`, `rate`, \
             `pattern`, `message_size`, `message_size_max`, `duration`, `warmup`, `seed`, \
             `poll_interval`, `poll_new_connection`, `long_poll_timeout`, `drain`, \
             `request_headers`"
        );
        // A table is not part of the layout either.
        let e = err(&format!("{BASE}[server]\nurl = \"x\"\n"));
        assert!(
            e.starts_with("scenarios/t.toml:7: field `server`: unknown field `server`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            err(&set("clients", r#"clients = "20""#)),
            r#"scenarios/t.toml:3: field `clients`: expected an integer, got string "20""#
        );
        assert_eq!(
            err(&set("clients", "clients = 2.5")),
            "scenarios/t.toml:3: field `clients`: expected an integer, got floating point `2.5`"
        );
        assert_eq!(
            err(&set("duration", "duration = 30")),
            r#"scenarios/t.toml:6: field `duration`: expected a duration in quotes, like "250ms", "30s" or "2m", got integer `30`"#
        );
        assert_eq!(
            err(&set("rate", r#"rate = "fast""#)),
            r#"scenarios/t.toml:4: field `rate`: expected a number of messages per second, like 50 or 0.5, got string "fast""#
        );
        assert_eq!(
            err(&set("transports", r#"transports = "sse""#)),
            r#"scenarios/t.toml:2: field `transports`: expected a list of transport names, like ["sse", "websocket"] or ["all"], got string "sse""#
        );
        assert_eq!(
            err(&set("poll_new_connection", "poll_new_connection = 1")),
            "scenarios/t.toml:7: field `poll_new_connection`: expected true or false, got integer `1`"
        );
        // An item on its own line of a multi-line list is reported on that line.
        assert_eq!(
            err(&set("transports", "transports = [\n  \"sse\",\n  3,\n]")),
            r#"scenarios/t.toml:4: field `transports`: expected a transport name in quotes, like "sse", got integer `3`"#
        );
    }

    #[test]
    fn missing_required_field() {
        assert_eq!(
            err(&without("clients")),
            "scenarios/t.toml: field `clients`: missing required field; \
             expected a line like `clients = 100`"
        );
        assert_eq!(
            err(&without("duration")),
            "scenarios/t.toml: field `duration`: missing required field; \
             expected a line like `duration = \"30s\"`"
        );
    }

    #[test]
    fn bad_durations() {
        assert_eq!(
            err(&set("duration", r#"duration = "30""#)),
            r#"scenarios/t.toml:6: field `duration`: "30" is not a duration; expected a number and a unit, like "250ms", "30s" or "2m""#
        );
        assert_eq!(
            err(&set("warmup", r#"warmup = "5 sec""#)),
            r#"scenarios/t.toml:7: field `warmup`: "5 sec" is not a duration; expected a number and a unit, like "250ms", "30s" or "2m""#
        );
        assert_eq!(
            err(&set("duration", r#"duration = "0s""#)),
            r#"scenarios/t.toml:6: field `duration`: expected a duration greater than 0, got "0s""#
        );
        assert_eq!(
            err(&set("poll_interval", r#"poll_interval = "0ms""#)),
            r#"scenarios/t.toml:7: field `poll_interval`: expected a duration greater than 0, got "0ms""#
        );
        assert!(parse(&set("warmup", r#"warmup = "0s""#)).is_ok());
    }

    #[test]
    fn numbers_out_of_range() {
        assert_eq!(
            err(&set("clients", "clients = 0")),
            "scenarios/t.toml:3: field `clients`: expected at least 1, got 0"
        );
        assert_eq!(
            err(&set("clients", "clients = 2_000_000")),
            "scenarios/t.toml:3: field `clients`: expected at most 1000000, got 2000000"
        );
        assert_eq!(
            err(&set("message_size", "message_size = 2000000")),
            "scenarios/t.toml:5: field `message_size`: expected at most 1048576, got 2000000"
        );
        assert_eq!(
            err(&set("seed", "seed = -1")),
            "scenarios/t.toml:7: field `seed`: expected a non-negative integer, got -1"
        );
        assert_eq!(
            err(&set("rate", "rate = 0")),
            "scenarios/t.toml:4: field `rate`: expected a number of messages per second greater \
             than 0, got 0"
        );
        assert_eq!(
            err(&set("rate", "rate = -2.5")),
            "scenarios/t.toml:4: field `rate`: expected a number of messages per second greater \
             than 0, got -2.5"
        );
        assert_eq!(
            err(&set("rate", "rate = nan")),
            "scenarios/t.toml:4: field `rate`: expected a number of messages per second greater \
             than 0, got NaN"
        );
        assert_eq!(
            err(&set("long_poll_timeout", r#"long_poll_timeout = "3m""#)),
            r#"scenarios/t.toml:7: field `long_poll_timeout`: expected at most "120s" (push-server's limit), got "3m""#
        );
    }

    #[test]
    fn transport_lists() {
        assert_eq!(
            err(&set("transports", r#"transports = ["sse", "websockets"]"#)),
            r#"scenarios/t.toml:2: field `transports`: unknown transport "websockets"; expected one of short-poll, long-poll, xhr-stream, iframe, sse, websocket, raw-tcp, or "all""#
        );
        assert_eq!(
            err(&set(
                "transports",
                "transports = [\n  \"sse\",\n  \"websocket\",\n  \"sse\",\n]"
            )),
            r#"scenarios/t.toml:5: field `transports`: transport "sse" is listed twice; expected each transport at most once"#
        );
        assert_eq!(
            err(&set("transports", "transports = []")),
            r#"scenarios/t.toml:2: field `transports`: expected at least one transport name, or ["all"]"#
        );
        assert_eq!(
            err(&set("transports", r#"transports = ["sse", "all"]"#)),
            r#"scenarios/t.toml:2: field `transports`: "all" already names every transport; expected ["all"] alone, or transport names without "all""#
        );
    }

    #[test]
    fn cross_field_rules() {
        assert_eq!(
            err(&set("message_size_max", "message_size_max = 64")),
            "scenarios/t.toml:7: field `message_size_max`: expected at least `message_size` (128), got 64"
        );
        assert_eq!(
            err(&set("topics", "topics = 30")),
            "scenarios/t.toml:7: field `topics`: expected at most `clients` (20), got 30; \
             every topic needs a subscriber"
        );
        assert_eq!(
            err(&set("topics", "topics = 0")),
            "scenarios/t.toml:7: field `topics`: expected at least 1, got 0"
        );
    }

    #[test]
    fn keywords() {
        assert_eq!(
            err(&set("direction", r#"direction = "both""#)),
            r#"scenarios/t.toml:7: field `direction`: unknown direction "both"; expected "push" or "all""#
        );
        assert_eq!(
            err(&set("pattern", r#"pattern = "bursty""#)),
            r#"scenarios/t.toml:7: field `pattern`: unknown pattern "bursty"; expected "constant" or "poisson""#
        );
        assert_eq!(
            err(&set("encoding", r#"encoding = "json""#)),
            r#"scenarios/t.toml:7: field `encoding`: unknown encoding "json"; expected "text" or "binary""#
        );
        assert_eq!(
            err(&set("description", r#"description = "  ""#)),
            "scenarios/t.toml:1: field `description`: expected a non-empty description of the \
             workload the scenario models"
        );
    }

    #[test]
    fn toml_syntax_errors() {
        assert_eq!(
            err(&set("clients", "clients =   # no value")),
            "scenarios/t.toml:3: field `clients`: invalid TOML: no value after `=`; \
             expected a line like `clients = 100`"
        );
        assert_eq!(
            err(&set("duration", r#"duration = "3s"#)),
            "scenarios/t.toml:6: field `duration`: invalid TOML: invalid basic string, expected `\"`"
        );
        assert_eq!(
            err(&set("direction", "direction = push")),
            "scenarios/t.toml:7: field `direction`: invalid TOML: string values must be quoted, \
             expected literal string"
        );
        assert_eq!(
            err(&set("clients", "clients = 20\nclients = 30")),
            "scenarios/t.toml:4: field `clients`: invalid TOML: duplicate key; \
             expected each key at most once"
        );
        assert_eq!(
            err(&format!("{BASE}this is not toml\n")),
            "scenarios/t.toml:7: invalid TOML: key with no value, expected `=`"
        );
        assert_eq!(
            err(&format!("{BASE}[scenario\n")),
            "scenarios/t.toml:7: invalid TOML: unclosed table, expected `]`"
        );
        // Valid TOML, but no 64-bit integer.
        assert_eq!(
            err(&set("clients", "clients = 99999999999999999999")),
            "scenarios/t.toml:3: field `clients`: expected an integer, \
             got integer `99999999999999999999`, which is too large"
        );
    }

    #[test]
    fn unreadable_file() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/no-such-scenario.toml"
        ));
        let e = Scenario::load(path).unwrap_err();
        assert_eq!(e.line, None);
        assert_eq!(e.field, "");
        assert!(
            e.to_string().starts_with(&format!(
                "{}: cannot read the scenario file: ",
                path.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios"));
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    s.source.starts_with('#'),
                    "{}: opens with a comment",
                    s.name
                );
                names.push(s.name);
            }
        }
        names.sort();
        assert_eq!(
            names,
            ["bulk", "chat", "collab", "game", "notify", "quick", "ticker"]
        );
    }

    #[test]
    fn quick_stays_quick() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scenarios/quick.toml"
        ));
        let s = Scenario::load(path).unwrap();
        assert_eq!(s.transports, Transport::ALL.to_vec());
        let per_transport = s.warmup + s.duration + s.drain;
        assert!(per_transport * s.transports.len() as u32 <= Duration::from_secs(40));
    }
}
