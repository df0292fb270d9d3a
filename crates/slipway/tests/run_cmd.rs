//! `slipway run` end to end: the built binary runs `sh` programs inside runs
//! of a `slipway server` started as a child process; the runs are read back
//! through slipway-client.

#![cfg(unix)]

use serde_json::Value;
use slipway_client::{Run, RunStatus, SearchRuns, SlipwayClient};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, rt, ChildGuard, BIN};

/// A `slipway server` on a free port with its data under `dir`.
struct Server {
    _guard: ChildGuard,
    base: String,
    client: SlipwayClient,
}

fn start_server(dir: &Path) -> Server {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "server",
            "--port",
            &port.to_string(),
            "--backend-store-uri",
            &format!("sqlite:///{}", dir.join("db").display()),
            "--artifacts-destination",
            &dir.join("artifacts").display().to_string(),
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn slipway server");
    let out = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let mut first_line = String::new();
    BufReader::new(out).read_line(&mut first_line).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = SlipwayClient::new(&base).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let rt = rt();
    while rt.block_on(client.health()).is_err() {
        assert!(
            Instant::now() < deadline,
            "server at {base} never became healthy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        _guard: guard,
        base,
        client,
    }
}

impl Server {
    /// `slipway run ARGS...` against this server, with a clean environment.
    fn slipway_run(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("run")
            .args(args)
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("MLFLOW_EXPERIMENT_NAME")
            .env_remove("MLFLOW_EXPERIMENT_ID")
            .env_remove("MLFLOW_RUN_ID")
            .env_remove("SLIPWAY_RUN_ID")
            .env_remove("RUST_LOG")
            .env_remove("LOGNAME")
            .env("USER", "ci")
            // Parallel tests each running `pip freeze` overload a 2-core CI machine.
            .env("SLIPWAY_PIP_FREEZE", "0")
            .env("SLIPWAY_TRACKING_URI", &self.base)
            .stdin(Stdio::null());
        cmd
    }

    /// The runs of experiment `name`, newest first.
    fn runs(&self, experiment: &str) -> Vec<Run> {
        rt().block_on(async {
            let exp = self
                .client
                .get_experiment_by_name(experiment)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no experiment '{experiment}'"));
            self.client
                .search_runs_all(SearchRuns {
                    experiment_ids: vec![exp.experiment_id],
                    ..Default::default()
                })
                .await
                .unwrap()
        })
    }

    /// The only run of experiment `name`.
    fn only_run(&self, experiment: &str) -> Run {
        let mut runs = self.runs(experiment);
        assert_eq!(runs.len(), 1, "{runs:#?}");
        runs.remove(0)
    }

    fn artifact(&self, run: &Run, path: &str) -> String {
        let bytes = rt()
            .block_on(self.client.read_artifact(&run.info.artifact_uri, path))
            .unwrap_or_else(|e| panic!("artifact {path}: {e}"));
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn artifact_paths(&self, run: &Run, dir: &str) -> Vec<String> {
        let mut paths: Vec<String> = rt()
            .block_on(self.client.list_artifacts(&run.info.run_id, Some(dir)))
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        paths.sort();
        paths
    }
}

fn tag<'a>(run: &'a Run, key: &str) -> Option<&'a str> {
    run.data
        .tags
        .iter()
        .find(|t| t.key == key)
        .map(|t| t.value.as_str())
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=ci", "-c", "user.email=ci@example.com"])
        .args(args)
        .output()
        .expect("git is needed by this test");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "this test needs `{tool}` on PATH");
}

/// Waits for `child` at most `limit`.
fn wait_for(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "slipway run did not end within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads lines of `out` until one contains `needle`; returns them.
fn read_until(out: &mut impl BufRead, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "output ended before '{needle}':\n{seen}");
        seen.push_str(&line);
        if line.contains(needle) {
            return seen;
        }
    }
}

const ECHO_ENV: &str = r#"echo "uri=$MLFLOW_TRACKING_URI"
echo "run=$MLFLOW_RUN_ID"
echo "exp=$MLFLOW_EXPERIMENT_NAME"
echo "exp_id=$MLFLOW_EXPERIMENT_ID"
echo "slipway_uri=$SLIPWAY_TRACKING_URI"
echo "slipway_run=$SLIPWAY_RUN_ID"
echo "something went to stderr" >&2
exit 0"#;

#[test]
fn run_records_env_output_git_and_environment() {
    require("git");
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());

    // A repository with a remote carrying a token, and a modified tracked file.
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("train.sh"), "echo v1\n").unwrap();
    git(&repo, &["add", "train.sh"]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    git(
        &repo,
        &[
            "remote",
            "add",
            "origin",
            "https://ci:ghp_s3cret@github.com/acme/churn.git",
        ],
    );
    std::fs::write(repo.join("train.sh"), "echo v2\n").unwrap();
    let commit = git(&repo, &["rev-parse", "HEAD"]);

    let o = server
        .slipway_run(&[
            "--experiment",
            "churn",
            "--run-name",
            "env-check",
            "--",
            "sh",
            "-c",
            ECHO_ENV,
        ])
        .current_dir(&repo)
        .env("MY_SECRET_TOKEN", "hunter2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // The program's output streamed through; slipway's own lines are on stderr.
    let out = stdout(&o);
    let run = server.only_run("churn");
    let id = &run.info.run_id;
    let exp_id = &run.info.experiment_id;
    let base = &server.base;
    let expected = format!(
        "uri={base}\nrun={id}\nexp=churn\nexp_id={exp_id}\nslipway_uri={base}\nslipway_run={id}\n"
    );
    assert_eq!(out, expected);
    let err = stderr(&o);
    assert!(err.contains("something went to stderr"), "{err}");
    assert!(
        err.contains(&format!(
            "slipway: run {id} (env-check) in experiment 'churn'"
        )),
        "{err}"
    );
    assert!(err.contains("FINISHED (exit 0)"), "{err}");

    // Status and tags.
    assert_eq!(run.info.status, RunStatus::Finished);
    assert!(run.info.end_time.is_some());
    assert_eq!(run.info.run_name, "env-check");
    assert_eq!(tag(&run, "mlflow.runName"), Some("env-check"));
    assert_eq!(tag(&run, "mlflow.user"), Some("ci"));
    assert_eq!(run.info.user_id, "ci");
    assert_eq!(tag(&run, "mlflow.source.type"), Some("LOCAL"));
    assert_eq!(tag(&run, "mlflow.source.name"), Some("sh"));
    assert_eq!(
        tag(&run, "slipway.command"),
        Some(format!("sh -c '{ECHO_ENV}'").as_str())
    );
    assert_eq!(tag(&run, "mlflow.source.git.commit"), Some(commit.as_str()));
    assert_eq!(tag(&run, "mlflow.source.git.branch"), Some("main"));
    assert_eq!(
        tag(&run, "mlflow.source.git.repoURL"),
        Some("https://github.com/acme/churn.git"),
        "credentials must not be recorded"
    );
    assert_eq!(tag(&run, "slipway.git.dirty"), Some("true"));
    assert_eq!(tag(&run, "slipway.exit_code"), Some("0"));
    assert_eq!(tag(&run, "slipway.error"), None);

    // Artifacts: the logs as streamed, and the environment without secrets.
    assert_eq!(
        server.artifact_paths(&run, "logs"),
        ["logs/stderr.txt", "logs/stdout.txt"]
    );
    assert_eq!(server.artifact(&run, "logs/stdout.txt"), expected);
    assert_eq!(
        server.artifact(&run, "logs/stderr.txt"),
        "something went to stderr\n"
    );
    let env_json = server.artifact(&run, "environment/env.json");
    assert!(
        !env_json.contains("hunter2") && !env_json.contains("ghp_s3cret"),
        "{env_json}"
    );
    let env: Value = serde_json::from_str(&env_json).unwrap();
    assert_eq!(env["slipway_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(env["os"], std::env::consts::OS);
    assert!(
        env["hostname"].as_str().is_some_and(|h| !h.is_empty()),
        "{env}"
    );
    assert_eq!(env["git"]["commit"], commit.as_str());
    assert_eq!(env["git"]["dirty"], true);
    assert_eq!(env["command"][0], "sh");

    // A clean checkout is not dirty.
    git(&repo, &["checkout", "--", "train.sh"]);
    let o = server
        .slipway_run(&["-e", "clean", "-q", "--", "true"])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "--quiet prints nothing of its own");
    let run = server.only_run("clean");
    assert_eq!(tag(&run, "slipway.git.dirty"), Some("false"));
    assert_eq!(tag(&run, "mlflow.source.name"), Some("true"));
}

#[test]
fn experiment_defaults_to_mlflow_experiment_name_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let o = server
        .slipway_run(&["--", "sh", "-c", "echo $MLFLOW_EXPERIMENT_NAME"])
        .env("MLFLOW_EXPERIMENT_NAME", "from-env")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "from-env\n");
    assert_eq!(server.only_run("from-env").info.status, RunStatus::Finished);

    let o = server
        .slipway_run(&[
            "--",
            "sh",
            "-c",
            "echo $MLFLOW_EXPERIMENT_NAME $MLFLOW_EXPERIMENT_ID",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Default 0\n");
    assert_eq!(server.only_run("Default").info.status, RunStatus::Finished);

    // Runs started inside a `slipway run` are nested under it.
    let o = server
        .slipway_run(&[
            "-e",
            "nested",
            "--",
            "sh",
            "-c",
            &format!("echo outer=$MLFLOW_RUN_ID; {BIN} run -q -- true"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let outer = stdout(&o)
        .trim()
        .strip_prefix("outer=")
        .unwrap()
        .to_string();
    let runs = server.runs("nested");
    assert_eq!(runs.len(), 2);
    let inner = runs.iter().find(|r| r.info.run_id != outer).unwrap();
    assert_eq!(tag(inner, "mlflow.parentRunId"), Some(outer.as_str()));
}

#[test]
fn failing_program_fails_the_run_and_passes_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let o = server
        .slipway_run(&[
            "-e",
            "fails",
            "--",
            "sh",
            "-c",
            "echo partial; echo 'Traceback: boom' >&2; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "partial\n");
    assert!(stderr(&o).contains("FAILED (exit 3)"), "{}", stderr(&o));
    let run = server.only_run("fails");
    assert_eq!(run.info.status, RunStatus::Failed);
    assert_eq!(tag(&run, "slipway.exit_code"), Some("3"));
    assert_eq!(server.artifact(&run, "logs/stdout.txt"), "partial\n");
    assert_eq!(
        server.artifact(&run, "logs/stderr.txt"),
        "Traceback: boom\n"
    );
}

#[test]
fn missing_command_exits_127_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let o = server
        .slipway_run(&[
            "-e",
            "missing",
            "--",
            "no-such-command-slipway-test",
            "--flag",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no-such-command-slipway-test: command not found"),
        "{}",
        stderr(&o)
    );
    let run = server.only_run("missing");
    assert_eq!(run.info.status, RunStatus::Failed);
    assert!(
        tag(&run, "slipway.error").is_some_and(|e| e.contains("command not found")),
        "{:?}",
        run.data.tags
    );
    assert_eq!(tag(&run, "slipway.exit_code"), Some("127"));
    assert_eq!(
        tag(&run, "slipway.command"),
        Some("no-such-command-slipway-test --flag")
    );

    // Found but not executable: 126, as a shell says.
    let data = dir.path().join("data.csv");
    std::fs::write(&data, "a,b\n").unwrap();
    let o = server
        .slipway_run(&["-e", "missing", "--", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
}

#[test]
fn program_logs_into_the_run_through_mlflow_env() {
    require("curl");
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    // What `mlflow.log_metric` / `mlflow.end_run` send, from the variables
    // slipway set. The program ends the run itself (as FAILED) and exits 0:
    // its status is kept.
    let script = r#"set -e
api="$MLFLOW_TRACKING_URI/api/2.0/mlflow"
post() { curl -sSf -X POST -H 'Content-Type: application/json' "$api/$1" -d "$2"; echo; }
post runs/log-metric "{\"run_id\":\"$MLFLOW_RUN_ID\",\"key\":\"auc_roc\",\"value\":0.87,\"timestamp\":1700000000000,\"step\":2}"
post runs/log-parameter "{\"run_id\":\"$MLFLOW_RUN_ID\",\"key\":\"max_depth\",\"value\":\"3\"}"
post runs/update "{\"run_id\":\"$MLFLOW_RUN_ID\",\"status\":\"FAILED\",\"end_time\":1700000001000}"
echo logged"#;
    let o = server
        .slipway_run(&["-e", "self-logging", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).ends_with("logged\n"), "{}", stdout(&o));
    let run = server.only_run("self-logging");
    let auc = run
        .data
        .metrics
        .iter()
        .find(|m| m.key == "auc_roc")
        .unwrap();
    assert_eq!((auc.value, auc.step), (0.87, 2));
    assert!(run
        .data
        .params
        .iter()
        .any(|p| p.key == "max_depth" && p.value == "3"));
    assert_eq!(
        run.info.status,
        RunStatus::Failed,
        "the program's own status wins"
    );
    assert_eq!(run.info.end_time, Some(1_700_000_001_000));
    assert_eq!(tag(&run, "slipway.exit_code"), Some("0"));
    assert!(server
        .artifact(&run, "logs/stdout.txt")
        .ends_with("logged\n"));
}

/// Sends `sig` to `pid`.
fn kill(pid: u32, sig: i32) {
    // SAFETY: kill(2).
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

#[test]
fn sigint_is_passed_on_and_the_run_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let started = Instant::now();
    let mut child = ChildGuard(
        server
            .slipway_run(&[
                "-e",
                "interrupted",
                "--",
                "sh",
                "-c",
                "echo started; sleep 30; echo not-reached",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    read_until(&mut out, "started");
    // Let `sleep` start: dash defers a SIGINT that lands between two commands.
    std::thread::sleep(Duration::from_millis(300));
    kill(child.0.id(), libc::SIGINT);
    let status = wait_for(&mut child.0, Duration::from_secs(20));
    assert!(started.elapsed() < Duration::from_secs(25));
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("not-reached"), "{rest}");
    // As a shell reports it: 130 (slipway ends by SIGINT, as the program did,
    // so that a calling script stops too).
    assert!(
        status.code() == Some(130) || status.signal() == Some(libc::SIGINT),
        "{status:?}"
    );
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("SIGINT received: passed on to the program"),
        "{err}"
    );
    assert!(err.contains("KILLED"), "{err}");
    let run = server.only_run("interrupted");
    assert_eq!(run.info.status, RunStatus::Killed);
    assert_eq!(tag(&run, "slipway.exit_code"), Some("130"));
    assert_eq!(server.artifact(&run, "logs/stdout.txt"), "started\n");
}

#[cfg(target_os = "linux")]
fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": state after the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

#[cfg(target_os = "linux")]
#[test]
fn sigterm_stops_the_programs_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let mut child = ChildGuard(
        server
            .slipway_run(&[
                "-e",
                "terminated",
                "--",
                "sh",
                "-c",
                "sleep 60 & echo \"bg $!\"; sleep 60",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let line = read_until(&mut out, "bg ");
    let bg: u32 = line.trim().strip_prefix("bg ").unwrap().parse().unwrap();
    assert!(is_running(bg));
    // Let the foreground `sleep` start (see the SIGINT test).
    std::thread::sleep(Duration::from_millis(300));
    kill(child.0.id(), libc::SIGTERM);
    let status = wait_for(&mut child.0, Duration::from_secs(20));
    assert!(
        status.code() == Some(143) || status.signal() == Some(libc::SIGTERM),
        "{status:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_running(bg) {
        assert!(Instant::now() < deadline, "background sleep {bg} survived");
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = server.only_run("terminated");
    assert_eq!(run.info.status, RunStatus::Killed);
    assert_eq!(tag(&run, "slipway.signal"), Some("SIGTERM"));
}

#[test]
fn unreachable_server_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let port = free_port();
    let o = Command::new(BIN)
        .args([
            "run",
            "--tracking-uri",
            &format!("http://127.0.0.1:{port}"),
            "--",
        ])
        .args(["sh", "-c", &format!("touch '{}'", marker.display())])
        .env_remove("SLIPWAY_TRACKING_URI")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "cannot reach the tracking server at http://127.0.0.1:{port} (from --tracking-uri)"
        )),
        "{err}"
    );
    assert!(!marker.exists(), "the command must not run");

    // Usage errors exit 2.
    let o = Command::new(BIN).args(["run"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(BIN)
        .args(["run", "--experiment", " ", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn help_teaches_with_examples() {
    let o = Command::new(BIN).args(["run", "--help"]).output().unwrap();
    assert!(o.status.success());
    let help = stdout(&o);
    assert!(
        help.contains("slipway run --experiment churn -- python train.py --max-depth 3"),
        "{help}"
    );
    for needle in ["MLFLOW_RUN_ID", "logs/stdout.txt", "KILLED", "127"] {
        assert!(help.contains(needle), "help lacks {needle}");
    }
}

// ---------------------------------------------------------------------
// On a terminal
// ---------------------------------------------------------------------

struct Pty {
    master: std::fs::File,
    slave: std::os::fd::OwnedFd,
}

fn open_pty() -> Pty {
    use std::os::fd::FromRawFd;
    let (mut m, mut s) = (-1, -1);
    let ws = libc::winsize {
        ws_row: 40,
        ws_col: 132,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills two descriptors we then own.
    unsafe {
        assert_eq!(
            libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws),
            0
        );
        Pty {
            master: std::fs::File::from_raw_fd(m),
            slave: std::os::fd::OwnedFd::from_raw_fd(s),
        }
    }
}

/// Collects what is written to the terminal, from a thread.
fn collect(mut master: std::fs::File) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits until the terminal showed `needle`; returns all it showed.
fn screen_until(rx: &std::sync::mpsc::Receiver<Vec<u8>>, seen: &mut Vec<u8>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(seen).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(_) => panic!(
                "the terminal never showed '{needle}':\n{}",
                String::from_utf8_lossy(seen)
            ),
        }
    }
}

#[test]
fn on_a_terminal_the_program_sees_one_and_the_logs_stay_plain() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let pty = open_pty();
    let mut child = ChildGuard(
        server
            .slipway_run(&[
                "-e",
                "tty",
                "--",
                "sh",
                "-c",
                "[ -t 1 ] && echo stdout-is-a-tty; stty size <&1; printf '\\033[32mgreen\\033[0m\\n'",
            ])
            .stdout(Stdio::from(pty.slave))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = collect(pty.master);
    let status = wait_for(&mut child.0, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let mut seen = Vec::new();
    screen_until(&rx, &mut seen, "green");
    let screen = String::from_utf8_lossy(&seen);
    assert!(screen.contains("stdout-is-a-tty"), "{screen}");
    assert!(screen.contains("40 132"), "the terminal's size: {screen}");
    assert!(
        screen.contains("\x1b[32mgreen\x1b[0m"),
        "colours reach the terminal: {screen:?}"
    );
    let run = server.only_run("tty");
    assert_eq!(
        server.artifact(&run, "logs/stdout.txt"),
        "stdout-is-a-tty\n40 132\ngreen\n"
    );
}

#[test]
fn on_a_terminal_ctrl_c_and_input_reach_the_program() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let pty = open_pty();
    let slave = pty.slave.as_raw_fd();
    let mut cmd = server.slipway_run(&[
        "-e",
        "keyboard",
        "--",
        "sh",
        "-c",
        "read answer; echo \"got $answer\"; sleep 30; echo not-reached",
    ]);
    cmd.stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
    // SAFETY: setsid and ioctl are async-signal-safe. slipway leads a new
    // session whose controlling terminal is the pty, as in a terminal window.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(slave, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = ChildGuard(cmd.spawn().unwrap());
    // Only slipway (and what it starts) keeps the terminal open.
    drop(cmd);
    drop(pty.slave);
    let mut keyboard = pty.master.try_clone().unwrap();
    let rx = collect(pty.master);
    let mut seen = Vec::new();
    screen_until(&rx, &mut seen, "in experiment 'keyboard'");
    // The program reads the terminal (it is not stopped by SIGTTIN).
    keyboard.write_all(b"yes\n").unwrap();
    screen_until(&rx, &mut seen, "got yes");
    // Ctrl-C: the terminal sends SIGINT to its foreground process group.
    // Press Ctrl-C once `sleep` runs, as a person would: a SIGINT that lands
    // in the instant between `echo` and `sleep` is deferred by dash itself.
    std::thread::sleep(Duration::from_millis(300));
    keyboard.write_all(b"\x03").unwrap();
    let status = wait_for(&mut child.0, Duration::from_secs(20));
    assert!(
        status.code() == Some(130) || status.signal() == Some(libc::SIGINT),
        "{status:?}"
    );
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(2)) {
        seen.extend(chunk);
    }
    let run = server.only_run("keyboard");
    assert_eq!(run.info.status, RunStatus::Killed);
    assert_eq!(tag(&run, "slipway.signal"), Some("SIGINT"));
    let screen = String::from_utf8_lossy(&seen);
    assert!(
        !screen.contains("passed on to the program"),
        "the keyboard's SIGINT reached the program directly, not twice: {screen}"
    );
}
