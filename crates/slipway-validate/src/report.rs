//! The validation report: counts, the verdict and four renderings.
//!
//! The text rendering follows the guide's report shape line for line (users
//! and scripts grep `Overall:`), with one header line added after the title.
//! Markdown is for pull-request comments and `$GITHUB_STEP_SUMMARY`, HTML a
//! self-contained page; both escape every piece of text, since messages carry
//! user-controlled names (metrics, columns, slice values).

use crate::checks::{CheckResult, Status};
use serde::{Deserialize, Serialize};

const RULE: &str = "============================================================";

/// The decision: REJECTED iff any check FAILed (WARN and SKIP do not
/// reject, as in the guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Approved,
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "APPROVED",
            Verdict::Rejected => "REJECTED",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validation run's outcome. Field order is the JSON field order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub run_id: String,
    /// What was validated, e.g. `runs:/<id>/model`.
    pub model: String,
    /// The baseline compared with, e.g. `models:/churn/Production (v3)`.
    pub baseline: Option<String>,
    pub checks: Vec<CheckResult>,
    pub passed: usize,
    pub warnings: usize,
    pub failed: usize,
    pub skipped: usize,
    pub verdict: Verdict,
    /// Supplied by the caller (this crate reads no clock).
    pub created_at: String,
}

impl Report {
    /// Counts the checks and decides the verdict.
    pub fn new(
        run_id: impl Into<String>,
        model: impl Into<String>,
        baseline: Option<String>,
        checks: Vec<CheckResult>,
        created_at: impl Into<String>,
    ) -> Report {
        let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
        let (passed, warnings, failed, skipped) = (
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail),
            count(Status::Skip),
        );
        Report {
            run_id: run_id.into(),
            model: model.into(),
            baseline,
            passed,
            warnings,
            failed,
            skipped,
            verdict: if failed == 0 {
                Verdict::Approved
            } else {
                Verdict::Rejected
            },
            checks,
            created_at: created_at.into(),
        }
    }

    /// `3 passed, 1 warnings, 0 failed` (the guide's wording), plus
    /// `, 2 skipped` when any check was skipped.
    pub fn counts_line(&self) -> String {
        let mut s = format!(
            "{} passed, {} warnings, {} failed",
            self.passed, self.warnings, self.failed
        );
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s
    }

    fn baseline_text(&self) -> &str {
        self.baseline.as_deref().unwrap_or("none")
    }

    /// The guide's report shape, no trailing newline.
    pub fn to_text(&self) -> String {
        let mut lines = vec![
            RULE.to_string(),
            "MODEL VALIDATION REPORT".to_string(),
            one_line(&format!(
                "Run: {} | Model: {} | Baseline: {}",
                self.run_id,
                self.model,
                self.baseline_text()
            )),
            RULE.to_string(),
        ];
        for c in &self.checks {
            lines.push(format!(" [{}] {}", c.status, one_line(&c.message)));
        }
        lines.push(RULE.to_string());
        lines.push(format!("Results: {}", self.counts_line()));
        lines.push(format!("Overall: {}", self.verdict));
        lines.push(RULE.to_string());
        lines.join("\n")
    }

    /// The report as pretty-printed JSON (fields in declaration order).
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A Markdown summary: the verdict in a heading, then one table row per
    /// check. Status markers are words (bold when WARN or FAIL), no emoji.
    pub fn to_markdown(&self) -> String {
        let mut s = format!("## Model validation: {}\n\n", self.verdict);
        s.push_str(&format!("- Run: {}\n", md(&self.run_id)));
        s.push_str(&format!("- Model: {}\n", md(&self.model)));
        s.push_str(&format!("- Baseline: {}\n", md(self.baseline_text())));
        s.push_str(&format!("- Results: {}\n", self.counts_line()));
        s.push_str(&format!("- Validated at: {}\n\n", md(&self.created_at)));
        s.push_str("| Status | Check | Actual | Threshold | Message |\n");
        s.push_str("|---|---|---:|---:|---|\n");
        for c in &self.checks {
            let marker = match c.status {
                Status::Warn | Status::Fail => format!("**{}**", c.status),
                _ => c.status.to_string(),
            };
            s.push_str(&format!(
                "| {marker} | {} | {} | {} | {} |\n",
                md(&c.name),
                num(c.actual),
                num(c.threshold),
                md(&c.message)
            ));
        }
        s
    }

    /// A self-contained HTML page (inline CSS, no script, escaped text).
    pub fn to_html(&self) -> String {
        let verdict_class = match self.verdict {
            Verdict::Approved => "approved",
            Verdict::Rejected => "rejected",
        };
        let mut rows = String::new();
        for c in &self.checks {
            rows.push_str(&format!(
                "<tr class=\"{cls}\"><td class=\"status\">{status}</td><td>{name}</td><td class=\"num\">{actual}</td><td class=\"num\">{threshold}</td><td>{message}</td></tr>\n",
                cls = c.status.as_str().to_ascii_lowercase(),
                status = c.status,
                name = html(&c.name),
                actual = html(&num(c.actual)),
                threshold = html(&num(c.threshold)),
                message = html(&c.message),
            ));
        }
        format!(
            r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Model validation: {verdict} ({run_id})</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1f2328; }}
h1 {{ font-size: 1.4rem; }}
.verdict {{ padding: 0.1rem 0.5rem; border-radius: 4px; color: #fff; }}
.verdict.approved {{ background: #1a7f37; }}
.verdict.rejected {{ background: #cf222e; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }}
dt {{ font-weight: 600; }}
dd {{ margin: 0; font-family: ui-monospace, monospace; }}
table {{ border-collapse: collapse; margin-top: 1rem; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
td.num {{ text-align: right; font-family: ui-monospace, monospace; }}
td.status {{ font-weight: 700; }}
tr.pass td.status {{ color: #1a7f37; }}
tr.warn td.status {{ color: #9a6700; }}
tr.fail td.status {{ color: #cf222e; }}
tr.skip td.status {{ color: #57606a; }}
</style>
</head>
<body>
<h1>Model validation: <span class="verdict {verdict_class}">{verdict}</span></h1>
<dl>
<dt>Run</dt><dd>{run_id}</dd>
<dt>Model</dt><dd>{model}</dd>
<dt>Baseline</dt><dd>{baseline}</dd>
<dt>Results</dt><dd>{counts}</dd>
<dt>Validated at</dt><dd>{created_at}</dd>
</dl>
<table>
<thead><tr><th>Status</th><th>Check</th><th>Actual</th><th>Threshold</th><th>Message</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
</body>
</html>
"#,
            verdict = self.verdict,
            run_id = html(&self.run_id),
            model = html(&self.model),
            baseline = html(self.baseline_text()),
            counts = html(&self.counts_line()),
            created_at = html(&self.created_at),
        )
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A table cell's number: 4 decimals, trailing zeros trimmed; empty for
/// none.
fn num(x: Option<f64>) -> String {
    match x {
        None => String::new(),
        Some(x) if !x.is_finite() => x.to_string(),
        Some(x) => {
            let s = format!("{x:.4}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" {
                "0".to_string()
            } else {
                s.to_string()
            }
        }
    }
}

/// Escapes text for a Markdown table cell: HTML-significant characters as
/// entities (GitHub renders inline HTML), Markdown punctuation with a
/// backslash, `|` so the cell does not split, newlines as spaces.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            c => out.push(c),
        }
    }
    out
}

fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(name: &str, status: Status, message: &str) -> CheckResult {
        CheckResult {
            name: name.into(),
            status,
            actual: Some(0.839),
            threshold: Some(0.8),
            message: message.into(),
            details: json!({}),
        }
    }

    fn report(checks: Vec<CheckResult>) -> Report {
        Report::new(
            "abc123",
            "runs:/abc123/model",
            Some("models:/churn/Production (v3)".into()),
            checks,
            "2025-01-01T00:00:00Z",
        )
    }

    #[test]
    fn text_has_the_guides_shape() {
        let r = report(vec![
            check(
                "performance.accuracy",
                Status::Pass,
                "accuracy: 0.8390 (threshold: 0.8)",
            ),
            check(
                "performance.auc_roc",
                Status::Pass,
                "auc_roc: 0.8500 (threshold: 0.75)",
            ),
            check(
                "latency.p99_ms",
                Status::Pass,
                "p99 latency: 12.0ms (max: 100ms)",
            ),
            check(
                "regression.f1",
                Status::Warn,
                "f1: candidate=0.7000, baseline=0.7100, degradation=0.0100 (max 0.02)",
            ),
        ]);
        let rule = "=".repeat(60);
        let expected = [
            rule.as_str(),
            "MODEL VALIDATION REPORT",
            "Run: abc123 | Model: runs:/abc123/model | Baseline: models:/churn/Production (v3)",
            &rule,
            " [PASS] accuracy: 0.8390 (threshold: 0.8)",
            " [PASS] auc_roc: 0.8500 (threshold: 0.75)",
            " [PASS] p99 latency: 12.0ms (max: 100ms)",
            " [WARN] f1: candidate=0.7000, baseline=0.7100, degradation=0.0100 (max 0.02)",
            &rule,
            "Results: 3 passed, 1 warnings, 0 failed",
            "Overall: APPROVED",
            &rule,
        ]
        .join("\n");
        assert_eq!(r.to_text(), expected);
        assert_eq!(r.verdict, Verdict::Approved);
    }

    #[test]
    fn counts_skips_and_failures() {
        let r = report(vec![
            check("a", Status::Pass, "a"),
            check(
                "regression",
                Status::Skip,
                "regression: skipped, no baseline model in the registry",
            ),
            check("b", Status::Fail, "b\nsecond line"),
            check("c", Status::Warn, "c"),
        ]);
        assert_eq!((r.passed, r.warnings, r.failed, r.skipped), (1, 1, 1, 1));
        assert_eq!(r.verdict, Verdict::Rejected);
        let text = r.to_text();
        assert!(text.contains("\n [SKIP] regression: skipped"));
        assert!(text.contains("\n [FAIL] b second line\n"));
        assert!(
            text.contains("Results: 1 passed, 1 warnings, 1 failed, 1 skipped\nOverall: REJECTED")
        );
        let only_warn = report(vec![check("c", Status::Warn, "c")]);
        assert_eq!(only_warn.verdict, Verdict::Approved);
        let empty = Report::new("r", "m", None, vec![], "t");
        assert!(empty.to_text().contains("Baseline: none"));
        assert_eq!(empty.verdict, Verdict::Approved);
    }

    #[test]
    fn json_is_the_report() {
        let r = report(vec![check("a", Status::Warn, "a")]);
        let j = r.to_json();
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["verdict"], "APPROVED");
        assert_eq!(v["checks"][0]["status"], "WARN");
        assert_eq!(v["warnings"], 1);
        let keys = [
            "run_id",
            "model",
            "baseline",
            "checks",
            "passed",
            "warnings",
            "failed",
            "skipped",
            "verdict",
            "created_at",
        ];
        let positions: Vec<usize> = keys
            .iter()
            .map(|k| j.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "field order");
        let back: Report = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn markdown_and_html_escape_text() {
        let evil = "slice <script>alert('x')</script> | a & b";
        let r = report(vec![
            check("slice.c=<script>.auc_roc", Status::Fail, evil),
            check("a", Status::Pass, "fine"),
        ]);
        let md = r.to_markdown();
        assert!(md.starts_with("## Model validation: REJECTED\n"));
        assert!(!md.contains("<script>"), "{md}");
        assert!(md.contains("&lt;script&gt;"));
        assert!(md.contains("\\| a &amp; b"));
        assert!(md.contains("| **FAIL** | "));
        assert!(md.contains("| PASS | a | 0.839 | 0.8 | fine |"), "{md}");
        // Every table row has the header's five cells.
        for line in md.lines().filter(|l| l.starts_with('|')) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert_eq!(cells, 6, "{line}");
        }
        let html = r.to_html();
        assert!(!html.contains("<script>"));
        assert!(html.contains("slice &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; | a &amp; b"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<style>"));
        assert!(html.contains("class=\"verdict rejected\">REJECTED"));
    }
}
