//! What every chart and the HTML page share: one colour per transport, report order, and
//! number formatting.

use plotters::style::RGBColor;
use pushbench_wire::Transport;

/// Okabe & Ito's colour-blind-safe palette, with black in place of its yellow (too pale for a
/// line on white), and Paul Tol's olive for the eighth. Indexed like [`Transport::KNOWN`]:
/// polling in warm colours, streams in greens and blues, raw TCP (the floor) in black.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0xE6, 0x9F, 0x00), // short-poll: orange
    RGBColor(0xD5, 0x5E, 0x00), // long-poll: vermillion
    RGBColor(0x00, 0x9E, 0x73), // xhr-stream: bluish green
    RGBColor(0x99, 0x99, 0x33), // multipart-mixed: olive
    RGBColor(0xCC, 0x79, 0xA7), // iframe: reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sse: sky blue
    RGBColor(0x00, 0x72, 0xB2), // websocket: blue
    RGBColor(0x00, 0x00, 0x00), // raw-tcp: black
];

/// Grey for a transport name pushbench does not know (a newer results folder).
const UNKNOWN: RGBColor = RGBColor(0x88, 0x88, 0x88);

/// The colour of a transport, the same in every chart and in the HTML. In a run against
/// several servers (`sse@nchan`), push-server's rows keep the transport's colour and another
/// server's get the same hue, darkened, so a chart pairs them by hue and tells them apart.
/// Through a proxy (`sse@pushbench+nginx`) the server's colour is lightened: a little for
/// `nginx-tuned`, more for `nginx`. Over TLS (`sse:tls`) the colour is lightened a little
/// more, so a plain run and its TLS twin are one hue, the TLS one paler.
pub fn colour(transport: &str) -> RGBColor {
    let base = Transport::KNOWN
        .iter()
        .position(|t| t.name() == pushbench_results::transport_of(transport))
        .map_or(UNKNOWN, |i| PALETTE[i]);
    let setup = pushbench_results::server_of(transport).unwrap_or("pushbench");
    let (server, via) = setup
        .split_once('+')
        .map_or((setup, None), |(s, v)| (s, Some(v)));
    let c = match server {
        "pushbench" => base,
        // Black cannot darken: raw TCP on another server is grey.
        _ if base == RGBColor(0, 0, 0) => RGBColor(0x66, 0x66, 0x66),
        _ => RGBColor(base.0 / 2, base.1 / 2, base.2 / 2),
    };
    let lighten = |f: f64| {
        let l = |v: u8| v + ((255 - v) as f64 * f) as u8;
        RGBColor(l(c.0), l(c.1), l(c.2))
    };
    match (via, pushbench_results::is_tls(transport)) {
        (None, false) => c,
        (None, true) => lighten(0.4),
        (Some("nginx-tuned"), _) => lighten(0.3),
        (Some(_), _) => lighten(0.55),
    }
}

/// The colour as CSS `#rrggbb`.
pub fn css(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Sort key putting known transports in report order, unknown ones after.
pub use pushbench_results::transport_order as order;

/// Milliseconds from microseconds, with precision that suits the size: `0.412`, `4.12`, `41.2`,
/// `412`, `4,120`.
pub fn ms(us: f64) -> String {
    let v = us / 1000.0;
    if v == 0.0 {
        "0".into()
    } else if v < 1.0 {
        format!("{v:.3}")
    } else if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        thousands(v)
    }
}

/// A number with three significant figures at most below 1,000 and thousands separators above:
/// `0.000292`, `0.0292`, `2.92`, `29.2`, `292`, `2,920`.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 999.5 {
        thousands(v)
    } else {
        // Three significant figures.
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// A rounded integer with `,` between thousands.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Bytes as `B`, `KiB` or `MiB`, three significant figures.
pub fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{} MiB", num(b / (1024.0 * 1024.0)))
    } else if b >= 10_240.0 {
        format!("{} KiB", num(b / 1024.0))
    } else {
        format!("{} B", num(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_has_its_own_colour() {
        let mut seen: Vec<RGBColor> = Transport::KNOWN.iter().map(|t| colour(t.name())).collect();
        seen.sort_by_key(|c| (c.0, c.1, c.2));
        seen.dedup();
        assert_eq!(seen.len(), Transport::KNOWN.len());
        assert_eq!(colour("carrier-pigeon"), UNKNOWN);
        // Side by side: the same hue per transport, another server's darker.
        assert_eq!(colour("sse@pushbench"), colour("sse"));
        let (pb, nc) = (colour("sse@pushbench"), colour("sse@nchan"));
        assert_ne!(pb, nc);
        assert_eq!((nc.0, nc.1, nc.2), (pb.0 / 2, pb.1 / 2, pb.2 / 2));
        assert_eq!(css(colour("raw-tcp")), "#000000");
        // Through a proxy: the server's colour, lightened, more for the untuned proxy.
        let (tuned, untuned) = (
            colour("sse@pushbench+nginx-tuned"),
            colour("sse@pushbench+nginx"),
        );
        let lightness = |c: RGBColor| c.0 as u32 + c.1 as u32 + c.2 as u32;
        assert!(lightness(pb) < lightness(tuned) && lightness(tuned) < lightness(untuned));
        assert!(lightness(colour("sse@nchan+nginx")) < lightness(untuned));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(0.000_291_8), "0.000292");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(29.26), "29.3");
        assert_eq!(num(999.0), "999");
        assert_eq!(num(19_646.67), "19,647");
        assert_eq!(ms(412.0), "0.412");
        assert_eq!(ms(102_463.0), "102");
        assert_eq!(ms(1_234_567.0), "1,235");
        assert_eq!(bytes(209.3), "209 B");
        assert_eq!(bytes(65_600.0), "64.1 KiB");
        assert_eq!(thousands(-1234.0), "-1,234");
    }
}
