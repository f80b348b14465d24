//! Text on the charts, set with the embedded DejaVu Sans through `ab_glyph`.
//!
//! plotters 0.3.7's own `ab_glyph` text drops each glyph's left side bearing (so `128` reads
//! `1 28`) and ignores bold, so the charts draw every piece of text here instead: glyphs
//! placed at their pen position plus bearing, kerned, and blended into the bitmap by coverage.
//! The font is compiled in from `assets/` (licence: `assets/DejaVu-LICENSE.txt`), so PNG text
//! renders the same on a machine with no font packages at all.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::coord::Shift;
use plotters::prelude::*;

static REGULAR: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| Fonts {
        regular: FontRef::try_from_slice(REGULAR).expect("the embedded DejaVu Sans parses"),
        bold: FontRef::try_from_slice(BOLD).expect("the embedded DejaVu Sans Bold parses"),
    })
}

/// Size, weight and colour of a piece of text.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Em size in pixels.
    pub size: f32,
    /// Bold face.
    pub bold: bool,
    /// Colour.
    pub colour: RGBColor,
}

impl Style {
    /// Regular black text of `size` pixels.
    pub const fn new(size: f32) -> Style {
        Style {
            size,
            bold: false,
            colour: RGBColor(0, 0, 0),
        }
    }

    /// The same, bold.
    pub const fn bold(self) -> Style {
        Style { bold: true, ..self }
    }

    /// The same, in `colour`.
    pub const fn colour(self, colour: RGBColor) -> Style {
        Style { colour, ..self }
    }
}

/// Where the anchor point sits along the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H {
    /// Text starts at the anchor.
    Left,
    /// Text is centred on it.
    Center,
    /// Text ends at it.
    Right,
}

/// Where the anchor point sits across the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V {
    /// Top of the tallest glyphs.
    Top,
    /// Middle of the line.
    Middle,
    /// Bottom of the descenders.
    Bottom,
}

fn face(style: Style) -> &'static FontRef<'static> {
    if style.bold {
        &fonts().bold
    } else {
        &fonts().regular
    }
}

fn scale(style: Style) -> PxScale {
    // PxScale is the height from descender to ascender; DejaVu's is 1.164 em.
    PxScale::from(style.size * 1.164)
}

/// The advance width of `s` in pixels.
pub fn width(s: &str, style: Style) -> f32 {
    let font = face(style).as_scaled(scale(style));
    let mut w = 0.0;
    let mut prev = None;
    for c in s.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            w += font.kern(p, id);
        }
        w += font.h_advance(id);
        prev = Some(id);
    }
    w
}

/// Draws `s` with its anchor at `at` (pixels in `area`), horizontally.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    at: (i32, i32),
    style: Style,
    h: H,
    v: V,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    draw_rotated(area, s, at, style, h, v, false)
}

/// Draws `s` turned a quarter anticlockwise (reading upwards), for vertical axis titles. `h`
/// places the anchor along the text, `v` across it.
pub fn draw_vertical<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    at: (i32, i32),
    style: Style,
    h: H,
    v: V,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    draw_rotated(area, s, at, style, h, v, true)
}

fn draw_rotated<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    at: (i32, i32),
    style: Style,
    h: H,
    v: V,
    vertical: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let font = face(style);
    let px = scale(style);
    let scaled = font.as_scaled(px);
    let w = width(s, style);
    let (ascent, descent) = (scaled.ascent(), scaled.descent());
    let dx = match h {
        H::Left => 0.0,
        H::Center => -w / 2.0,
        H::Right => -w,
    };
    let line = ascent - descent;
    let top = match v {
        V::Top => 0.0,
        V::Middle => -line / 2.0,
        V::Bottom => -line,
    };
    let baseline = top + ascent;
    let mut pixels: Vec<(i32, i32, f32)> = Vec::new();
    let mut pen = dx;
    let mut prev = None;
    for c in s.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(px, point(pen, baseline));
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                if cov > 0.02 {
                    pixels.push((b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32, cov));
                }
            });
        }
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    for (x, y, cov) in pixels {
        let (x, y) = if vertical { (y, -x) } else { (x, y) };
        area.draw_pixel(
            (at.0 + x, at.1 + y),
            &style.colour.mix(f64::from(cov.min(1.0))),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_include_every_glyph_and_bold_is_wider() {
        let s = Style::new(20.0);
        assert!(width("128", s) > width("12", s));
        assert!(width("128", s.bold()) > width("128", s));
        // Digits share one advance in DejaVu Sans, so "1" takes as much room as "8".
        assert!((width("1", s) - width("8", s)).abs() < 0.01);
    }
}
