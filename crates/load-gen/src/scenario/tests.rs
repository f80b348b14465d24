use super::validate::parse_duration;
use super::*;
use pushbench_results::sweep::{Param, Slo};

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
faults = { drop = { every = "15s", jitter = "5s", how = "reset" } }
reconnect = { delay = "1s", max_delay = "30s", jitter = 0.25, heartbeat_timeout = "20s" }
network = { rtt = "150ms", jitter = "10ms", down = "1.6Mbit", up = "768kbit", loss = 0.01, queue = "64KiB" }
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
        repeat: 1,
        poll_interval: Duration::from_millis(250),
        poll_new_connection: true,
        request_headers: RequestHeaders::Browser,
        long_poll_timeout: Duration::from_secs(120),
        drain: Duration::from_millis(500),
        sweep: None,
        faults: Faults {
            drop: Some(DropFault {
                every: Duration::from_secs(15),
                jitter: Duration::from_secs(5),
                how: DropHow::Reset,
            }),
            restart: None,
            outage: None,
        },
        reconnect: Reconnect {
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            jitter: 0.25,
            heartbeat_timeout: Some(Duration::from_secs(20)),
        },
        networks: vec![NamedNetwork {
            name: "custom".into(),
            link: Network {
                rtt: Duration::from_millis(150),
                jitter: Duration::from_millis(10),
                down: Some(1_600_000),
                up: Some(768_000),
                loss: 0.01,
                queue: Some(64 * 1024),
            },
        }],
        tls: vec![false],
        http: vec![HttpVersion::H1],
        multiplex: None,
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
    assert_eq!(s.transports, Transport::KNOWN.to_vec());
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
fn tls_is_a_bool_or_a_list_of_them() {
    let tls = |value: &str| {
        Scenario::parse(
            &format!("{BASE}tls = {value}\n"),
            Path::new("scenarios/t.toml"),
        )
    };
    assert_eq!(tls("true").unwrap().tls, [true]);
    assert_eq!(tls("[false, true]").unwrap().tls, [false, true]);
    assert_eq!(
        err(&format!("{BASE}tls = \"yes\"\n")),
        "scenarios/t.toml:7: field `tls`: expected true, false or a list of them, like [false, true]; got string `\"yes\"`"
    );
    for bad in ["[]", "[true, true]", "[1]"] {
        let e = err(&format!("{BASE}tls = {bad}\n"));
        assert!(
            e.starts_with("scenarios/t.toml:7: field `tls`: expected true, false"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn http_is_a_version_or_a_list_of_them() {
    let http = |value: &str| {
        Scenario::parse(
            &format!("{BASE}http = {value}\n"),
            Path::new("scenarios/t.toml"),
        )
    };
    assert_eq!(http(r#""2""#).unwrap().http, [HttpVersion::H2]);
    assert_eq!(
        http(r#"["1.1", "2"]"#).unwrap().http,
        [HttpVersion::H1, HttpVersion::H2]
    );
    assert_eq!(
        Scenario::parse(BASE, Path::new("t.toml")).unwrap().http,
        [HttpVersion::H1]
    );
    assert_eq!(
        err(&format!("{BASE}http = 2\n")),
        r#"scenarios/t.toml:7: field `http`: expected "1.1", "2" or a list of them, like ["1.1", "2"]; got integer `2`"#
    );
    for bad in ["[]", r#"["2", "2"]"#, r#"["3"]"#, r#""h2""#] {
        let e = err(&format!("{BASE}http = {bad}\n"));
        assert!(
            e.starts_with(r#"scenarios/t.toml:7: field `http`: expected "1.1", "2""#),
            "{bad}: {e}"
        );
    }
}

#[test]
fn multiplex_is_a_bool_or_streams_and_needs_http2() {
    let parse =
        |extra: &str| Scenario::parse(&format!("{BASE}{extra}"), Path::new("scenarios/t.toml"));
    let h2 = "http = [\"1.1\", \"2\"]\n";
    assert_eq!(
        parse(&format!("{h2}multiplex = true\n")).unwrap().multiplex,
        Some(DEFAULT_STREAMS)
    );
    assert_eq!(
        parse(&format!("{h2}multiplex = 6\n")).unwrap().multiplex,
        Some(6)
    );
    assert_eq!(
        parse(&format!("{h2}multiplex = false\n"))
            .unwrap()
            .multiplex,
        None
    );
    assert_eq!(parse(h2).unwrap().multiplex, None);
    let e = err(&format!("{BASE}multiplex = true\n"));
    assert!(
        e.starts_with("scenarios/t.toml:7: field `multiplex`: needs http = \"2\""),
        "{e}"
    );
    let e = err(&format!(
        "{BASE}poll_new_connection = true\nhttp = \"2\"\nmultiplex = 4\n"
    ));
    assert!(
        e.starts_with("scenarios/t.toml:9: field `multiplex`: cannot share connections"),
        "{e}"
    );
    for bad in ["0", "201", "\"yes\"", "1.5"] {
        let e = err(&format!("{BASE}{h2}multiplex = {bad}\n"));
        assert!(
            e.starts_with(
                "scenarios/t.toml:8: field `multiplex`: expected true, false or the streams"
            ),
            "{bad}: {e}"
        );
    }
}

#[test]
fn unknown_field() {
    assert_eq!(
        err(&set("durations", r#"durations = "3s""#)),
        "scenarios/t.toml:7: field `durations`: unknown field `durations`, expected one of \
         `description`, `transports`, `clients`, `topics`, `direction`, `encoding`, `rate`, \
         `pattern`, `message_size`, `message_size_max`, `duration`, `warmup`, `seed`, `repeat`, \
         `poll_interval`, `poll_new_connection`, `long_poll_timeout`, `drain`, \
         `request_headers`, `sweep`, `slo`, `faults`, `reconnect`, `network`, `networks`, `tls`, \
         `http`, `multiplex`"
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
fn an_absurd_rate_is_quoted_short() {
    let e = err(&set("rate", "rate = 1e308"));
    assert!(
        e.ends_with("field `rate`: expected at most 1000000 messages per second, got 1e308"),
        "{e}"
    );
    let e = err(&format!(
        "{BASE}sweep = {{ rate = [1, 1e300] }}\nslo = {{ p99 = \"50ms\", loss = 0 }}\n"
    ));
    assert!(
        e.contains("must lie above 0 and at most 1000000, got 1e300"),
        "{e}"
    );
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
        err(&set("repeat", "repeat = 0")),
        "scenarios/t.toml:7: field `repeat`: expected at least 1, got 0"
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
        r#"scenarios/t.toml:2: field `transports`: unknown transport "websockets"; expected one of short-poll, long-poll, xhr-stream, multipart-mixed, iframe, sse, websocket, raw-tcp, or "all""#
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
        [
            "bulk",
            "capacity",
            "chat",
            "churn",
            "collab",
            "connections",
            "deploy",
            "deployed",
            "efficiency",
            "efficiency-1000",
            "game",
            "mobile",
            "mobile-fresh-polls",
            "notify",
            "quick",
            "ticker"
        ]
    );
}

#[test]
fn quick_stays_quick() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/quick.toml"
    ));
    let s = Scenario::load(path).unwrap();
    assert_eq!(s.transports, Transport::KNOWN.to_vec());
    // The drain ends early once everything has arrived; this bounds the worst case.
    let per_run = s.warmup + s.duration + s.drain;
    // "all": the seven push-server serves run (multipart-mixed is Nchan's alone).
    let served = crate::profile::PUSHBENCH.transports();
    let runs = (s.transports.iter().filter(|t| served.contains(t)).count() * s.repeat) as u32;
    assert!(per_run * runs <= Duration::from_secs(50));
}

#[test]
fn sweeps_take_a_list_or_a_geometric_range_and_need_an_slo() {
    let slo = r#"slo = { p99 = "50ms", loss = 2 }"#;
    let s = parse(&(set("sweep", "sweep = { rate = [10, 20.5, 40] }") + slo + "\n")).unwrap();
    let sweep = s.sweep.unwrap();
    assert_eq!(sweep.param, Param::Rate);
    assert_eq!(sweep.values, [10.0, 20.5, 40.0]);
    assert_eq!(sweep.slo, Slo::new(Duration::from_millis(50), 2));
    let s = parse(
        &(set(
            "sweep",
            "sweep = { clients = { from = 1000, to = 19000, factor = 2 } }",
        ) + r#"slo = { p99 = "1s" }"#
            + "\n"),
    )
    .unwrap();
    let sweep = s.sweep.as_ref().unwrap();
    assert_eq!(sweep.values, [1000.0, 2000.0, 4000.0, 8000.0, 16000.0]);
    assert_eq!(sweep.slo.loss, 0);
    // A step is the scenario with the swept key set.
    let step = s.at_step(Param::Clients, 4000.0);
    assert_eq!(step.clients, 4000);
    assert_eq!(step.rate, s.rate);
    let sized = s.at_step(Param::MessageSize, 512.0);
    assert_eq!(sized.size, SizeDist::Fixed(512));
}

#[test]
fn bad_sweeps_name_the_field_and_say_why() {
    let slo = "slo = { p99 = \"50ms\" }\n";
    let sweep = |v: &str| set("sweep", &format!("sweep = {v}")) + slo;
    let cases = [
        (
            set("sweep", "sweep = { rate = [10] }"),
            "needs an objective",
        ),
        (
            set("slo", slo.trim_end()),
            "only judges the steps of a sweep",
        ),
        (sweep("{ rate = [10], clients = [20] }"), "exactly one of"),
        (sweep("{}"), "exactly one of"),
        (sweep("{ rate = [20, 10] }"), "rising steps"),
        (sweep("{ rate = [] }"), "1 to 64 steps"),
        (sweep("{ rate = [0, 10] }"), "rate steps must lie above 0"),
        (sweep("{ clients = [0, 10] }"), "(at least topics)"),
        (
            sweep("{ rate = { from = 10, to = 5, factor = 2 } }"),
            "to >= from",
        ),
        (
            sweep("{ rate = { from = 1, to = 1e9, factor = 1.01 } }"),
            "1 to 64 steps",
        ),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{text}: {e}");
        assert!(e.contains("sweep") || e.contains("slo"), "{e}");
        assert!(e.starts_with("scenarios/t.toml:7:"), "{e}");
    }
    let e = err(&(set("sweep", "sweep = { rate = [10] }") + "slo = { p99 = \"fast\" }\n"));
    assert!(e.contains("slo"), "{e}");
}

#[test]
fn faults_and_reconnect_default_to_none_and_socket_io_like_waits() {
    let s = parse(BASE).unwrap();
    assert_eq!(s.faults, Faults::default());
    assert_eq!(s.reconnect, DEFAULT_RECONNECT);
    // Only `every` is required; a delay past the default longest wait raises the longest wait.
    let s = parse(&set(
        "faults",
        r#"faults = { drop = { every = "1s" } }
reconnect = { delay = "8s" }"#,
    ))
    .unwrap();
    assert_eq!(
        s.faults.drop,
        Some(DropFault {
            every: Duration::from_secs(1),
            jitter: Duration::ZERO,
            how: DropHow::Close,
        })
    );
    assert_eq!(s.reconnect.max_delay, Duration::from_secs(8));
    // The heartbeat timeout: socket.io's 45 s by default, none with "0s".
    assert_eq!(s.reconnect.heartbeat_timeout, Some(Duration::from_secs(45)));
    let s = parse(&set(
        "reconnect",
        r#"reconnect = { heartbeat_timeout = "0s" }"#,
    ))
    .unwrap();
    assert_eq!(s.reconnect.heartbeat_timeout, None);
    // A restart on its own or beside drops; SIGTERM unless it says kill.
    let s = parse(&set("faults", r#"faults = { restart = { at = "1s" } }"#)).unwrap();
    assert_eq!(
        s.faults,
        Faults {
            drop: None,
            restart: Some(RestartFault {
                at: Duration::from_secs(1),
                how: StopHow::Term
            }),
            outage: None,
        }
    );
    let s = parse(&set(
        "faults",
        r#"faults = { drop = { every = "1s" }, restart = { at = "2s", how = "kill" } }"#,
    ))
    .unwrap();
    assert!(s.faults.drop.is_some());
    assert_eq!(s.faults.restart.map(|r| r.how), Some(StopHow::Kill));
}

#[test]
fn faults_and_reconnect_name_what_is_wrong() {
    let cases = [
        (
            r#"faults = { drop = { every = "5s" } }"#,
            r#"scenarios/t.toml:7: field `faults`: drop every "5s" would never drop a connection: expected less than warmup and duration together (5s)"#,
        ),
        (
            r#"faults = { drop = { every = "1s", jitter = "600ms" } }"#,
            "scenarios/t.toml:7: field `faults`: drop jitter 600ms could put a client's drops out of order: expected at most half of every (500ms)",
        ),
        (
            r#"faults = { drop = { every = "1s", how = "slam" } }"#,
            r#"scenarios/t.toml:7: field `faults`: unknown faults "slam"; expected "close" or "reset""#,
        ),
        (
            r#"faults = { drop = { every = "0s" } }"#,
            r#"scenarios/t.toml:7: field `faults`: expected a duration greater than 0, got "0s""#,
        ),
        (
            r#"faults = { restart = { at = "5s" } }"#,
            r#"scenarios/t.toml:7: field `faults`: restart at "5s" would never restart the server: expected less than warmup and duration together (5s)"#,
        ),
        (
            r#"faults = { restart = { at = "1s", how = "hup" } }"#,
            r#"scenarios/t.toml:7: field `faults`: unknown faults "hup"; expected "term" or "kill""#,
        ),
        (
            r#"faults = { restart = { at = "1s", how = "kill", after = "2s" } }"#,
            "scenarios/t.toml:7: field `faults`: unknown field `after`, expected `at` or `how`",
        ),
        (
            r#"reconnect = { delay = "2s", max_delay = "1s" }"#,
            "scenarios/t.toml:7: field `reconnect`: expected max_delay at least delay (2s), got 1s",
        ),
        (
            "reconnect = { jitter = 1.5 }",
            "scenarios/t.toml:7: field `reconnect`: expected a jitter from 0 to 1, got 1.5",
        ),
    ];
    for (line, expected) in cases {
        let key = line.split(' ').next().unwrap();
        assert_eq!(err(&set(key, line)), expected, "{line}");
    }
    let e = err(&format!(
        "{}direction = \"all\"\n",
        set("faults", r#"faults = { restart = { at = "1s" } }"#)
    ));
    assert_eq!(
        e,
        r#"scenarios/t.toml:7: field `faults`: a restart needs direction = "push" (one publisher per topic)"#
    );
    let e = err(&set("faults", r#"faults = { crash = { at = "1s" } }"#));
    assert!(
        e.starts_with("scenarios/t.toml:7: field `faults`: unknown field `crash`"),
        "{e}"
    );
}

#[test]
fn a_network_needs_only_its_round_trip_and_names_what_is_wrong() {
    assert_eq!(parse(BASE).unwrap().networks, vec![]);
    let s = parse(&set("network", r#"network = { rtt = "0s" }"#)).unwrap();
    assert_eq!(
        s.networks.first().map(|n| n.link),
        Some(Network {
            rtt: Duration::ZERO,
            jitter: Duration::ZERO,
            down: None,
            up: None,
            loss: 0.0,
            queue: None
        })
    );
    let cases = [
        (
            r#"network = { rtt = "50ms", down = "10Mbps" }"#,
            r#"scenarios/t.toml:7: field `network`: "10Mbps" is not a rate; expected a number and a unit, like "10Mbit", "500kbit" or "1Gbit""#,
        ),
        (
            r#"network = { rtt = "50ms", up = "10bit" }"#,
            r#"scenarios/t.toml:7: field `network`: "10bit" is out of range; expected from "1kbit" to "100Gbit""#,
        ),
        (
            r#"network = { rtt = "50ms", loss = 1.0 }"#,
            "scenarios/t.toml:7: field `network`: expected a loss from 0 up to (not including) 1, got 1",
        ),
        (
            r#"network = { rtt = "50ms", queue = "64KB" }"#,
            r#"scenarios/t.toml:7: field `network`: "64KB" is not a size; expected a number of bytes with an optional unit, like "64KiB", "1MiB" or "1500""#,
        ),
        (
            r#"network = { rtt = "50ms", queue = "0" }"#,
            "scenarios/t.toml:7: field `network`: expected a queue of at least one packet (1500 bytes), got 0",
        ),
        (
            r#"network = { rtt = "20ms", jitter = "11ms" }"#,
            "scenarios/t.toml:7: field `network`: expected a jitter of at most half the round trip (10ms), got 11ms",
        ),
        (
            r#"network = { rtt = "fast" }"#,
            r#"scenarios/t.toml:7: field `network`: "fast" is not a duration; expected a number and a unit, like "250ms", "30s" or "2m""#,
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(err(&set("network", line)), expected, "{line}");
    }
    assert_eq!(
        err(&set("network", r#"network = { down = "1Mbit" }"#)),
        r#"scenarios/t.toml:7: field `network`: expected `rtt` (or a `profile`), like { rtt = "100ms" } or { profile = "3g" }"#
    );
    // A missing key inside a table is reported at the table's line (`drop` needs `every`).
    assert_eq!(
        err(&set("faults", r#"faults = { drop = { how = "close" } }"#)),
        r#"scenarios/t.toml:7: field `faults`: missing `every`; expected a table like `faults = { drop = { every = "15s", jitter = "5s", how = "close" }, restart = { at = "20s", how = "term" } }`"#
    );
    let e = err(&set("network", r#"network = { profile = "5g" }"#));
    assert!(
        e.starts_with(r#"scenarios/t.toml:7: field `network`: unknown network profile "5g"; expected one of "lan", "fios""#),
        "{e}"
    );
}

#[test]
fn rates_and_sizes() {
    use super::validate::{parse_bytes, parse_rate};
    assert_eq!(parse_rate("10Mbit"), Ok(10_000_000));
    assert_eq!(parse_rate("1.5Mbit"), Ok(1_500_000));
    assert_eq!(parse_rate("500kbit"), Ok(500_000));
    assert_eq!(parse_rate("1Gbit"), Ok(1_000_000_000));
    assert!(parse_rate("10").is_err());
    assert_eq!(parse_bytes("64KiB"), Ok(65_536));
    assert_eq!(parse_bytes("1MiB"), Ok(1_048_576));
    assert_eq!(parse_bytes("1500"), Ok(1_500));
    assert_eq!(parse_bytes("64kB"), Ok(64_000));
    assert!(parse_bytes("2048MiB").is_err());
}

#[test]
fn a_network_profile_is_webpagetests_link_and_keys_beside_it_override_it() {
    let s = parse(&set("network", r#"network = { profile = "3g" }"#)).unwrap();
    assert_eq!(s.networks[0].name, "3g");
    assert_eq!(
        s.networks.first().map(|n| n.link),
        Some(Network {
            rtt: Duration::from_millis(300),
            jitter: Duration::ZERO,
            down: Some(1_600_000),
            up: Some(768_000),
            loss: 0.0,
            queue: None
        })
    );
    let s = parse(&set(
        "network",
        r#"network = { profile = "lte", loss = 0.02, up = "1Mbit" }"#,
    ))
    .unwrap();
    let n = s.networks[0].link;
    assert_eq!(
        (n.rtt, n.down, n.up, n.loss),
        (
            Duration::from_millis(70),
            Some(12_000_000),
            Some(1_000_000),
            0.02
        )
    );
    // Every profile's figures are valid figures of their own.
    for (name, link, source) in NETWORK_PROFILES {
        assert!(!source.is_empty(), "{name}");
        assert!(
            link.down.is_some() && link.up.is_some() && link.loss < 1.0,
            "{name}"
        );
    }
    assert_eq!(
        NETWORK_PROFILES
            .iter()
            .find(|p| p.0 == "lossy-lte")
            .unwrap()
            .1
            .loss,
        0.01
    );
}

#[test]
fn an_outage_cuts_the_emulated_link_within_the_run() {
    let text = format!(
        "{}network = {{ rtt = \"50ms\" }}\n",
        set(
            "faults",
            r#"faults = { outage = { at = "1s", for = "1.5s" } }"#
        )
    );
    let s = parse(&text).unwrap();
    assert_eq!(
        s.faults.outage,
        Some(Outage {
            at: Duration::from_secs(1),
            length: Duration::from_millis(1500)
        })
    );
    assert_eq!(
        err(&set("faults", r#"faults = { outage = { at = "1s", for = "1s" } }"#)),
        "scenarios/t.toml:7: field `faults`: an outage needs a `network`: it cuts the emulated link, and loopback has none"
    );
    let late = format!(
        "{}network = {{ rtt = \"50ms\" }}\n",
        set(
            "faults",
            r#"faults = { outage = { at = "4s", for = "2s" } }"#
        )
    );
    assert_eq!(
        err(&late),
        r#"scenarios/t.toml:7: field `faults`: an outage from "4s" for "2s" would outlast the run: expected it to end within warmup and duration together (5s)"#
    );
}

#[test]
fn networks_runs_each_link_by_its_name_and_names_what_is_wrong() {
    let s = parse(&set(
        "networks",
        r#"networks = ["lan", "4g", { profile = "3g", name = "lossy-3g", loss = 0.01 }, { name = "slow", rtt = "400ms" }]"#,
    ))
    .unwrap();
    let names: Vec<&str> = s.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["lan", "4g", "lossy-3g", "slow"]);
    assert_eq!(
        (
            s.networks[1].link.rtt,
            s.networks[1].link.down,
            s.networks[1].link.up
        ),
        (Duration::from_millis(170), Some(9_000_000), Some(9_000_000))
    );
    assert_eq!(
        (s.networks[2].link.rtt, s.networks[2].link.loss),
        (Duration::from_millis(300), 0.01)
    );
    assert_eq!(s.networks[3].link.rtt, Duration::from_millis(400));
    assert_eq!(
        s.over(Some(&s.networks[1]), false, HttpVersion::H1)
            .networks,
        vec![s.networks[1].clone()]
    );
    assert!(s.over(None, false, HttpVersion::H1).networks.is_empty());
    // One link without a name is called by its profile, or "custom".
    assert_eq!(
        parse(&set(
            "network",
            r#"network = { profile = "lte", loss = 0.02 }"#
        ))
        .unwrap()
        .networks[0]
            .name,
        "lte"
    );
    let cases = [
        (
            r#"networks = ["lan", { rtt = "400ms" }]"#,
            r#"scenarios/t.toml:7: field `networks`: expected a `name` for a link of your own, like { name = "slow", rtt = "400ms" }"#,
        ),
        (
            r#"networks = ["3g", { profile = "3g", loss = 0.01 }]"#,
            r#"scenarios/t.toml:7: field `networks`: two links are named "3g"; give each a `name` of its own"#,
        ),
        (
            r#"networks = []"#,
            r#"scenarios/t.toml:7: field `networks`: expected at least one link, like ["lan", "3g"]"#,
        ),
        (
            r#"networks = [{ name = "a b", rtt = "1ms" }]"#,
            r#"scenarios/t.toml:7: field `networks`: expected a name of letters, digits, `-`, `_` and `.` (it names files), got "a b""#,
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(err(&set("networks", line)), expected, "{line}");
    }
    let e = err(&set("networks", r#"networks = ["5g"]"#));
    assert!(
        e.starts_with(r#"scenarios/t.toml:7: field `networks`: unknown network profile "5g""#),
        "{e}"
    );
    let e = err(&set(
        "networks",
        r#"networks = [{ name = "x", rtt = "1ms", speed = 3 }]"#,
    ));
    assert!(
        e.contains("field `networks`") && e.contains("unknown field `speed`"),
        "{e}"
    );
    let both = format!(
        "{}\nnetwork = {{ profile = \"lan\" }}\n",
        set("networks", r#"networks = ["3g"]"#)
    );
    let e = err(&both);
    assert!(
        e.ends_with("expected `network` (one link) or `networks` (several), not both"),
        "{e}"
    );
}
