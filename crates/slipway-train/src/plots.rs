//! Evaluation and data plots as self-contained SVG documents.
//!
//! Hand-written SVG 1.1 with no dependency, no script and no external
//! reference (fonts are the viewer's `sans-serif`), so a file renders the same
//! in a browser and in MLflow's artifact viewer. Every plot is 480 x 400 px
//! (the feature importance plot grows taller past 16 bars).
//!
//! Robustness: text is XML-escaped, and no NaN or infinity is ever written.
//! Degenerate inputs (an empty curve, non-finite points, all-zero counts,
//! mismatched lengths) give a plot with a "no data" note or with the unusable
//! points left out, never a panic.

use crate::metrics::{ConfusionMatrix, PrCurve, RocCurve};
use std::fmt::Write;

/// Width of every plot, px.
pub const WIDTH: f64 = 480.0;
/// Height of every plot (the feature importance plot may be taller), px.
pub const HEIGHT: f64 = 400.0;

const AXIS_COLOR: &str = "#333333";
const GRID_COLOR: &str = "#e5e5e5";
const LINE_COLOR: &str = "#1f77b4";
const BAR_COLOR: &str = "#4c78a8";
const MUTED: &str = "#888888";

/// ROC curve with the chance diagonal; the AUC is in the title (`n/a` if not
/// finite). Points with a non-finite coordinate (e.g. the NaN `fpr` of a
/// single-class curve) are left out.
pub fn roc_svg(curve: &RocCurve, auc: f64) -> String {
    let title = format!("ROC curve (AUC = {})", fmt_metric(auc));
    let mut svg = Svg::new(WIDTH, HEIGHT, &title);
    let area = Area::new(WIDTH, HEIGHT, 64.0, 24.0, 44.0, 52.0);
    let unit = Scale::new(0.0, 1.0);
    svg.axes(
        &area,
        &unit,
        &unit,
        "False positive rate",
        "True positive rate",
    );
    svg.line(
        area.x(&unit, 0.0),
        area.y(&unit, 0.0),
        area.x(&unit, 1.0),
        area.y(&unit, 1.0),
        MUTED,
        " stroke-dasharray=\"5 4\"",
    );
    let points: Vec<(f64, f64)> = curve
        .fpr
        .iter()
        .zip(&curve.tpr)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(&x, &y)| (area.x(&unit, x), area.y(&unit, y)))
        .collect();
    if points.is_empty() {
        svg.no_data(&area);
    } else {
        svg.polyline(&points, LINE_COLOR);
    }
    svg.finish()
}

/// Precision-recall curve as a step plot (scikit-learn's display:
/// `drawstyle="steps-post"` over recall and precision in the curve's order);
/// the average precision is in the title when given.
pub fn precision_recall_svg(curve: &PrCurve, average_precision: Option<f64>) -> String {
    let title = match average_precision {
        Some(ap) => format!("Precision-recall curve (AP = {})", fmt_metric(ap)),
        None => "Precision-recall curve".to_string(),
    };
    let mut svg = Svg::new(WIDTH, HEIGHT, &title);
    let area = Area::new(WIDTH, HEIGHT, 64.0, 24.0, 44.0, 52.0);
    let unit = Scale::new(0.0, 1.0);
    svg.axes(&area, &unit, &unit, "Recall", "Precision");
    let finite: Vec<(f64, f64)> = curve
        .recall
        .iter()
        .zip(&curve.precision)
        .filter(|(r, p)| r.is_finite() && p.is_finite())
        .map(|(&r, &p)| (r, p))
        .collect();
    let mut points = Vec::with_capacity(finite.len() * 2);
    for (i, &(r, p)) in finite.iter().enumerate() {
        if i > 0 {
            // steps-post: hold the previous precision until this recall.
            points.push((area.x(&unit, r), area.y(&unit, finite[i - 1].1)));
        }
        points.push((area.x(&unit, r), area.y(&unit, p)));
    }
    if points.is_empty() {
        svg.no_data(&area);
    } else {
        svg.polyline(&points, LINE_COLOR);
    }
    svg.finish()
}

/// 2 x 2 confusion matrix heat map: rows are the true label, columns the
/// predicted label (scikit-learn's layout); each cell shows its count and its
/// share of the row, and is shaded by that share.
pub fn confusion_matrix_svg(cm: &ConfusionMatrix) -> String {
    let mut svg = Svg::new(WIDTH, HEIGHT, "Confusion matrix");
    let cells = cm.to_array();
    let (left, top, size) = (120.0, 60.0, 140.0);
    for (row, counts) in cells.iter().enumerate() {
        let total: u128 = counts.iter().map(|&c| u128::from(c)).sum();
        for (col, &count) in counts.iter().enumerate() {
            let share = if total == 0 {
                None
            } else {
                Some(count as f64 / total as f64)
            };
            let x = left + col as f64 * size;
            let y = top + row as f64 * size;
            let s = share.unwrap_or(0.0);
            let _ = write!(
                svg.body,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"{}\"/>",
                px(x),
                px(y),
                px(size),
                px(size),
                blue_shade(s),
                AXIS_COLOR
            );
            let ink = if s > 0.55 { "#ffffff" } else { "#111111" };
            let percent = match share {
                Some(s) => format!("{:.1}% of row", s * 100.0),
                None => "empty row".to_string(),
            };
            svg.text(
                x + size / 2.0,
                y + size / 2.0 - 4.0,
                &count.to_string(),
                &format!("text-anchor=\"middle\" font-size=\"22\" fill=\"{ink}\""),
            );
            svg.text(
                x + size / 2.0,
                y + size / 2.0 + 18.0,
                &percent,
                &format!("text-anchor=\"middle\" font-size=\"12\" fill=\"{ink}\""),
            );
        }
    }
    for k in 0..2 {
        let centre = k as f64 * size + size / 2.0;
        svg.text(
            left + centre,
            top + 2.0 * size + 18.0,
            &k.to_string(),
            "text-anchor=\"middle\"",
        );
        svg.text(
            left - 10.0,
            top + centre + 4.0,
            &k.to_string(),
            "text-anchor=\"end\"",
        );
    }
    svg.text(
        left + size,
        top + 2.0 * size + 40.0,
        "predicted",
        "text-anchor=\"middle\" font-size=\"13\"",
    );
    let (tx, ty) = (left - 40.0, top + size);
    svg.text(
        tx,
        ty,
        "true",
        &format!(
            "text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 {} {})\"",
            px(tx),
            px(ty)
        ),
    );
    svg.finish()
}

/// Horizontal bars of the `top` largest importances, largest first (ties in
/// input order). Non-finite importances are left out; with mismatched
/// lengths only the pairs present in both are used. Long names are shortened
/// on the axis (the full name is the bar's tooltip). The plot is 480 x 400
/// for up to 16 bars and grows 20 px per bar beyond.
pub fn feature_importance_svg(names: &[String], importance: &[f64], top: usize) -> String {
    let mut items: Vec<(&str, f64)> = names
        .iter()
        .zip(importance)
        .filter(|(_, v)| v.is_finite())
        .map(|(n, &v)| (n.as_str(), v))
        .collect();
    items.sort_by(|a, b| b.1.total_cmp(&a.1));
    items.truncate(top);
    let height = HEIGHT.max(80.0 + 20.0 * items.len() as f64);
    let title = if items.is_empty() {
        "Feature importance".to_string()
    } else {
        format!("Feature importance (top {})", items.len())
    };
    let mut svg = Svg::new(WIDTH, height, &title);
    let area = Area::new(WIDTH, height, 164.0, 56.0, 44.0, 40.0);
    let lo = items.iter().map(|i| i.1).fold(0.0, f64::min);
    let hi = items.iter().map(|i| i.1).fold(0.0, f64::max);
    let scale = Scale::nice(lo, hi);
    // x axis only: the y axis holds names, not numbers.
    svg.x_axis(&area, &scale, "importance");
    if items.is_empty() {
        svg.no_data(&area);
        return svg.finish();
    }
    let band = area.height() / items.len() as f64;
    let bar = (band * 0.7).min(28.0);
    let zero = area.x(&scale, 0.0);
    for (i, &(name, value)) in items.iter().enumerate() {
        let centre = area.top + band * (i as f64 + 0.5);
        let end = area.x(&scale, value);
        let (x0, x1) = if end >= zero {
            (zero, end)
        } else {
            (end, zero)
        };
        let _ = write!(
            svg.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect>",
            px(x0),
            px(centre - bar / 2.0),
            px((x1 - x0).max(0.5)),
            px(bar),
            BAR_COLOR,
            escape(name),
            fmt_value(value)
        );
        svg.text(
            area.left - 6.0,
            centre + 4.0,
            &shorten(name, 24),
            "text-anchor=\"end\" font-size=\"11\"",
        );
        let (label_x, anchor) = if end >= zero {
            (x1 + 4.0, "start")
        } else {
            (x0 - 4.0, "end")
        };
        svg.text(
            label_x,
            centre + 4.0,
            &fmt_value(value),
            &format!("text-anchor=\"{anchor}\" font-size=\"10\" fill=\"{AXIS_COLOR}\""),
        );
    }
    svg.line(
        zero,
        area.top,
        zero,
        area.bottom(),
        AXIS_COLOR,
        " stroke-width=\"1\"",
    );
    svg.finish()
}

/// Histogram bars: `counts[i]` over `[edges[i], edges[i + 1])` (e.g. a
/// profile's `Histogram`). Edges must be finite and increasing with
/// `edges.len() == counts.len() + 1`; otherwise the plot says "no data".
pub fn histogram_svg(title: &str, edges: &[f64], counts: &[u64]) -> String {
    let mut svg = Svg::new(WIDTH, HEIGHT, title);
    let area = Area::new(WIDTH, HEIGHT, 64.0, 24.0, 44.0, 52.0);
    let valid = !counts.is_empty()
        && edges.len() == counts.len() + 1
        && edges.iter().all(|e| e.is_finite())
        && edges.windows(2).all(|w| w[0] < w[1]);
    if !valid {
        let unit = Scale::new(0.0, 1.0);
        svg.axes(&area, &unit, &unit, "value", "count");
        svg.no_data(&area);
        return svg.finish();
    }
    let xs = Scale::nice_within(edges[0], edges[edges.len() - 1]);
    let max = counts.iter().copied().max().unwrap_or(0);
    let ys = Scale::nice(0.0, (max as f64).max(1.0));
    svg.axes(&area, &xs, &ys, "value", "count");
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let x0 = area.x(&xs, edges[i]);
        let x1 = area.x(&xs, edges[i + 1]);
        let y = area.y(&ys, count as f64);
        let _ = write!(
            svg.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"0.5\"><title>[{}, {}): {}</title></rect>",
            px(x0),
            px(y),
            px((x1 - x0).max(0.5)),
            px(area.bottom() - y),
            BAR_COLOR,
            fmt_value(edges[i]),
            fmt_value(edges[i + 1]),
            count
        );
    }
    svg.finish()
}

/// XML-escapes text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab/newline are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// A coordinate: two decimals, and 0 for anything non-finite (never reached
/// by the plots above, which filter their inputs; a last line of defence).
fn px(v: f64) -> String {
    if v.is_finite() {
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    } else {
        "0".to_string()
    }
}

/// A metric in a title: four decimals, or `n/a`.
fn fmt_metric(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "n/a".to_string()
    }
}

/// A value label: up to 4 significant digits, exponent form when large or
/// small.
fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else {
        let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// A tick label for a multiple of `step`.
fn fmt_tick(v: f64, step: f64) -> String {
    let a = v.abs().max(step.abs());
    if !(1e-4..1e6).contains(&a) && v != 0.0 {
        return format!("{v:.2e}");
    }
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.starts_with('-')
        && s.trim_matches(|c| c == '-' || c == '0' || c == '.')
            .is_empty()
    {
        "0".to_string()
    } else {
        s
    }
}

/// White to `LINE_COLOR`-ish blue for a share in [0, 1].
fn blue_shade(share: f64) -> String {
    let s = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mix = |white: f64, full: f64| (white + (full - white) * s).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(247.0, 8.0),
        mix(251.0, 69.0),
        mix(255.0, 148.0)
    )
}

/// A linear axis domain with its ticks.
struct Scale {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    step: f64,
}

impl Scale {
    /// `[lo, hi]` with ticks every 0.2 (used for rates in [0, 1]).
    fn new(lo: f64, hi: f64) -> Scale {
        let step = (hi - lo) / 5.0;
        Scale {
            lo,
            hi,
            ticks: (0..=5).map(|i| lo + step * i as f64).collect(),
            step,
        }
    }

    /// A domain covering `[lo, hi]` widened to "nice" tick multiples
    /// (1, 2 or 5 times a power of ten, about five ticks).
    fn nice(lo: f64, hi: f64) -> Scale {
        let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
            (lo.min(hi), lo.max(hi))
        } else {
            (0.0, 1.0)
        };
        if hi - lo <= 0.0 || !(hi - lo).is_finite() {
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            lo -= pad;
            hi += pad;
        }
        let span = hi - lo;
        if !span.is_finite() || span <= 0.0 {
            return Scale::new(0.0, 1.0);
        }
        let raw = span / 5.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * magnitude);
        let nlo = (lo / step).floor() * step;
        let nhi = (hi / step).ceil() * step;
        if !(nlo.is_finite() && nhi.is_finite() && step > 0.0 && nhi > nlo) {
            return Scale::new(0.0, 1.0);
        }
        let count = ((nhi - nlo) / step).round() as usize;
        if count == 0 || count > 50 {
            return Scale::new(0.0, 1.0);
        }
        Scale {
            lo: nlo,
            hi: nhi,
            ticks: (0..=count).map(|i| nlo + step * i as f64).collect(),
            step,
        }
    }

    /// The domain `[lo, hi]` itself, with the nice ticks that fall inside it
    /// (bars then fill the plot edge to edge).
    fn nice_within(lo: f64, hi: f64) -> Scale {
        let nice = Scale::nice(lo, hi);
        if !(lo.is_finite() && hi.is_finite() && hi > lo && (hi - lo).is_finite()) {
            return nice;
        }
        let slack = nice.step * 1e-9;
        let ticks: Vec<f64> = nice
            .ticks
            .iter()
            .copied()
            .filter(|&t| t >= lo - slack && t <= hi + slack)
            .collect();
        Scale {
            lo,
            hi,
            ticks,
            step: nice.step,
        }
    }

    /// Where `v` falls in the domain, 0 to 1.
    fn unit(&self, v: f64) -> f64 {
        let t = (v - self.lo) / (self.hi - self.lo);
        if t.is_finite() {
            t
        } else {
            0.0
        }
    }
}

/// The plotting area inside the margins.
struct Area {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
}

impl Area {
    fn new(width: f64, height: f64, left: f64, right: f64, top: f64, bottom: f64) -> Area {
        Area {
            left,
            top,
            right: width - right,
            bottom: height - bottom,
        }
    }
    fn width(&self) -> f64 {
        self.right - self.left
    }
    fn height(&self) -> f64 {
        self.bottom - self.top
    }
    fn bottom(&self) -> f64 {
        self.bottom
    }
    fn x(&self, scale: &Scale, v: f64) -> f64 {
        self.left + scale.unit(v) * self.width()
    }
    fn y(&self, scale: &Scale, v: f64) -> f64 {
        self.bottom - scale.unit(v) * self.height()
    }
}

/// An SVG document being written.
struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut svg = Svg {
            width,
            height,
            body: String::with_capacity(4096),
        };
        let _ = write!(
            svg.body,
            "<title>{}</title><rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>",
            escape(title)
        );
        svg.text(
            width / 2.0,
            26.0,
            title,
            "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"",
        );
        svg
    }

    fn finish(self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">{}</svg>\n",
            self.body,
            w = px(self.width),
            h = px(self.height),
        )
    }

    /// Text at (x, y); `attrs` are trusted attribute text written by this module.
    fn text(&mut self, x: f64, y: f64, text: &str, attrs: &str) {
        let _ = write!(
            self.body,
            "<text x=\"{}\" y=\"{}\" {}>{}</text>",
            px(x),
            px(y),
            attrs,
            escape(text)
        );
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, color: &str, extra: &str) {
        let _ = write!(
            self.body,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\"{}/>",
            px(x1),
            px(y1),
            px(x2),
            px(y2),
            color,
            extra
        );
    }

    fn polyline(&mut self, points: &[(f64, f64)], color: &str) {
        let mut coords = String::with_capacity(points.len() * 14);
        for (i, &(x, y)) in points.iter().enumerate() {
            if i > 0 {
                coords.push(' ');
            }
            let _ = write!(coords, "{},{}", px(x), px(y));
        }
        let _ = write!(
            self.body,
            "<polyline points=\"{coords}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-linejoin=\"round\"/>"
        );
    }

    fn no_data(&mut self, area: &Area) {
        self.text(
            area.left + area.width() / 2.0,
            area.top + area.height() / 2.0,
            "no data",
            &format!("text-anchor=\"middle\" font-size=\"14\" fill=\"{MUTED}\""),
        );
    }

    fn x_axis(&mut self, area: &Area, xs: &Scale, label: &str) {
        for &t in &xs.ticks {
            let x = area.x(xs, t);
            self.line(x, area.top, x, area.bottom, GRID_COLOR, "");
            self.line(x, area.bottom, x, area.bottom + 5.0, AXIS_COLOR, "");
            self.text(
                x,
                area.bottom + 18.0,
                &fmt_tick(t, xs.step),
                "text-anchor=\"middle\" font-size=\"11\"",
            );
        }
        self.line(
            area.left,
            area.bottom,
            area.right,
            area.bottom,
            AXIS_COLOR,
            "",
        );
        self.text(
            area.left + area.width() / 2.0,
            area.bottom + 38.0,
            label,
            "text-anchor=\"middle\" font-size=\"13\"",
        );
    }

    fn axes(&mut self, area: &Area, xs: &Scale, ys: &Scale, x_label: &str, y_label: &str) {
        for &t in &ys.ticks {
            let y = area.y(ys, t);
            self.line(area.left, y, area.right, y, GRID_COLOR, "");
            self.line(area.left - 5.0, y, area.left, y, AXIS_COLOR, "");
            self.text(
                area.left - 8.0,
                y + 4.0,
                &fmt_tick(t, ys.step),
                "text-anchor=\"end\" font-size=\"11\"",
            );
        }
        self.line(area.left, area.top, area.left, area.bottom, AXIS_COLOR, "");
        self.x_axis(area, xs, x_label);
        let (tx, ty) = (16.0, area.top + area.height() / 2.0);
        self.text(
            tx,
            ty,
            y_label,
            &format!(
                "text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 {} {})\"",
                px(tx),
                px(ty)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics;

    /// A small XML 1.0 well-formedness check (enough for what this module
    /// writes): one root element, balanced tags, quoted attributes, no raw
    /// `<` or stray `&` in text or attribute values, no NaN/inf anywhere.
    /// Returns the text content, unescaped, for assertions.
    fn check_xml(doc: &str) -> String {
        assert!(!doc.contains("NaN") && !doc.contains("inf"), "{doc}");
        let body = doc
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .expect("XML declaration");
        let mut stack: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut rest = body;
        let mut roots = 0;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<') {
                let end = after.find('>').expect("unterminated tag");
                let tag = &after[..end];
                rest = &after[end + 1..];
                if let Some(name) = tag.strip_prefix('/') {
                    assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
                    continue;
                }
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name_end = tag.find([' ', '\n']).unwrap_or(tag.len());
                let name = &tag[..name_end];
                assert!(
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                    "bad element name {name:?}"
                );
                check_attributes(&tag[name_end..]);
                if stack.is_empty() {
                    roots += 1;
                }
                if !self_closing {
                    stack.push(name.to_string());
                }
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                let chunk = &rest[..end];
                assert!(
                    !stack.is_empty() || chunk.trim().is_empty(),
                    "text outside the root: {chunk:?}"
                );
                text.push_str(&unescape(chunk));
                text.push('\n');
                rest = &rest[end..];
            }
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert_eq!(roots, 1);
        text
    }

    fn check_attributes(mut attrs: &str) {
        loop {
            attrs = attrs.trim_start();
            if attrs.is_empty() {
                return;
            }
            let eq = attrs.find('=').expect("attribute without value");
            let name = &attrs[..eq];
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
                "bad attribute name {name:?}"
            );
            let value = attrs[eq + 1..].strip_prefix('"').expect("unquoted value");
            let close = value.find('"').expect("unterminated value");
            assert!(!value[..close].contains('<'), "raw < in attribute");
            unescape(&value[..close]);
            attrs = &value[close + 1..];
        }
    }

    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            let end = rest[i..].find(';').expect("unterminated entity") + i;
            out.push(match &rest[i + 1..end] {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                other => panic!("unknown entity &{other};"),
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn sample() -> (Vec<f64>, Vec<f64>) {
        let y = vec![0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
        let s = vec![0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.55, 0.6, 0.7, 0.3];
        (y, s)
    }

    #[test]
    fn plots_are_well_formed() {
        let (y, s) = sample();
        let roc = metrics::roc_curve(&y, &s).unwrap();
        let auc = metrics::roc_auc(&y, &s).unwrap();
        let text = check_xml(&roc_svg(&roc, auc));
        assert!(text.contains(&format!("AUC = {auc:.4}")), "{text}");
        assert!(text.contains("False positive rate"));
        let pr = metrics::precision_recall_curve(&y, &s).unwrap();
        let text = check_xml(&precision_recall_svg(&pr, Some(0.8125)));
        assert!(text.contains("AP = 0.8125"));
        check_xml(&precision_recall_svg(&pr, None));
        let pred: Vec<f64> = s
            .iter()
            .map(|&p| if p >= 0.5 { 1.0 } else { 0.0 })
            .collect();
        let cm = metrics::confusion_matrix(&y, &pred).unwrap();
        let text = check_xml(&confusion_matrix_svg(&cm));
        assert!(text.contains("predicted") && text.contains("true"));
        assert!(text.contains("80.0% of row"), "{text}");
        let names: Vec<String> = ["tenure", "charges", "logins"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let svg = feature_importance_svg(&names, &[3.0, 10.0, 0.5], 2);
        let text = check_xml(&svg);
        // Largest first; only the top 2.
        let (c, t) = (text.find("charges").unwrap(), text.find("tenure").unwrap());
        assert!(c < t);
        assert!(!text.contains("logins"));
        check_xml(&histogram_svg(
            "monthly_charges",
            &[0.0, 10.0, 20.0, 30.0],
            &[5, 0, 12],
        ));
        for svg in [roc_svg(&roc, auc), histogram_svg("h", &[0.0, 1.0], &[1])] {
            assert!(svg.contains("width=\"480\" height=\"400\""));
        }
    }

    #[test]
    fn text_is_escaped() {
        let names = vec![
            "a<b & \"c\" 'd'".to_string(),
            "</svg><script>alert(1)</script>".to_string(),
        ];
        let svg = feature_importance_svg(&names, &[1.0, 2.0], 10);
        assert!(!svg.contains("<script>"));
        let text = check_xml(&svg);
        assert!(text.contains("a<b & \"c\" 'd'"), "{text}");
        let svg = histogram_svg("x < y & \"z\"", &[0.0, 1.0], &[3]);
        let text = check_xml(&svg);
        assert!(text.contains("x < y & \"z\""));
        assert!(svg.contains("<title>x &lt; y &amp; &quot;z&quot;</title>"));
        // Control characters are not valid XML 1.0.
        let svg = histogram_svg("bell\u{7}", &[0.0, 1.0], &[3]);
        assert!(!svg.contains('\u{7}'));
    }

    #[test]
    fn degenerate_inputs() {
        let empty_roc = RocCurve {
            fpr: vec![],
            tpr: vec![],
            thresholds: vec![],
        };
        assert!(check_xml(&roc_svg(&empty_roc, f64::NAN)).contains("AUC = n/a"));
        // A single-class curve: fpr is all NaN.
        let roc = metrics::roc_curve(&[1.0, 1.0], &[0.2, 0.7]).unwrap();
        assert!(check_xml(&roc_svg(&roc, f64::NAN)).contains("no data"));
        let pr = PrCurve {
            precision: vec![f64::NAN, 1.0],
            recall: vec![f64::INFINITY, 0.0],
            thresholds: vec![0.5],
        };
        check_xml(&precision_recall_svg(&pr, Some(f64::INFINITY)));
        let empty_pr = PrCurve {
            precision: vec![],
            recall: vec![],
            thresholds: vec![],
        };
        check_xml(&precision_recall_svg(&empty_pr, None));
        let zero = ConfusionMatrix {
            tn: 0,
            fp: 0,
            fn_: 0,
            tp: 0,
        };
        assert!(check_xml(&confusion_matrix_svg(&zero)).contains("empty row"));
        let big = ConfusionMatrix {
            tn: u64::MAX,
            fp: 1,
            fn_: 0,
            tp: 7,
        };
        check_xml(&confusion_matrix_svg(&big));
        check_xml(&feature_importance_svg(&[], &[], 10));
        check_xml(&feature_importance_svg(&["a".to_string()], &[], 10));
        let names = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        check_xml(&feature_importance_svg(&names, &[f64::NAN, 0.0, 0.0], 10));
        check_xml(&feature_importance_svg(&names, &[-2.0, 1.0, 1e300], 0));
        check_xml(&feature_importance_svg(&names, &[-2.0, 1.0, -1e-9], 3));
        check_xml(&feature_importance_svg(
            &names,
            &[f64::MAX, -f64::MAX, 1.0],
            3,
        ));
        let many: Vec<String> = (0..200).map(|i| format!("feature_{i}")).collect();
        let values: Vec<f64> = (0..200).map(f64::from).collect();
        let svg = feature_importance_svg(&many, &values, 100);
        check_xml(&svg);
        assert!(svg.contains("height=\"2080\""));
        check_xml(&histogram_svg("empty", &[], &[]));
        check_xml(&histogram_svg("mismatch", &[0.0, 1.0], &[1, 2]));
        check_xml(&histogram_svg("nan edge", &[0.0, f64::NAN], &[1]));
        check_xml(&histogram_svg("zeros", &[0.0, 1.0, 2.0], &[0, 0]));
        check_xml(&histogram_svg("tiny", &[1e-300, 2e-300], &[4]));
        check_xml(&histogram_svg("huge", &[-f64::MAX, f64::MAX], &[4]));
        check_xml(&histogram_svg("flat", &[5.0, 5.0 + 1e-12], &[4]));
    }

    #[test]
    fn nice_scales() {
        let s = Scale::nice(0.0, 37.0);
        assert_eq!(s.ticks, vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        let s = Scale::nice(0.0, 0.0);
        assert!(s.hi > s.lo);
        assert_eq!(fmt_tick(0.6000000000000001, 0.2), "0.6");
        assert_eq!(fmt_value(12345.678), "12346");
        assert_eq!(fmt_value(0.012346), "0.01235");
        assert_eq!(px(-0.001), "0");
    }
}
