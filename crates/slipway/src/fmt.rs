//! Terminal formatting: tables, times, durations, numbers.

use comfy_table::{modifiers, presets, ContentArrangement, Table};

/// A table styled for the terminal (rounded UTF-8) or, when piped, as Markdown.
pub fn table() -> Table {
    let mut t = Table::new();
    if t.is_tty() {
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .apply_modifier(modifiers::UTF8_ROUND_CORNERS)
            .set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.load_preset(presets::ASCII_MARKDOWN);
    }
    t
}

/// Columns available for a table: the terminal's width, or a generous default when piped.
pub fn width_budget() -> usize {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|c| *c >= 40)
    {
        return cols;
    }
    Table::new().width().map(usize::from).unwrap_or(160)
}

/// `0.8312`, `12`, `1.2346e7`, `NaN`: short, readable, no float noise.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let a = v.abs();
    if !(1e-4..1e7).contains(&a) {
        return format!("{v:.4e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        // A tiny value rounded away: show more precision rather than 0.
        return format!("{v:.4e}");
    }
    s.to_string()
}

/// Epoch milliseconds → `2025-01-02 13:04:05 UTC`.
pub fn datetime(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Epoch milliseconds → `2025-01-02`.
pub fn date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(1000).div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's days-since-epoch → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// How long ago `ms` was, relative to `now`: `just now`, `5m ago`, `3h ago`,
/// `2d ago`; older than 30 days, the date.
pub fn ago(ms: i64, now: i64) -> String {
    let secs = (now - ms) / 1000;
    if secs < 0 {
        return datetime(ms);
    }
    match secs {
        0..=9 => "just now".into(),
        10..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        86_400..=2_591_999 => format!("{}d ago", secs / 86_400),
        _ => date(ms),
    }
}

/// `850ms`, `42.3s`, `3m 12s`, `1h 02m`, `2d 03h`.
pub fn duration(ms: i64) -> String {
    if ms < 0 {
        return "-".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    if secs < 60 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    if secs < 3600 {
        return format!("{}m {:02}s", secs / 60, secs % 60);
    }
    if secs < 86_400 {
        return format!("{}h {:02}m", secs / 3600, secs % 3600 / 60);
    }
    format!("{}d {:02}h", secs / 86_400, secs % 86_400 / 3600)
}

/// A byte count: `512 B`, `1.3 KiB`, `2.5 MiB`.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number(0.831_234_5), "0.8312");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(-1.25), "-1.25");
        assert_eq!(number(12_345_678.9), "1.2346e7");
        assert_eq!(number(0.000_012), "1.2000e-5");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn dates() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(datetime(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
        assert_eq!(date(951_782_400_000), "2000-02-29");
    }

    #[test]
    fn relative_times() {
        let now = 1_700_000_000_000;
        assert_eq!(ago(now - 3_000, now), "just now");
        assert_eq!(ago(now - 42_000, now), "42s ago");
        assert_eq!(ago(now - 5 * 60_000, now), "5m ago");
        assert_eq!(ago(now - 3 * 3_600_000, now), "3h ago");
        assert_eq!(ago(now - 2 * 86_400_000, now), "2d ago");
        assert_eq!(ago(now - 40 * 86_400_000, now), "2023-10-05");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(42_300), "42.3s");
        assert_eq!(duration(192_000), "3m 12s");
        assert_eq!(duration(3_720_000), "1h 02m");
        assert_eq!(duration(2 * 86_400_000 + 3 * 3_600_000), "2d 03h");
    }

    #[test]
    fn sizes_and_truncation() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1300), "1.3 KiB");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
