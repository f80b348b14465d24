//! The report made from the checked-in fixture results folders (two real runs of
//! `scenarios/quick.toml`, every transport, kept under `crates/results/tests/fixtures`).

mod util;

use pushbench_report::charts::{CHARTS, HEIGHT, WIDTH};
use pushbench_report::{compare, report_folders, write_report, REPORT_HTML};
use pushbench_results::hlog::LATENCY;
use pushbench_results::{folder, Status};
use pushbench_test_support::{fixture, TempDir};
use pushbench_wire::Transport;
use util::decode_png;

#[test]
fn report_has_every_transport_and_chart_and_is_self_contained() {
    let run = folder::load(&fixture("quick-a")).unwrap();
    let out = TempDir::new("self-contained");
    let written = write_report(&run, out.path()).unwrap();
    assert_eq!(written.html, out.path().join(REPORT_HTML));
    assert_eq!(written.charts.len(), CHARTS.len());
    let html = std::fs::read_to_string(&written.html).unwrap();
    for t in Transport::ALL {
        assert!(
            html.contains(&format!(">{}<", t.name()))
                || html.contains(&format!("</span>{}</td>", t.name())),
            "no {t} in the page"
        );
    }
    for c in &CHARTS {
        assert!(html.contains(c.title), "no {} in the page", c.title);
        assert!(html.contains(&format!(
            "<figure id=\"{}\"",
            c.file.trim_end_matches(".png")
        )));
    }
    assert_eq!(
        html.matches("src=\"data:image/png;base64,").count(),
        CHARTS.len()
    );
    // Nothing to fetch: no scripts, stylesheets, fonts or links out of the file.
    for banned in [
        "<script", "<link", "@import", "url(", "http://", "https://", "<iframe",
    ] {
        assert!(!html.contains(banned), "the page contains {banned:?}");
    }
    // Every warning of the run is on the page, before the first chart.
    let first_chart = html.find("<figure").unwrap();
    let warnings: Vec<&String> = run
        .summary
        .transports
        .iter()
        .flat_map(|t| &t.warnings)
        .collect();
    assert!(
        !warnings.is_empty(),
        "the fixture should have a warning to show"
    );
    for w in warnings {
        // The page badges GENERATOR-BOUND, so look for the words after it.
        let escaped = pushbench_report::html::escape(w);
        let tail = escaped.rsplit("GENERATOR-BOUND").next().unwrap();
        let at = html.find(tail);
        assert!(
            at.is_some_and(|i| i < first_chart),
            "warning {w:?} missing or late"
        );
    }
}

#[test]
fn pngs_decode_at_the_fixed_size_with_text_drawn() {
    let run = folder::load(&fixture("quick-b")).unwrap();
    let out = TempDir::new("png");
    let written = write_report(&run, out.path()).unwrap();
    for path in &written.charts {
        let (w, h, pixels, bpp) = decode_png(path);
        assert_eq!((w, h), (WIDTH, HEIGHT), "{}", path.display());
        // The title (top left) is dark text on white: the embedded font drew it.
        let dark = (8..40)
            .flat_map(|y| (20..300).map(move |x| (x, y)))
            .filter(|(x, y)| {
                let i = (*y as usize * w as usize + *x as usize) * bpp;
                pixels[i] < 80 && pixels[i + 1] < 80 && pixels[i + 2] < 80
            })
            .count();
        assert!(
            dark > 300,
            "{}: only {dark} dark pixels where the title is",
            path.display()
        );
    }
}

#[test]
fn a_merged_folder_reports_and_merges_again() {
    let out = TempDir::new("merged");
    let (run, written) =
        report_folders(&[fixture("quick-a"), fixture("quick-b")], Some(out.path())).unwrap();
    assert!(written.html.exists());
    let again = folder::load(out.path()).unwrap();
    for t in &run.summary.transports {
        let back = again
            .summary
            .transports
            .iter()
            .find(|x| x.transport == t.transport)
            .unwrap();
        assert_eq!(back.latency.count, t.latency.count);
        assert_eq!(back.latency.p99_us, t.latency.p99_us);
        assert_eq!(back.latency.max_us, t.latency.max_us);
        assert!((back.latency.mean_us - t.latency.mean_us).abs() < 1e-6);
        assert_eq!(
            again.logs[&t.transport].measured(LATENCY).len(),
            run.logs[&t.transport].measured(LATENCY).len()
        );
    }
}

#[test]
fn a_merge_never_overwrites_an_input() {
    let err = report_folders(
        &[fixture("quick-a"), fixture("quick-b")],
        Some(&fixture("quick-b")),
    )
    .unwrap_err();
    assert!(matches!(err, pushbench_report::Error::OutIsInput { .. }));
}

#[test]
fn a_run_compared_with_itself_gives_ratios_of_one() {
    let a = folder::load(&fixture("quick-a")).unwrap();
    let c = compare::compare(&a, &a);
    assert_eq!(c.rows.len(), Transport::ALL.len());
    let mut ratios = 0;
    for row in &c.rows {
        for cell in &row.cells {
            if let Some(r) = cell.ratio() {
                assert_eq!(r, 1.0, "{}", row.transport);
                ratios += 1;
            }
        }
    }
    // Only RSS per connection for the two polling transports is missing.
    assert_eq!(
        ratios,
        Transport::ALL.len() * pushbench_report::figures::FIGURES.len() - 2
    );
    let table = compare::terminal(&c);
    assert!(table.contains("1.00"));
    assert!(!table.contains("0.99") && !table.contains("1.01"));
}

#[test]
fn compare_writes_its_page() {
    let out = TempDir::new("compare");
    let page = out.path().join("compare.html");
    let (c, path) =
        compare::compare_folders(&fixture("quick-a"), &fixture("quick-b"), Some(&page)).unwrap();
    assert_eq!(path, page);
    let html = std::fs::read_to_string(&page).unwrap();
    for row in &c.rows {
        assert!(html.contains(&row.transport));
    }
    assert!(!html.contains("<script") && !html.contains("http"));
}

#[test]
fn failed_transports_and_missing_logs_still_report() {
    let mut run = folder::load(&fixture("quick-a")).unwrap();
    run.summary.transports[1].status = Status::Failed;
    run.summary.transports[1].error = Some("connection refused".into());
    run.summary.complete = false;
    run.logs.clear();
    let out = TempDir::new("degraded");
    let written = write_report(&run, out.path()).unwrap();
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert!(html.contains("did not complete"));
    assert!(html.contains("connection refused"));
    for path in &written.charts {
        assert_eq!(decode_png(path).0, WIDTH);
    }
}

#[test]
fn a_folder_from_the_previous_version_reports_and_compares() {
    let out = TempDir::new("report-v0");
    let (run, written) = report_folders(&[fixture("quick-v0")], Some(out.path())).unwrap();
    assert_eq!(run.summary.transports.len(), Transport::ALL.len());
    assert_eq!(written.charts.len(), CHARTS.len());
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert!(html.contains("At a glance"));
    let (c, _) = compare::compare_folders(
        &fixture("quick-v0"),
        &fixture("quick-a"),
        Some(&out.path().join("compare.html")),
    )
    .unwrap();
    assert!(c.rows.iter().all(|r| r.in_a && r.in_b));
}

#[test]
fn repeats_draw_whiskers_and_show_intervals() {
    let plain = folder::load(&fixture("quick-a")).unwrap();
    let mut run = plain.clone();
    let sse = run
        .summary
        .transports
        .iter_mut()
        .find(|t| t.transport == "sse")
        .unwrap();
    let cpu = sse.server.cpu_ms_per_1000_msgs;
    let spread = |m: f64| pushbench_results::model::Spread {
        median: m,
        low: m * 0.5,
        high: m * 1.5,
    };
    sse.repeats = Some(pushbench_results::model::Repeats {
        runs: 5,
        confidence: 0.9375,
        p50_us: spread(sse.latency.p50_us as f64),
        p99_us: spread(sse.latency.p99_us as f64),
        p999_us: spread(sse.latency.p999_us as f64),
        throughput_msgs_per_s: spread(sse.throughput_msgs_per_s),
        bytes_per_message: spread(sse.bytes_per_message.total),
        cpu_ms_per_1000_msgs: spread(cpu),
    });
    let (a, b) = (TempDir::new("no-repeats"), TempDir::new("repeats"));
    let without = write_report(&plain, a.path()).unwrap();
    let with = write_report(&run, b.path()).unwrap();
    // The charts with bars for repeated figures differ by the whiskers; the others are equal.
    for (x, y) in without.charts.iter().zip(&with.charts) {
        let name = x.file_name().unwrap().to_string_lossy().into_owned();
        let same = std::fs::read(x).unwrap() == std::fs::read(y).unwrap();
        let has_whiskers = name == "server-cost.png" || name == "throughput-latency.png";
        assert_eq!(same, !has_whiskers, "{name}");
    }
    let html = std::fs::read_to_string(&with.html).unwrap();
    assert!(html.contains("Every transport ran 5 times"));
    assert!(
        html.contains("<br><span class=\"small\">["),
        "an interval in the table"
    );
}

#[test]
fn a_run_with_dropped_connections_gets_its_section_and_one_without_does_not() {
    let mut run = folder::load(&fixture("quick-a")).unwrap();
    let out = TempDir::new("resilience");
    let html = std::fs::read_to_string(write_report(&run, out.path()).unwrap().html).unwrap();
    assert!(!html.contains("Through dropped connections"));
    let sse = &mut run.summary.transports[0];
    sse.connections_dropped = 37;
    sse.reconnect_time.count = 37;
    sse.reconnect_time.p99_us = 123_000;
    let name = sse.transport.clone();
    let html = std::fs::read_to_string(write_report(&run, out.path()).unwrap().html).unwrap();
    let section = &html[html
        .find("Through dropped connections")
        .expect("the section")..];
    let section = &section[..section.find("</table>").unwrap()];
    assert!(section.contains(&name) && section.contains(">37<") && section.contains(">123<"));
    assert_eq!(section.matches("<tr><td").count(), 1, "{section}");
}

#[test]
fn a_run_with_a_restart_gets_its_section_and_the_faults_chart() {
    use pushbench_report::charts::FAULTS_CHART;
    use pushbench_results::model::{Restart, TimelinePoint};
    let mut run = folder::load(&fixture("quick-a")).unwrap();
    let out = TempDir::new("restart");
    let written = write_report(&run, out.path()).unwrap();
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert!(!html.contains("Through a server restart"));
    assert!(!html.contains(FAULTS_CHART.title));
    assert_eq!(written.charts.len(), CHARTS.len());
    let t = &mut run.summary.transports[0];
    t.restart = Some(Restart {
        at_s: 2.0,
        how: "kill".into(),
        down_ms: 31.0,
        clients: t.clients as u64,
        back: t.clients as u64,
        back_99_ms: Some(412.0),
        back_all_ms: Some(655.0),
        forgotten: 17,
        ..Default::default()
    });
    // Everyone subscribed, then none at the restart, then all back; deliveries stop and resume.
    let clients = t.clients as u64;
    t.timeline = (0..40)
        .map(|i| TimelinePoint {
            t_s: i as f64 * 0.1,
            subscribed: if (20..25).contains(&i) { 0 } else { clients },
            delivered: i * 10,
        })
        .collect();
    let name = t.transport.clone();
    let written = write_report(&run, out.path()).unwrap();
    let html = std::fs::read_to_string(&written.html).unwrap();
    let section = &html[html.find("Through a server restart").expect("the section")..];
    let section = &section[..section.find("</table>").unwrap()];
    assert!(
        section.contains(&name) && section.contains(">412<") && section.contains(">655<"),
        "{section}"
    );
    assert!(section.contains(">17<"), "{section}");
    assert_eq!(written.charts.len(), CHARTS.len() + 1);
    assert!(html.contains(FAULTS_CHART.title));
    let chart = written.charts.last().unwrap();
    assert!(chart.ends_with(FAULTS_CHART.file));
    let (w, h, pixels, bpp) = decode_png(chart);
    assert_eq!((w, h), (WIDTH, HEIGHT));
    // The transport's line is drawn in its colour.
    let c = pushbench_report::style::colour(&name);
    let coloured = pixels
        .chunks(bpp)
        .filter(|p| (p[0], p[1], p[2]) == (c.0, c.1, c.2))
        .count();
    assert!(coloured > 200, "{coloured} pixels of the line");
}

#[test]
fn a_run_over_several_links_gets_one_panel_per_link() {
    use pushbench_report::charts::NETWORKS_CHART;
    use pushbench_results::model::LinkResult;
    let mut run = folder::load(&fixture("quick-a")).unwrap();
    let out = TempDir::new("networks");
    let written = write_report(&run, out.path()).unwrap();
    assert!(!written
        .charts
        .iter()
        .any(|c| c.ends_with(NETWORKS_CHART.file)));
    // The same results as if run over two links, the second ten times slower.
    let mut over = Vec::new();
    for (net, rtt_ms, factor) in [("lan", 1.0, 1), ("3g", 300.0, 10)] {
        for t in &run.summary.transports {
            let mut t = t.clone();
            t.transport = format!("{}~{net}", t.transport);
            t.latency.p50_us *= factor;
            t.latency.p99_us *= factor;
            t.link = Some(LinkResult {
                network: net.into(),
                rtt_ms,
                down_bps: Some(1_600_000),
                up_bps: None,
                ..Default::default()
            });
            over.push(t);
        }
    }
    let first = over[0].transport.clone();
    run.summary.transports = over;
    let written = write_report(&run, out.path()).unwrap();
    let chart = written
        .charts
        .iter()
        .find(|c| c.ends_with(NETWORKS_CHART.file))
        .expect("the chart of several links");
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert!(html.contains(NETWORKS_CHART.title));
    assert!(html.contains(&first), "each result is named for its link");
    // A verdict per link: which transport is best on each, never the LAN against 3G.
    assert!(
        html.contains("At a glance: over lan") && html.contains("At a glance: over 3g"),
        "a verdict per link"
    );
    assert!(!html.contains("<h2>At a glance</h2>"));
    // The summary table marks the best among each link's rows: the slower link has its own.
    let summary = &html[html.find("<h2>Summary</h2>").unwrap()..];
    let summary = &summary[..summary.find("</table>").unwrap()];
    let best_on = |net: &str| {
        summary
            .split("<tr>")
            .filter(|row| row.contains(&format!("~{net}")))
            .filter(|row| row.contains("num best"))
            .count()
    };
    assert!(best_on("lan") > 0 && best_on("3g") > 0);
    let (w, h, pixels, bpp) = decode_png(chart);
    assert_eq!((w, h), (WIDTH, HEIGHT));
    // The first transport's bars, one per panel, in its colour: in both halves of the chart.
    let c = pushbench_report::style::colour(&first);
    let in_half = |right: bool| {
        pixels
            .chunks(bpp)
            .enumerate()
            .filter(|(i, p)| {
                ((i % w as usize) >= w as usize / 2) == right
                    && (p[0], p[1], p[2]) == (c.0, c.1, c.2)
            })
            .count()
    };
    assert!(in_half(false) > 100 && in_half(true) > 100);
}
