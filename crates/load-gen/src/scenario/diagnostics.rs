//! Turning a mistake in a scenario file into a [`ScenarioError`] that names the file, the line and
//! the field, and says in the file's terms what was expected.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

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

/// The text being parsed and its file name: everything an error needs to point at a line.
pub(super) struct Doc<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

impl Doc<'_> {
    /// An error at the line holding byte offset `span.start`.
    pub(super) fn error(
        &self,
        span: Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: self.path.to_path_buf(),
            line: Some(line_of(self.text, span.start)),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The file is not valid TOML. The field is the key assigned on the offending line, if any.
    pub(super) fn syntax_error(&self, e: &toml::de::Error) -> ScenarioError {
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
    pub(super) fn serde_error(
        &self,
        e: &toml::de::Error,
        keys: &[(String, Range<usize>)],
    ) -> ScenarioError {
        let message = one_line(e.message());
        // A key missing inside a table (`network = { down = "1Mbit" }` without `rtt`): the
        // table's line and name, and the key it lacks.
        let inline_table =
            |s: &Range<usize>| self.text.get(s.start..).is_some_and(|t| t.starts_with('{'));
        let table = e.span().filter(inline_table).and_then(|s| {
            keys.iter()
                .find(|(_, range)| range.contains(&s.start))
                .map(|(k, _)| (k.clone(), line_of(self.text, s.start)))
        });
        if let (Some(missing), Some((table, line))) = (missing_field(&message), table) {
            return ScenarioError {
                file: self.path.to_path_buf(),
                line: Some(line),
                message: format!(
                    "missing `{missing}`; expected a table like `{}`",
                    example_line(&table)
                ),
                field: table,
            };
        }
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
        "repeat" => "repeat = 5",
        "poll_interval" => r#"poll_interval = "100ms""#,
        "poll_new_connection" => "poll_new_connection = false",
        "long_poll_timeout" => r#"long_poll_timeout = "30s""#,
        "drain" => r#"drain = "3s""#,
        "request_headers" => r#"request_headers = "minimal""#,
        "sweep" => "sweep = { rate = { from = 10, to = 10240, factor = 2 } }",
        "slo" => r#"slo = { p99 = "50ms", loss = 0 }"#,
        "faults" => {
            r#"faults = { drop = { every = "15s", jitter = "5s", how = "close" }, restart = { at = "20s", how = "term" } }"#
        }
        "reconnect" => r#"reconnect = { delay = "100ms", max_delay = "5s", jitter = 0.5 }"#,
        "network" => {
            r#"network = { rtt = "100ms", down = "10Mbit", up = "2Mbit", loss = 0.01, queue = "64KiB" }"#
        }
        "networks" => {
            r#"networks = ["lan", "4g", { name = "slow", rtt = "400ms", down = "1Mbit" }]"#
        }
        "tls" => "tls = [false, true]",
        "http" => r#"http = ["1.1", "2"]"#,
        "multiplex" => "multiplex = true",
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
        "clients" | "topics" | "message_size" | "message_size_max" | "seed" | "repeat" => {
            "an integer"
        }
        "rate" => "a number of messages per second, like 50 or 0.5",
        "direction" => "\"push\" or \"all\"",
        "encoding" => "\"text\" or \"binary\"",
        "pattern" => "\"constant\" or \"poisson\"",
        "duration" | "warmup" | "poll_interval" | "long_poll_timeout" | "drain" => {
            "a duration in quotes, like \"250ms\", \"30s\" or \"2m\""
        }
        "poll_new_connection" => "true or false",
        "tls" => "true, false or a list of them, like [false, true]",
        "http" => r#""1.1", "2" or a list of them, like ["1.1", "2"]"#,
        "multiplex" => "true, false or a number of streams a connection, like 100",
        "request_headers" => "\"minimal\" or \"browser\"",
        "faults" => r#"a table of faults, like { drop = { every = "15s" } }"#,
        "reconnect" => r#"a table, like { delay = "100ms", max_delay = "5s", jitter = 0.5 }"#,
        "network" => r#"a table, like { rtt = "100ms", down = "10Mbit" }"#,
        "networks" if serde_expected == "a sequence" => {
            r#"a list of links, like ["lan", "3g"] or [{ name = "slow", rtt = "400ms" }]"#
        }
        "networks" => {
            r#"a profile's name or a table, like "3g" or { name = "slow", rtt = "400ms" }"#
        }
        _ if serde_expected.is_empty() => "another type",
        _ => serde_expected,
    };
    s.to_owned()
}

/// `"a" or "b"`, `"a", "b" or "c"`.
pub(super) fn or_list(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
