//! What went wrong in a failed `uv pip install` / `pip install`: the
//! package it could not install and the installer's own words for why, so
//! the error a user sees names the package instead of ending in a wall of
//! resolver output.

use std::sync::LazyLock;

use regex::Regex;

/// A failed install, read from the installer's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallFailure {
    /// The requirement that could not be installed, as the installer named
    /// it (`scikit-learn==0.0.1`); `None` when the output names none (a
    /// disk or permission error).
    pub package: Option<String>,
    /// The installer's error lines, joined (at most a few hundred characters).
    pub summary: String,
}

/// Patterns naming the failing requirement, most specific first.
static PACKAGE_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // pip
        r"No matching distribution found for (\S+)",
        r"Could not find a version that satisfies the requirement (\S+)",
        r"Failed building wheel for (\S+)",
        r"Could not build wheels for (\S+?),? which",
        r"Failed to build installable wheels for some pyproject\.toml based projects \(([^)]+)\)",
        r"Building wheel for (\S+) \(.*\) did not run successfully",
        r"Cannot install (.+?) because these package versions have conflicting dependencies",
        r"Invalid requirement: '([^']+)'",
        // uv
        r"there is no version of (\S+?) and you require",
        r"Because (\S+?) was not found in the package registry",
        r"Because only (\S+?) is available and you require (\S+?),",
        r"Failed to (?:download and )?build `([^`]+)`",
        r"Failed to download `([^`]+)`",
        r"Failed to fetch wheel: (\S+)",
        r"Failed to fetch: `[^`]*/simple/([^/`]+)/?`",
        r"Failed to parse: `([^`]+)`",
        r"you require (\S+?), we can conclude",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("valid pattern"))
    .collect()
});

/// Lines that carry the installer's explanation.
fn is_error_line(line: &str) -> bool {
    let t = line
        .trim_start_matches([' ', '│', '╰', '─', '▶', '×'])
        .trim();
    let lower = t.to_ascii_lowercase();
    lower.starts_with("error")
        || lower.starts_with("cause:")
        || lower.starts_with("caused by:")
        || lower.starts_with("because ")
        || lower.starts_with("and because ")
        || lower.starts_with("hint:")
        || lower.starts_with("the conflict is caused by")
        || lower.starts_with("the user requested")
        || lower.contains("did not run successfully")
        || lower.starts_with("no solution found")
}

/// Reads a failed install's output (stdout and stderr, interleaved).
pub fn parse_install_failure(output: &str) -> InstallFailure {
    let mut package = None;
    'patterns: for pattern in PACKAGE_PATTERNS.iter() {
        for line in output.lines() {
            if let Some(c) = pattern.captures(line) {
                // "only X is available and you require Y": Y is what failed.
                let m = c.get(2).or_else(|| c.get(1)).expect("one group");
                package = Some(m.as_str().trim_end_matches([',', '.']).to_string());
                break 'patterns;
            }
        }
    }
    let mut lines: Vec<String> = Vec::new();
    for line in output.lines().filter(|l| is_error_line(l)) {
        let t = line
            .trim_start_matches([' ', '│', '╰', '─', '▶', '×'])
            .trim();
        // pip's "from versions:" lists run to hundreds of versions.
        let t = match t.find(" (from versions:") {
            Some(i) => format!("{} (...)", &t[..i]),
            None => t.to_string(),
        };
        if !lines.contains(&t) {
            lines.push(t);
        }
    }
    let mut summary = lines.join(" ");
    if summary.is_empty() {
        summary = output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_string();
    }
    const MAX: usize = 600;
    if summary.len() > MAX {
        summary.truncate(summary.floor_char_boundary(MAX));
        summary.push_str("...");
    }
    InstallFailure { package, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from `uv pip install` 0.13.9 (not a terminal).
    const UV_NO_VERSION: &str = "Using Python 3.11.7 environment at: e1\n\
error: No solution found when resolving dependencies\n  \
cause: Because there is no version of scikit-learn==0.0.1 and you require scikit-learn==0.0.1, we can conclude that your requirements are unsatisfiable.\n";

    /// Recorded from pip 23.2 (`ERROR:` lines, the version list cut here).
    const PIP_NO_VERSION: &str = "Looking in links: /opt/wheels\n\
Collecting numpy==2.4.6 (from -r r2.txt (line 1))\n  \
Downloading numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.whl (16.9 MB)\n\
ERROR: Ignored the following versions that require a different python version: 1.21.2 Requires-Python >=3.7,<3.11\n\
ERROR: Could not find a version that satisfies the requirement scikit-learn==0.0.1 (from versions: 0.9, 0.10, 1.9.1)\n\
ERROR: No matching distribution found for scikit-learn==0.0.1\n";

    #[test]
    fn uv_names_the_missing_version() {
        let f = parse_install_failure(UV_NO_VERSION);
        assert_eq!(f.package.as_deref(), Some("scikit-learn==0.0.1"));
        assert!(
            f.summary.starts_with("error: No solution found"),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("unsatisfiable"), "{}", f.summary);
    }

    #[test]
    fn pip_names_the_missing_version_without_the_version_list() {
        let f = parse_install_failure(PIP_NO_VERSION);
        assert_eq!(f.package.as_deref(), Some("scikit-learn==0.0.1"));
        assert!(!f.summary.contains("0.10"), "{}", f.summary);
        assert!(
            f.summary.contains("No matching distribution"),
            "{}",
            f.summary
        );
    }

    #[test]
    fn uv_fancy_output_and_unknown_packages() {
        let out = "  × No solution found when resolving dependencies:\n  \
╰─▶ Because slipway-no-such-package was not found in the package registry and you require \
slipway-no-such-package, we can conclude that your requirements are unsatisfiable.\n";
        let f = parse_install_failure(out);
        assert_eq!(f.package.as_deref(), Some("slipway-no-such-package"));
        assert!(f.summary.starts_with("No solution found"), "{}", f.summary);
    }

    #[test]
    fn uv_build_and_download_failures() {
        let f = parse_install_failure(
            "Resolved 3 packages in 10ms\nerror: Failed to build `pyyaml==5.4.1`\n  \
Caused by: The build backend returned an error\n",
        );
        assert_eq!(f.package.as_deref(), Some("pyyaml==5.4.1"));
        assert!(
            f.summary.contains("Caused by: The build backend"),
            "{}",
            f.summary
        );
        let f = parse_install_failure(
            "error: Failed to fetch: `https://pypi.org/simple/lightgbm/`\n  \
Caused by: Request failed after 3 retries\n",
        );
        assert_eq!(f.package.as_deref(), Some("lightgbm"));
        let f = parse_install_failure(
            "error: Request failed after 3 retries\n  Caused by: Failed to download `numpy==2.4.6`\n",
        );
        assert_eq!(f.package.as_deref(), Some("numpy==2.4.6"));
    }

    #[test]
    fn uv_version_bounds_name_the_requirement() {
        let f = parse_install_failure(
            "  × No solution found when resolving dependencies:\n  ╰─▶ Because only onnx<=1.23.2 is available \
and you require onnx>1.30, we can conclude that your requirements are unsatisfiable.\n",
        );
        assert_eq!(f.package.as_deref(), Some("onnx>1.30"));
    }

    #[test]
    fn pip_build_failures_and_conflicts() {
        let out = "  error: subprocess-exited-with-error\n  \n  × Building wheel for pyyaml (pyproject.toml) did not run successfully.\n  │ exit code: 1\n\
ERROR: Failed building wheel for pyyaml\n\
ERROR: Could not build wheels for pyyaml, which is required to install pyproject.toml-based projects\n";
        let f = parse_install_failure(out);
        assert_eq!(f.package.as_deref(), Some("pyyaml"));
        let out = "ERROR: Cannot install numpy==1.0 and pandas==2.3.3 because these package versions have conflicting dependencies.\n\n\
The conflict is caused by:\n    The user requested numpy==1.0\n    pandas 2.3.3 depends on numpy>=1.23.2\n\n\
ERROR: ResolutionImpossible: for help visit https://pip.pypa.io\n";
        let f = parse_install_failure(out);
        assert_eq!(f.package.as_deref(), Some("numpy==1.0 and pandas==2.3.3"));
        assert!(
            f.summary.contains("The user requested numpy==1.0"),
            "{}",
            f.summary
        );
    }

    #[test]
    fn other_failures_keep_the_last_line() {
        let f = parse_install_failure("Collecting x\nsomething odd happened\n\n");
        assert_eq!(f.package, None);
        assert_eq!(f.summary, "something odd happened");
        let f = parse_install_failure(
            "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n",
        );
        assert_eq!(f.package, None);
        assert!(f.summary.contains("No space left"), "{}", f.summary);
        let long = format!("ERROR: {}\n", "x".repeat(2000));
        assert!(parse_install_failure(&long).summary.len() <= 603);
    }
}
