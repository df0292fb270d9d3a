//! What a run records about where it ran: the command line, the git state,
//! the user, the host and the Python environment. Never the environment
//! variables themselves (they hold secrets).

use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// MLflow's limit on a run tag value.
pub const MAX_TAG_VALUE: usize = 8000;

/// The program to run, as the run describes it.
#[derive(Debug, Clone)]
pub struct CommandLine {
    pub argv: Vec<OsString>,
    /// The full command line, quoted so it can be pasted into a shell.
    pub quoted: String,
    /// `mlflow.source.name`: the script an interpreter runs, else the program.
    pub source_name: String,
    /// The script file, when the program is an interpreter running one.
    pub script: Option<PathBuf>,
}

impl CommandLine {
    pub fn new(argv: &[OsString]) -> CommandLine {
        let words: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let (source_name, script) = source_of(&words);
        CommandLine {
            argv: argv.to_vec(),
            quoted: shell_join(&words),
            source_name,
            script,
        }
    }

    pub fn program(&self) -> String {
        self.argv
            .first()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// `words` as one shell command line: each word quoted when it needs it.
pub fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .enumerate()
        .map(|(i, w)| shell_word(w, i == 0))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_word(s: &str, first: bool) -> String {
    let safe =
        |c: char| c.is_ascii_alphanumeric() || "-_./:@%+,".contains(c) || (c == '=' && !first);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Programs whose first non-option argument is the script they run.
fn is_interpreter(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    let versioned = |prefix: &str| {
        base.strip_prefix(prefix)
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    versioned("python")
        || versioned("pypy")
        || matches!(
            base,
            "Rscript" | "bash" | "sh" | "zsh" | "dash" | "ksh" | "node" | "julia" | "ruby" | "perl"
        )
}

/// Whether `program` names a Python interpreter (`python`, `python3.11`, `/venv/bin/python`).
pub fn is_python(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    base.strip_prefix("python")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// `mlflow.source.name` for a command line: what MLflow records for a script
/// run directly (`sys.argv[0]`), so `python train.py` gives `train.py` and
/// `python -m pkg.train` gives `pkg.train`. Also the script's path, if any.
fn source_of(words: &[String]) -> (String, Option<PathBuf>) {
    let Some(program) = words.first() else {
        return (String::new(), None);
    };
    if is_interpreter(program) {
        let mut args = words[1..].iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "-m" => {
                    if let Some(module) = args.next() {
                        return (module.clone(), None);
                    }
                }
                "-c" | "-e" | "--eval" => break,
                "--" => {
                    if let Some(script) = args.next() {
                        return (script.clone(), Some(PathBuf::from(script)));
                    }
                }
                _ if a.starts_with('-') => {}
                _ if Path::new(a).is_file() => return (a.clone(), Some(PathBuf::from(a))),
                _ => {}
            }
        }
    }
    (program.clone(), None)
}

/// Cuts `s` to MLflow's tag value limit (on a character boundary).
pub fn tag_value(s: &str) -> String {
    if s.len() <= MAX_TAG_VALUE {
        return s.to_string();
    }
    let mut end = MAX_TAG_VALUE - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ---------------------------------------------------------------------
// Subprocesses with a deadline
// ---------------------------------------------------------------------

/// Runs `cmd` (no stdin, stderr discarded) and returns its stdout if it
/// exits successfully within `timeout`; `None` if it cannot start, fails or
/// is too slow (it is then killed). At most `limit` bytes are kept.
pub fn output_within(cmd: &mut Command, timeout: Duration, limit: usize) -> Option<Vec<u8>> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // Out of the terminal's process group: a Ctrl-C meant for the program
    // does not also kill these helpers half-way.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    let mut child = cmd.spawn().ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout).take(limit as u64).read_to_end(&mut buf);
        // Drain the rest so the helper never blocks on a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                // The whole group: a grandchild holding the pipe would keep the reader waiting.
                #[cfg(unix)]
                // SAFETY: plain kill(2) on the helper's own process group.
                unsafe {
                    libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = reader.join().ok()?;
    status.filter(|s| s.success()).map(|_| out)
}

fn text_of(cmd: &mut Command, timeout: Duration) -> Option<String> {
    let out = output_within(cmd, timeout, 1 << 20)?;
    let s = String::from_utf8_lossy(&out).trim().to_string();
    (!s.is_empty()).then_some(s)
}

// ---------------------------------------------------------------------
// git
// ---------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitInfo {
    pub commit: String,
    pub branch: Option<String>,
    pub repo_url: Option<String>,
    /// Tracked files differ from the commit (untracked files do not count,
    /// as with `git describe --dirty`).
    pub dirty: bool,
}

/// The git state of the repository containing `dir`; `None` outside a
/// repository, without commits, or without `git`.
pub fn git_info(dir: &Path) -> Option<GitInfo> {
    let git = |args: &[&str]| {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C");
        text_of(&mut cmd, Duration::from_secs(20))
    };
    let commit = git(&["rev-parse", "--verify", "-q", "HEAD"])?;
    let branch = git(&["symbolic-ref", "--short", "-q", "HEAD"]);
    let remote = git(&["remote", "get-url", "origin"]).or_else(|| {
        let first = git(&["remote"])?.lines().next()?.to_string();
        git(&["remote", "get-url", &first])
    });
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
    Some(GitInfo {
        commit,
        branch,
        repo_url: remote.map(|u| strip_credentials(&u)),
        dirty,
    })
}

/// A remote URL without credentials: `https://user:token@host/r.git` →
/// `https://host/r.git`; `ssh://git:pw@host/r` → `ssh://git@host/r`;
/// scp-style `git@host:org/r.git` is kept.
pub fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let scheme_lc = scheme.to_ascii_lowercase();
    if matches!(scheme_lc.as_str(), "http" | "https" | "ftp" | "ftps") {
        // Over HTTP the user part is often the token itself.
        return format!("{scheme}://{host}{path}");
    }
    let user = userinfo.split(':').next().unwrap_or("");
    if user.is_empty() {
        format!("{scheme}://{host}{path}")
    } else {
        format!("{scheme}://{user}@{host}{path}")
    }
}

// ---------------------------------------------------------------------
// user, host
// ---------------------------------------------------------------------

/// Who runs the command, as MLflow's `getpass.getuser()` finds it.
pub fn current_user() -> Option<String> {
    ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|u| u.trim().to_string())
        .find(|u| !u.is_empty())
        .or_else(passwd_user)
}

#[cfg(unix)]
fn passwd_user() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: getpwuid_r writes into `pwd` and `buf` (whose length it is
    // given) and sets `result` to `&pwd` or null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy();
        (!name.is_empty()).then(|| name.into_owned())
    }
}

#[cfg(not(unix))]
fn passwd_user() -> Option<String> {
    None
}

#[cfg(unix)]
pub fn hostname() -> Option<String> {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes; the last byte stays NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len() - 1) };
    if rc != 0 {
        return None;
    }
    // SAFETY: NUL-terminated (the buffer was zeroed and its last byte never written).
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
    (!name.is_empty()).then(|| name.into_owned())
}

#[cfg(not(unix))]
pub fn hostname() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

/// The kernel release (`uname -r`).
#[cfg(unix)]
fn os_release() -> Option<String> {
    // SAFETY: uname fills the struct; its fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(u.release.as_ptr())
                .to_string_lossy()
                .into_owned(),
        )
    }
}

#[cfg(not(unix))]
fn os_release() -> Option<String> {
    None
}

// ---------------------------------------------------------------------
// Python environment
// ---------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct PythonEnv {
    pub executable: String,
    pub version: String,
    /// `pip freeze` output, and the tool that produced it.
    pub freeze: Option<(String, &'static str)>,
}

/// The Python the program runs with: the command's own interpreter when it
/// is one, else `$VIRTUAL_ENV`'s, `$CONDA_PREFIX`'s, then `python3` /
/// `python` on PATH. `None` when there is none.
pub fn python_env(program: &str) -> Option<PythonEnv> {
    let mut candidates: Vec<OsString> = Vec::new();
    if is_python(program) {
        candidates.push(program.into());
    }
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(prefix) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let py = Path::new(&prefix).join("bin").join("python");
            if py.is_file() {
                candidates.push(py.into());
            }
        }
    }
    candidates.push("python3".into());
    candidates.push("python".into());
    let probe = "import sys, platform; print(sys.executable); print(platform.python_version())";
    let (executable, version) = candidates.iter().find_map(|py| {
        let mut cmd = Command::new(py);
        cmd.args(["-c", probe]);
        let out = text_of(&mut cmd, Duration::from_secs(20))?;
        let mut lines = out.lines();
        let exe = lines.next()?.trim().to_string();
        let version = lines.next()?.trim().to_string();
        (!exe.is_empty()).then_some((exe, version))
    })?;
    // `SLIPWAY_PIP_FREEZE=0` skips the package list (slow in large environments).
    let freeze_wanted = std::env::var("SLIPWAY_PIP_FREEZE").map_or(true, |v| v != "0");
    Some(PythonEnv {
        freeze: freeze_wanted.then(|| pip_freeze(&executable)).flatten(),
        executable,
        version,
    })
}

/// `python -m pip freeze`, else `uv pip freeze` (uv's venvs have no pip).
fn pip_freeze(python: &str) -> Option<(String, &'static str)> {
    let timeout = Duration::from_secs(120);
    let limit = 16 << 20;
    let mut pip = Command::new(python);
    pip.args(["-m", "pip", "freeze", "--disable-pip-version-check"])
        .env("PIP_NO_INPUT", "1");
    if let Some(out) = output_within(&mut pip, timeout, limit) {
        return Some((String::from_utf8_lossy(&out).into_owned(), "pip"));
    }
    let mut uv = Command::new("uv");
    uv.args(["pip", "freeze", "--python", python]);
    output_within(&mut uv, timeout, limit)
        .map(|out| (String::from_utf8_lossy(&out).into_owned(), "uv"))
}

/// `environment/env.json`: where the run ran. No environment variables.
pub fn environment_json(
    command: &CommandLine,
    cwd: Option<&Path>,
    git: Option<&GitInfo>,
    user: Option<&str>,
    python: Option<&PythonEnv>,
) -> Value {
    json!({
        "slipway_version": env!("CARGO_PKG_VERSION"),
        "os": std::env::consts::OS,
        "os_release": os_release(),
        "arch": std::env::consts::ARCH,
        "hostname": hostname(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "user": user,
        "cwd": cwd.map(|p| p.display().to_string()),
        "command": command.argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        "git": git.map(|g| json!({
            "commit": g.commit,
            "branch": g.branch,
            "repo_url": g.repo_url,
            "dirty": g.dirty,
        })),
        "python": python.map(|p| json!({
            "executable": p.executable,
            "version": p.version,
            "packages": p.freeze.as_ref().map(|(_, tool)| format!("environment/pip-freeze.txt ({tool} freeze)")),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn command_lines_are_quoted_for_a_shell() {
        assert_eq!(
            shell_join(&words(&[
                "python",
                "train.py",
                "--max-depth",
                "3",
                "--lr=0.1"
            ])),
            "python train.py --max-depth 3 --lr=0.1"
        );
        assert_eq!(
            shell_join(&words(&["sh", "-c", "echo \"$X\"; exit 3", "", "it's"])),
            r#"sh -c 'echo "$X"; exit 3' '' 'it'\''s'"#
        );
        // An assignment-looking program name would be read as an assignment.
        assert_eq!(shell_join(&words(&["A=b", "c=d"])), "'A=b' c=d");
    }

    #[test]
    fn source_name_is_the_script_an_interpreter_runs() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("train.py");
        std::fs::write(&script, "").unwrap();
        let s = script.display().to_string();
        assert_eq!(
            source_of(&words(&["python3.11", "-u", &s, "--max-depth", "3"])),
            (s.clone(), Some(script.clone()))
        );
        assert_eq!(
            source_of(&words(&["/venv/bin/python", "-m", "pkg.train"])).0,
            "pkg.train"
        );
        assert_eq!(source_of(&words(&["python", "-c", "print(1)"])).0, "python");
        assert_eq!(
            source_of(&words(&["./train", "data.csv"])),
            ("./train".to_string(), None)
        );
        assert!(is_python("python3") && is_python("/x/bin/python3.12") && !is_python("pythonista"));
    }

    #[test]
    fn remote_urls_lose_their_credentials() {
        assert_eq!(
            strip_credentials("https://user:ghp_secret@github.com/acme/churn.git"),
            "https://github.com/acme/churn.git"
        );
        assert_eq!(
            strip_credentials("https://ghp_secret@github.com/acme/churn.git"),
            "https://github.com/acme/churn.git"
        );
        assert_eq!(
            strip_credentials("ssh://git:pw@host:22/acme/churn"),
            "ssh://git@host:22/acme/churn"
        );
        assert_eq!(
            strip_credentials("git@github.com:acme/churn.git"),
            "git@github.com:acme/churn.git"
        );
        assert_eq!(
            strip_credentials("https://github.com/acme/churn.git"),
            "https://github.com/acme/churn.git"
        );
    }

    #[test]
    fn long_tag_values_are_cut_on_a_char_boundary() {
        assert_eq!(tag_value("short"), "short");
        let long = "é".repeat(MAX_TAG_VALUE);
        let cut = tag_value(&long);
        assert!(
            cut.len() <= MAX_TAG_VALUE && cut.ends_with('…'),
            "{}",
            cut.len()
        );
    }

    #[test]
    fn slow_helpers_are_killed() {
        let start = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 5"]);
        assert!(output_within(&mut cmd, Duration::from_millis(100), 1024).is_none());
        assert!(start.elapsed() < Duration::from_secs(3));
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hi"]);
        assert_eq!(
            output_within(&mut cmd, Duration::from_secs(10), 1024).as_deref(),
            Some(&b"hi\n"[..])
        );
        assert!(output_within(
            &mut Command::new("/nonexistent/x"),
            Duration::from_secs(1),
            1
        )
        .is_none());
    }
}
