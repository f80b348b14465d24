//! Two runs side by side: per transport and per figure, the ratio B/A, for the terminal and as
//! `compare.html`.
//!
//! A ratio of 1 means no change. Both values zero (no losses either time) counts as 1; a figure
//! that was zero in A and is not in B is `∞`; a figure one run lacks (RSS per connection for
//! polling, a transport only one run has) is `–`. Whether a ratio is good depends on the figure:
//! each says which way is better, and the HTML colours cells by it (more than 5% either way).
//! The figures are [`crate::figures::FIGURES`], the same list as the report's summary table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::figures::{saturation, Better, Figure, FIGURES};
use crate::html::{all_warnings, escape, figure_headings, CSS};
use crate::style::{self, colour, css};
use pushbench_results::model::Spread;
use pushbench_results::{folder, Run, TransportResult};

/// One figure of one transport in both runs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cell {
    /// Run A's value.
    pub a: Option<f64>,
    /// Run B's value.
    pub b: Option<f64>,
    /// Run A's interval over its repeats, when it has them.
    pub a_spread: Option<Spread>,
    /// Run B's, likewise.
    pub b_spread: Option<Spread>,
}

impl Cell {
    /// B/A: 1 when both are zero, infinite when only A is zero, `None` when either is missing.
    pub fn ratio(&self) -> Option<f64> {
        match (self.a, self.b) {
            (Some(a), Some(b)) if a == 0.0 && b == 0.0 => Some(1.0),
            (Some(0.0), Some(_)) => Some(f64::INFINITY),
            (Some(a), Some(b)) => Some(b / a),
            _ => None,
        }
    }

    /// Whether the difference is beyond the noise: with intervals from repeats in both runs,
    /// when they do not overlap; without, when the ratio is more than 5% from 1.
    pub fn significant(&self) -> bool {
        match (self.a_spread, self.b_spread, self.ratio()) {
            (Some(a), Some(b), _) => !a.overlaps(&b),
            (_, _, Some(r)) => !r.is_finite() || (r - 1.0).abs() > 0.05,
            _ => false,
        }
    }
}

/// One transport's row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Transport name.
    pub transport: String,
    /// Whether each run has the transport.
    pub in_a: bool,
    /// See `in_a`.
    pub in_b: bool,
    /// One cell per [`FIGURES`] entry.
    pub cells: Vec<Cell>,
    /// The saturation words either run flagged the transport with: its ratios may measure
    /// load-gen, or a server out of CPU.
    pub saturation: Vec<&'static str>,
}

/// A comparison of run B against run A.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Run A's folder(s).
    pub a: String,
    /// Run B's folder(s).
    pub b: String,
    /// One row per transport either run has, in report order.
    pub rows: Vec<Row>,
}

fn label(run: &Run) -> String {
    run.sources
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Compares run `b` against run `a`.
pub fn compare(a: &Run, b: &Run) -> Comparison {
    let mut names: Vec<&str> = Vec::new();
    for t in a.summary.transports.iter().chain(&b.summary.transports) {
        if !names.contains(&t.transport.as_str()) {
            names.push(&t.transport);
        }
    }
    names.sort_by_key(|n| style::order(n));
    let find = |r: &'_ Run, n: &str| -> Option<TransportResult> {
        r.summary
            .transports
            .iter()
            .find(|t| t.transport == n)
            .cloned()
    };
    let rows = names
        .into_iter()
        .map(|n| {
            let (ta, tb) = (find(a, n), find(b, n));
            Row {
                transport: n.to_string(),
                in_a: ta.is_some(),
                in_b: tb.is_some(),
                saturation: {
                    let mut words: Vec<&'static str> = [&ta, &tb]
                        .into_iter()
                        .flatten()
                        .flat_map(saturation)
                        .collect();
                    words.sort_unstable();
                    words.dedup();
                    words
                },
                cells: FIGURES
                    .iter()
                    .map(|f| Cell {
                        a: ta.as_ref().and_then(|t| f.of(t)),
                        b: tb.as_ref().and_then(|t| f.of(t)),
                        a_spread: ta.as_ref().and_then(|t| f.spread(t)),
                        b_spread: tb.as_ref().and_then(|t| f.spread(t)),
                    })
                    .collect(),
            }
        })
        .collect();
    Comparison {
        a: label(a),
        b: label(b),
        rows,
    }
}

fn ratio_text(r: Option<f64>) -> String {
    match r {
        None => "–".into(),
        Some(r) if r.is_infinite() => "∞".into(),
        Some(r) if r >= 100.0 => format!("{r:.0}"),
        Some(r) if r >= 10.0 => format!("{r:.1}"),
        Some(r) => format!("{r:.2}"),
    }
}

/// The comparison as a terminal table of ratios.
pub fn terminal(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A: {}\nB: {}\n", c.a, c.b);
    let _ = write!(out, "{:<11}", "B/A");
    for f in &FIGURES {
        let _ = write!(out, " {:>8}", f.short);
    }
    out.push('\n');
    for r in &c.rows {
        let _ = write!(out, "{:<11}", r.transport);
        if !(r.in_a && r.in_b) {
            let only = if r.in_a { "only in A" } else { "only in B" };
            let _ = writeln!(out, " {only}");
            continue;
        }
        for cell in &r.cells {
            let mark = if cell.a_spread.is_some() && cell.b_spread.is_some() && cell.significant() {
                "*"
            } else {
                ""
            };
            let _ = write!(out, " {:>8}", format!("{}{mark}", ratio_text(cell.ratio())));
        }
        for word in &r.saturation {
            out.push_str("  ");
            out.push_str(word);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n1.00 = unchanged; below 1, B's figure is smaller (better for all but msg/s). \
         cpu/1k = server CPU ms per 1,000 messages, fan99 = fan-out p99, overhd = overhead over \
         the payload, KiB/conn = server RSS per connection."
    );
    if c.rows
        .iter()
        .flat_map(|r| &r.cells)
        .any(|c| c.a_spread.is_some() && c.b_spread.is_some())
    {
        let _ = writeln!(
            out,
            "* = both runs have repeats and their intervals do not overlap: a difference beyond \
             the noise. Ratios without * on those figures are within it."
        );
    }
    out
}

/// Whether B is better, worse or the same on a figure: the same unless the difference is
/// [`Cell::significant`].
fn verdict(f: &Figure, cell: &Cell) -> &'static str {
    if !cell.significant() {
        return "";
    }
    match cell.ratio() {
        Some(r) => {
            let lower = r < 1.0;
            if lower == (f.better == Better::Lower) {
                "better"
            } else {
                "worse"
            }
        }
        None => "",
    }
}

/// `compare.html`: the ratios with both values, coloured by whether B is better.
pub fn page(c: &Comparison, a: &Run, b: &Run) -> String {
    let mut h = String::new();
    let title = format!("pushbench compare: {}", a.summary.scenario);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    for (tag, run, path) in [("A", a, &c.a), ("B", b, &c.b)] {
        let _ = writeln!(
            h,
            "<p class=\"meta\"><strong>{tag}</strong>: <code>{}</code> · {} · started {} · git {}</p>",
            escape(path),
            escape(&run.summary.description),
            escape(&run.summary.started_utc),
            escape(&run.summary.setup.git_revision)
        );
    }
    if a.summary.scenario != b.summary.scenario {
        let _ = writeln!(
            h,
            "<div class=\"warnings\"><h2>⚠ Different scenarios</h2><p>A ran {}, B ran {}: the \
             ratios compare different workloads.</p></div>",
            escape(&a.summary.scenario),
            escape(&b.summary.scenario)
        );
    }
    let warnings: Vec<String> = all_warnings(a)
        .into_iter()
        .map(|w| format!("A: {w}"))
        .chain(all_warnings(b).into_iter().map(|w| format!("B: {w}")))
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(
            h,
            "<div class=\"warnings\"><h2>⚠ {} warning{} in the runs compared</h2><ul>",
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        );
        for w in &warnings {
            let _ = writeln!(h, "<li>{}</li>", escape(w));
        }
        let _ = writeln!(h, "</ul></div>");
    }
    let _ = writeln!(
        h,
        "<h2>B / A</h2><p class=\"small\">Each cell: the ratio B/A (1.00 = unchanged), and the \
         values A → B beneath it. <span style=\"background:#dff3df\">Green</span>: B better, \
         <span style=\"background:#fbe3e3\">red</span>: B worse, beyond the noise: when both \
         runs have repeats, their intervals do not overlap; otherwise, by more than 5%.</p>"
    );
    figure_headings(&mut h, "");
    for r in &c.rows {
        let _ = write!(
            h,
            "<tr><td class=\"name\"><span class=\"sw\" style=\"background:{}\"></span>{}{}</td>",
            css(colour(&r.transport)),
            escape(&r.transport),
            r.saturation
                .iter()
                .map(|w| format!("<br><span class=\"badge\">{w}</span>"))
                .collect::<String>()
        );
        if !(r.in_a && r.in_b) {
            let only = if r.in_a { "only in A" } else { "only in B" };
            let _ = writeln!(h, "<td colspan=\"{}\">{only}</td></tr>", FIGURES.len());
            continue;
        }
        for (f, cell) in FIGURES.iter().zip(&r.cells) {
            let v = |x: Option<f64>| x.map_or_else(|| "–".to_string(), f.fmt);
            let _ = write!(
                h,
                "<td class=\"num {}\"><strong>{}</strong><br><span class=\"small\">{} → {}</span></td>",
                verdict(f, cell),
                ratio_text(cell.ratio()),
                v(cell.a),
                v(cell.b)
            );
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</tbody></table>");
    let _ = writeln!(
        h,
        "<p class=\"small\">Made by pushbench-report; <code>load-gen compare {} {}</code> makes \
         it again. Each run's own report.html has the charts.</p>\n</body>\n</html>",
        escape(&c.a),
        escape(&c.b)
    );
    h
}

/// Compares the results folder `b` against `a`, writes `compare.html` (into `out`, by default
/// into `b`) and returns the comparison and the page's path.
pub fn compare_folders(
    a: &Path,
    b: &Path,
    out: Option<&Path>,
) -> Result<(Comparison, PathBuf), Error> {
    let ra = folder::load(a)?;
    let rb = folder::load(b)?;
    let c = compare(&ra, &rb);
    let path = out.map_or_else(|| b.join("compare.html"), Path::to_path_buf);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    std::fs::write(&path, page(&c, &ra, &rb)).map_err(Error::io(&path))?;
    Ok((c, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_handle_zero_and_missing() {
        let cell = |a, b| Cell {
            a,
            b,
            ..Default::default()
        };
        assert_eq!(cell(Some(2.0), Some(3.0)).ratio(), Some(1.5));
        assert_eq!(cell(Some(0.0), Some(0.0)).ratio(), Some(1.0));
        assert_eq!(cell(Some(0.0), Some(1.0)).ratio(), Some(f64::INFINITY));
        assert_eq!(cell(None, Some(1.0)).ratio(), None);
        assert_eq!(ratio_text(Some(1.0)), "1.00");
        assert_eq!(ratio_text(Some(f64::INFINITY)), "∞");
    }

    #[test]
    fn better_depends_on_the_figure() {
        let lat = &FIGURES[2];
        let thr = &FIGURES[6];
        let c = Cell {
            a: Some(10.0),
            b: Some(5.0),
            ..Default::default()
        };
        assert_eq!(verdict(lat, &c), "better");
        assert_eq!(verdict(thr, &c), "worse");
        let same = Cell {
            a: Some(10.0),
            b: Some(10.4),
            ..Default::default()
        };
        assert_eq!(verdict(lat, &same), "");
    }

    #[test]
    fn with_repeats_only_disjoint_intervals_are_significant() {
        let lat = &FIGURES[2];
        let spread = |low, high| {
            Some(Spread {
                median: (low + high) / 2.0,
                low,
                high,
            })
        };
        // Half the latency, but the intervals overlap: noise.
        let c = Cell {
            a: Some(10.0),
            b: Some(5.0),
            a_spread: spread(4.0, 12.0),
            b_spread: spread(3.0, 6.0),
        };
        assert!(!c.significant());
        assert_eq!(verdict(lat, &c), "");
        // 4% apart, but the intervals are tight and disjoint: real.
        let c = Cell {
            a: Some(10.0),
            b: Some(9.6),
            a_spread: spread(9.9, 10.1),
            b_spread: spread(9.5, 9.7),
        };
        assert!(c.significant());
        assert_eq!(verdict(lat, &c), "better");
    }
}
