//! `report.html`: one self-contained page. Styles are inline, the charts are embedded as
//! base64 PNG data URIs, and there are no scripts, web fonts or links to anything outside the
//! file, so it opens from disk with no network and survives being mailed on its own.
//!
//! Order on the page: what ran; the warnings (before any number, so nobody quotes a
//! generator-bound figure by mistake); a verdict per question (latency, bytes, server cost)
//! with the reason the data gives; the summary table with the best value in each column
//! marked; the six charts with a line each on how to read them; the setup and scenario.
//!
//! Which transport wins each question is decided in [`verdict`]; which figures the table shows
//! comes from [`crate::figures`]; this module only writes markup.

pub mod verdict;

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use pushbench_results::{Run, Status, TransportResult};

use crate::charts::Chart;
use crate::error::Error;
use crate::figures::{self, best_rows, flags, FIGURES};
use crate::style::{self, colour, css};

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's stylesheet, shared with `compare.html`.
pub const CSS: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif;
  margin: 0 auto; padding: 24px 32px 64px; max-width: 1280px; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 17px; margin: 0 0 6px; }
.lede { font-size: 17px; margin: 4px 0; }
.meta { color: #555; margin: 2px 0 0; }
.warnings { border: 3px solid #c62828; background: #fff4f4; border-radius: 6px; padding: 12px 18px; margin: 20px 0; }
.warnings h2 { color: #b71c1c; border: none; margin: 0 0 6px; }
.warnings li { margin: 3px 0; }
.notes { border-left: 4px solid #999; background: #f6f6f6; padding: 8px 16px; margin: 14px 0; }
.notes ul { margin: 4px 0; padding-left: 20px; }
.ok { border: 2px solid #2e7d32; background: #f3faf3; border-radius: 6px; padding: 8px 16px; margin: 20px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(270px, 1fr)); gap: 14px; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 12px 14px; background: #fafafa; }
.card .win { font-size: 20px; font-weight: 700; margin: 2px 0; }
.card .why { color: #333; font-size: 14.5px; margin: 6px 0 0; }
.sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px;
  vertical-align: baseline; border: 1px solid rgba(0,0,0,.25); }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
th, td { border: 1px solid #d4d4d4; padding: 4px 8px; }
th { background: #f0f0f0; font-weight: 600; vertical-align: bottom; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { white-space: nowrap; font-weight: 600; }
td.best { background: #dff3df; font-weight: 700; }
td.better { background: #dff3df; }
td.worse { background: #fbe3e3; }
.badge { display: inline-block; font-size: 12px; font-weight: 700; padding: 1px 6px; border-radius: 3px;
  background: #c62828; color: #fff; margin-right: 4px; }
.badge.grey { background: #777; }
figure { margin: 26px 0; }
figure img { width: 100%; max-width: 1200px; height: auto; border: 1px solid #ddd; }
figcaption { max-width: 1200px; color: #333; margin-top: 6px; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 10px; overflow-x: auto; font-size: 13px; }
.small { font-size: 13px; color: #555; }
.floor { border-left: 4px solid #0072b2; background: #f2f7fb; padding: 6px 12px; }
.unit { font-weight: 400; color: #555; font-size: 12px; }
"#;

fn swatch(transport: &str) -> String {
    format!(
        r#"<span class="sw" style="background:{}"></span>{}"#,
        css(colour(transport)),
        escape(transport)
    )
}

/// The report page for `run`, with the charts (already drawn into `dir`) inlined.
pub fn page(run: &Run, charts: &[Chart], dir: &Path) -> Result<String, Error> {
    let s = &run.summary;
    let mut h = String::new();
    let title = format!("pushbench report: {}", s.scenario);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(h, "<h1>{}</h1>", escape(&title));
    let _ = writeln!(h, "<p class=\"lede\">{}</p>", escape(&s.description));
    let transports = ordered(run);
    let names: Vec<String> = transports.iter().map(|t| swatch(&t.transport)).collect();
    let mut meta = format!(
        "Started {} · {} transport{}: {}",
        escape(&s.started_utc),
        transports.len(),
        if transports.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    if run.sources.len() > 1 {
        let _ = write!(meta, " · merged from {} runs", run.sources.len());
    }
    if !s.complete {
        meta.push_str(" · <strong>incomplete run</strong>");
    }
    let _ = writeln!(h, "<p class=\"meta\">{meta}</p>");

    warnings(&mut h, run);
    verdict(&mut h, run);
    table(&mut h, run);
    proxies(&mut h, run);
    resilience(&mut h, run);
    restart(&mut h, run);
    outage(&mut h, run);

    let _ = writeln!(h, "<h2>Charts</h2>");
    for c in charts {
        let path = dir.join(c.file);
        let png = std::fs::read(&path).map_err(Error::io(&path))?;
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let _ = writeln!(
            h,
            "<figure id=\"{}\"><img alt=\"{}\" width=\"{}\" height=\"{}\" src=\"data:image/png;base64,{data}\">\n<figcaption><strong>{}.</strong> {} <span class=\"small\">({})</span></figcaption></figure>",
            escape(c.file.trim_end_matches(".png")),
            escape(c.title),
            crate::charts::WIDTH,
            crate::charts::HEIGHT,
            escape(c.title),
            escape(c.caption),
            escape(c.file),
        );
    }
    setup(&mut h, run);
    let _ = writeln!(
        h,
        "<p class=\"small\">Made by pushbench-report from <code>summary.json</code> and the \
         <code>.hlog</code> interval logs; <code>load-gen report {}</code> makes it again.</p>",
        escape(
            &run.sources
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )
    );
    h.push_str("</body>\n</html>\n");
    Ok(h)
}

/// Transports in report order.
fn ordered(run: &Run) -> Vec<&TransportResult> {
    figures::ordered(&run.summary)
}

/// Every warning of the run, run-wide first.
pub fn all_warnings(run: &Run) -> Vec<String> {
    let s = &run.summary;
    let mut w: Vec<String> = Vec::new();
    if !s.complete {
        w.push("the run did not complete: some transports are missing, partial or failed".into());
    }
    w.extend(s.warnings.iter().cloned());
    for t in ordered(run) {
        if t.status != Status::Complete {
            let why = t.error.as_deref().unwrap_or("");
            let line = format!("{}: {} {why}", t.transport, t.status);
            if !t
                .warnings
                .iter()
                .any(|x| x.contains(why) && !why.is_empty())
            {
                w.push(line.trim_end().to_string());
            }
        }
        w.extend(t.warnings.iter().cloned());
    }
    w
}

/// Notes for the reader that are not warnings: how the data was read or merged, and caveats
/// the figures themselves reveal.
pub fn all_notes(run: &Run) -> Vec<String> {
    let mut notes = run.notes.clone();
    let small_cpu = ordered(run)
        .iter()
        .filter(|t| t.messages.seq.delivered > 0)
        .map(|t| t.server.cpu_s)
        .fold(f64::INFINITY, f64::min);
    if small_cpu.is_finite() && small_cpu < 1.0 {
        notes.push(format!(
            "Server CPU per transport was as little as {} ms in this run. Linux counts process CPU \
             time in 10 ms ticks, so CPU per 1,000 messages is coarse here (steps of 10 ms over \
             the run); run a longer scenario before comparing server cost.",
            style::num(small_cpu * 1000.0)
        ));
    }
    let short = ordered(run)
        .iter()
        .map(|t| t.measured_s)
        .fold(f64::INFINITY, f64::min);
    let fewest = ordered(run)
        .iter()
        .filter(|t| t.latency.count > 0)
        .map(|t| t.latency.count)
        .min();
    if let Some(n) = fewest {
        if n < 10_000 {
            notes.push(format!(
                "As few as {} latency samples per transport (measured window {} s): p99.9 and max \
                 rest on a handful of messages.",
                style::thousands(n as f64),
                style::num(short)
            ));
        }
    }
    notes
}

fn warnings(h: &mut String, run: &Run) {
    let w = all_warnings(run);
    if w.is_empty() {
        let _ = writeln!(
            h,
            "<div class=\"ok\">No warnings: every transport completed, nothing was lost, the \
             generator kept to its schedule, and byte counts agree with the kernel's.</div>"
        );
    } else {
        let _ = writeln!(
            h,
            "<div class=\"warnings\"><h2>⚠ {} warning{}: read these before trusting the numbers</h2><ul>",
            w.len(),
            if w.len() == 1 { "" } else { "s" }
        );
        for line in &w {
            let mut line = escape(line);
            for (word, _) in figures::SATURATION {
                line = line.replace(word, &format!("<span class=\"badge\">{word}</span>"));
            }
            let _ = writeln!(h, "<li>{line}</li>");
        }
        let _ = writeln!(h, "</ul>");
        for (word, meaning) in figures::SATURATION {
            if w.iter().any(|l| l.contains(word)) {
                let _ = writeln!(h, "<p class=\"small\">{word}: {}.</p>", escape(meaning));
            }
        }
        let _ = writeln!(h, "</div>");
    }
    let notes = all_notes(run);
    if !notes.is_empty() {
        let _ = writeln!(h, "<div class=\"notes\"><strong>Notes</strong><ul>");
        for n in notes {
            let _ = writeln!(h, "<li>{}</li>", escape(&n));
        }
        let _ = writeln!(h, "</ul></div>");
    }
}

/// The verdict cards ([`verdict::cards`]) as markup: the winner's swatch and value, flagged when
/// its figures may describe the generator.
fn verdict(h: &mut String, run: &Run) {
    // Over several links a verdict compares transports on one link: which is best on 3G, not
    // whether the LAN beats 3G.
    for (network, ts) in figures::by_network(&run.summary) {
        match network {
            Some(n) => {
                let _ = writeln!(
                    h,
                    "<h2>At a glance: over {}</h2><div class=\"cards\">",
                    escape(n)
                );
            }
            None => {
                let _ = writeln!(h, "<h2>At a glance</h2><div class=\"cards\">");
            }
        }
        verdict_cards(h, &ts);
    }
}

/// One group's verdict cards, and the end of their `<div>`.
fn verdict_cards(h: &mut String, ts: &[&TransportResult]) {
    for card in verdict::cards(ts) {
        let value = format!("<span class=\"unit\">{}</span>", escape(&card.value));
        let win = match card.winner {
            Some(t) => {
                let badges: String = figures::saturation(t)
                    .iter()
                    .map(|w| format!(" <span class=\"badge\">{w}</span>"))
                    .collect();
                format!("{} {value}{badges}", swatch(&t.transport))
            }
            None => escape(&card.value),
        };
        let _ = writeln!(
            h,
            "<div class=\"card\"><h3>{}</h3><div class=\"win\">{win}</div><p class=\"why\">{}</p></div>",
            escape(card.title),
            escape(&card.why)
        );
    }
    let _ = writeln!(h, "</div>");
}

fn table(h: &mut String, run: &Run) {
    let ts = ordered(run);
    let _ = writeln!(h, "<h2>Summary</h2>");
    let _ = writeln!(
        h,
        "<p class=\"small\">Latency is intended publish time to decoded at a subscriber, over \
         the measured window. <strong>Green</strong> marks the best value in each column (over \
         several links, among each link's rows; ties within 1% included; no mark where all are \
         equal). Wire bytes count both directions of \
         subscriber traffic by phase; overhead is non-payload bytes over payload bytes.</p>"
    );
    if let Some(r) = ts.iter().find_map(|t| t.repeats.as_ref()) {
        let _ = writeln!(
            h,
            "<p class=\"small\">Every transport ran {} times, interleaved. Where a cell has an \
             interval, the value is the median of the runs' figures and [low – high] its {:.1}% \
             confidence interval (order statistics; fewer than 6 runs cannot reach 95%); the \
             other figures add the runs up.</p>",
            r.runs,
            r.confidence * 100.0
        );
    }
    if let Some(floor) = figures::Floor::of(&run.summary) {
        let _ = writeln!(h, "<p class=\"floor\">{}</p>", escape(&floor.sentence()));
    }
    figure_headings(h, "<th>notes</th>");
    // Over several links the best is marked among the rows of each link.
    let link: Vec<Option<&str>> = ts
        .iter()
        .map(|t| pushbench_results::network_of(&t.transport))
        .collect();
    let cols: Vec<(Vec<Option<f64>>, Vec<bool>)> = FIGURES
        .iter()
        .map(|f| {
            let v: Vec<Option<f64>> = ts.iter().map(|t| f.of(t)).collect();
            let mut b = vec![false; v.len()];
            let mut done: Vec<Option<&str>> = Vec::new();
            for l in &link {
                if done.contains(l) {
                    continue;
                }
                done.push(*l);
                let rows: Vec<usize> = (0..v.len()).filter(|&i| link[i] == *l).collect();
                let values: Vec<Option<f64>> = rows.iter().map(|&i| v[i]).collect();
                for (&i, is_best) in rows.iter().zip(best_rows(&values, f.better)) {
                    b[i] = is_best;
                }
            }
            (v, b)
        })
        .collect();
    for (i, t) in ts.iter().enumerate() {
        let _ = write!(h, "<tr><td class=\"name\">{}</td>", swatch(&t.transport));
        for (f, (values, best)) in FIGURES.iter().zip(&cols) {
            let interval = f.spread(t).map_or_else(String::new, |sp| {
                format!(
                    "<br><span class=\"small\">{}</span>",
                    escape(&figures::interval_text(f, &sp))
                )
            });
            match values[i] {
                Some(v) if best[i] => {
                    let _ = write!(h, "<td class=\"num best\">★ {}{interval}</td>", (f.fmt)(v));
                }
                Some(v) => {
                    let _ = write!(h, "<td class=\"num\">{}{interval}</td>", (f.fmt)(v));
                }
                None => {
                    let _ = write!(h, "<td class=\"num\">–</td>");
                }
            }
        }
        let notes: Vec<String> = flags(t)
            .into_iter()
            .map(|f| {
                let class = if f.serious { "badge" } else { "badge grey" };
                format!("<span class=\"{class}\">{}</span>", escape(&f.text))
            })
            .collect();
        let _ = writeln!(h, "<td>{}</td></tr>", notes.join(" "));
    }
    let _ = writeln!(h, "</tbody></table>");
}

/// What each `--via` proxy did to each transport: latency added against the direct run, the
/// proxy's own CPU, and what it broke with the setting responsible.
fn proxies(h: &mut String, run: &Run) {
    let ts = ordered(run);
    let rows = figures::proxy_rows(&ts);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2>Through a proxy</h2>\n<p class=\"small\">Subscribers reached the server through a \
         real nginx reverse proxy: <code>nginx</code> is nginx's defaults behind a bare \
         <code>proxy_pass</code>, <code>nginx-tuned</code> is configured for push (no buffering, \
         upgrade headers passed on, kept-alive upstream, read timeouts above the heartbeat). \
         Publishers published to the server directly. Added latency is against the same \
         transport on the same server reached directly in this run; CPU is milliseconds per \
         1,000 delivered messages. Each proxy's configuration is in the run folder \
         (<code>&lt;name&gt;.proxy.conf</code>).</p>"
    );
    let _ = writeln!(
        h,
        "<table><thead><tr><th>transport</th><th>added p50<br><span class=\"unit\">ms</span></th>\
         <th>added p99<br><span class=\"unit\">ms</span></th><th>proxy CPU<br><span class=\"unit\">ms / 1k msgs</span></th>\
         <th>server CPU<br><span class=\"unit\">ms / 1k msgs</span></th><th>verdict</th></tr></thead><tbody>"
    );
    let mut diagnoses = Vec::new();
    for r in &rows {
        let added = r.added_us();
        let ms = |us: i64| format!("{:+.3}", us as f64 / 1000.0);
        let delivered = r.run.messages.seq.delivered > 0;
        let cpu = |v: f64| {
            if delivered {
                style::num(v)
            } else {
                "–".into()
            }
        };
        let proxy = r.run.proxy.as_ref();
        let verdict = r.verdict();
        let class = if verdict == "delivers" {
            ""
        } else {
            " class=\"badge\""
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"name\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td><span{class}>{}</span></td></tr>",
            swatch(&r.run.transport),
            added.map_or("–".into(), |a| ms(a.0)),
            added.map_or("–".into(), |a| ms(a.1)),
            cpu(proxy.map_or(0.0, |p| p.cpu_ms_per_1000_msgs)),
            cpu(r.run.server.cpu_ms_per_1000_msgs),
            escape(&verdict)
        );
        if let Some(b) = proxy.and_then(|p| p.broken.as_deref()) {
            diagnoses.push(format!(
                "<li><strong>{}</strong>: {}</li>",
                escape(&r.run.transport),
                escape(b)
            ));
        }
    }
    let _ = writeln!(h, "</tbody></table>");
    if !diagnoses.is_empty() {
        let _ = writeln!(h, "<ul class=\"small\">{}</ul>", diagnoses.join("\n"));
    }
}

/// What each transport delivered through dropped connections (the scenario's `faults`).
fn resilience(h: &mut String, run: &Run) {
    let ts = ordered(run);
    let rows = figures::resilience_rows(&ts);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2>Through dropped connections</h2>\n<p class=\"small\">Subscribers lost their \
         connections (the scenario's <code>faults</code>, or errors), reconnected after the \
         scenario's <code>reconnect</code> wait and resumed from the last message they had. \
         <em>Delivered</em> is the share of the messages owed to subscribers that arrived; \
         <em>back</em> is the time from a connection's end to being subscribed again; \
         <em>replay</em> is the latency, from the intended publish time, of the messages \
         published while a subscriber was away.</p>"
    );
    cells_table(
        h,
        &figures::RESILIENCE_COLUMNS,
        rows.iter()
            .map(|r| (r.run.transport.as_str(), &r.cells[..])),
    );
}

/// What each transport did through a server restart (the scenario's `faults.restart`).
fn restart(h: &mut String, run: &Run) {
    let ts = ordered(run);
    let rows = figures::restart_rows(&ts);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2>Through a server restart</h2>\n<p class=\"small\">The server was stopped during \
         the run and started again on the same ports with an empty hub, as a deploy does. Times \
         are from the signal: <em>down</em> until the new process listened, <em>back</em> until \
         99% and all of the subscribers were subscribed to it again. Messages published while \
         it was down were never published and count as <em>lost</em>, with any a subscriber \
         missed; <em>refused</em> counts the resumes the new process could not honour (it had \
         forgotten the topics), each followed by a fresh subscription. <em>Accepts</em> and \
         <em>CPU</em> are the reconnect storm's peaks over 100 ms.</p>"
    );
    cells_table(
        h,
        &figures::RESTART_COLUMNS,
        rows.iter()
            .map(|r| (r.run.transport.as_str(), &r.cells[..])),
    );
}

/// How each transport came through a cut of the emulated link (`faults.outage`).
fn outage(h: &mut String, run: &Run) {
    let ts = ordered(run);
    let rows = figures::outage_rows(&ts);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2>Through a link outage</h2>\n<p class=\"small\">The emulated link dropped every \
         packet, both ways, for a while; connections were not closed. Times are from the \
         link's return: <em>first</em> until a subscriber decoded a message, <em>caught up</em> \
         until the last message meant for the outage arrived (TCP retransmits on its own \
         backed-off timer, so a connection may stay silent well after the link is back).</p>"
    );
    cells_table(
        h,
        &figures::OUTAGE_COLUMNS,
        rows.iter().map(|(name, cells)| (*name, &cells[..])),
    );
}

/// A table of the transport's swatch and name, then a numeric cell per column.
fn cells_table<'a>(
    h: &mut String,
    columns: &[(&str, &str)],
    rows: impl Iterator<Item = (&'a str, &'a [String])>,
) {
    let _ = write!(h, "<table><thead><tr><th>transport</th>");
    for (heading, unit) in columns {
        let _ = write!(
            h,
            "<th>{}<br><span class=\"unit\">{}</span></th>",
            escape(heading),
            escape(unit)
        );
    }
    let _ = writeln!(h, "</tr></thead><tbody>");
    for (name, cells) in rows {
        let _ = write!(h, "<tr><td class=\"name\">{}</td>", swatch(name));
        for cell in cells {
            let _ = write!(h, "<td class=\"num\">{}</td>", escape(cell));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</tbody></table>");
}

/// Opens a table with a column per figure of [`FIGURES`] after the transport, then `extra`
/// headings: the summary table here, and `compare.html`'s.
pub fn figure_headings(h: &mut String, extra: &str) {
    let _ = write!(h, "<table><thead><tr><th>transport</th>");
    for f in &FIGURES {
        let _ = write!(
            h,
            "<th>{}<br><span class=\"unit\">{}</span></th>",
            escape(f.name),
            escape(f.unit)
        );
    }
    let _ = writeln!(h, "{extra}</tr></thead><tbody>");
}

fn setup(h: &mut String, run: &Run) {
    let s = &run.summary;
    let st = &s.setup;
    let _ = writeln!(h, "<h2>Setup</h2><table>");
    let first = ordered(run).into_iter().next();
    let mut rows: Vec<(&str, String)> = vec![
        ("scenario", format!("{} — {}", s.scenario, s.description)),
        ("started", s.started_utc.clone()),
        ("host", st.hostname.clone()),
        ("CPU", format!("{} ({} cores available)", st.cpu, st.cores)),
        (
            "memory",
            format!(
                "{} GiB",
                style::num(st.memory_bytes as f64 / (1u64 << 30) as f64)
            ),
        ),
        (
            "kernel",
            match &st.tcp_congestion_control {
                Some(cc) => format!("{} (TCP congestion control: {cc})", st.kernel),
                None => st.kernel.clone(),
            },
        ),
        ("rustc", st.rustc.clone()),
        ("git revision", st.git_revision.clone()),
        ("load-gen", st.load_gen_version.clone()),
        (
            "server",
            match (st.server.as_str(), st.server_software.as_deref()) {
                ("embedded", None | Some("pushbench")) => {
                    "push-server started by load-gen on loopback, a fresh process per transport"
                        .into()
                }
                ("embedded", Some(software)) => format!(
                    "{software}, started by load-gen on loopback, a fresh process per transport"
                ),
                (how, Some(software)) => format!("{software} ({how})"),
                (how, None) => how.to_owned(),
            },
        ),
        (
            "per transport",
            format!(
                "{} s warm-up (not measured), then {} s measured",
                style::num(run.warmup_s),
                first.map_or_else(|| "?".into(), |t| style::num(t.measured_s))
            ),
        ),
    ];
    if let Some(t) = first {
        rows.push((
            "clients",
            format!(
                "{} subscribers on {} topic(s) per transport",
                t.clients, t.topics
            ),
        ));
    }
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(&v));
    }
    let _ = writeln!(h, "</table>");
    if run.sources.len() > 1 {
        let _ = writeln!(h, "<h3>Merged from</h3><ul>");
        for p in &run.sources {
            let _ = writeln!(
                h,
                "<li><code>{}</code></li>",
                escape(&p.display().to_string())
            );
        }
        let _ = writeln!(h, "</ul>");
    }
    if let Some(toml) = &run.scenario_toml {
        let _ = writeln!(h, "<h3>Scenario file</h3><pre>{}</pre>", escape(toml));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
