//! Running the program (Unix): process groups, signals, pseudo-terminals.
//!
//! * stdin a terminal (interactive use): the program stays in slipway's
//!   process group, the terminal's foreground group. Keyboard signals
//!   (Ctrl-C, Ctrl-\, Ctrl-Z) reach it directly, job control (`fg`, `bg`)
//!   works, and it can read the terminal. Signals *sent* to slipway by
//!   another process (`kill`) are passed on to it.
//! * otherwise (CI, schedulers, containers): the program gets its own
//!   process group, and every signal slipway receives is passed on to that
//!   whole group, so `sh -c 'a && b'` stops with everything it started.
//!
//! Where slipway's stdout / stderr is a terminal, the program's is a
//! pseudo-terminal of the same size: it sees a terminal (colours, progress
//! bars, line-buffered output) while slipway reads what it writes. Elsewhere
//! it is a pipe, as it would be without slipway. On Linux the program is
//! sent SIGTERM if slipway itself dies.

use slipway_client::RunStatus;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use tokio::signal::unix::{signal, Signal, SignalKind};

// ---------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------

/// Signals slipway handles instead of dying from them.
const HANDLED: [libc::c_int; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// Per signal number: one was sent by a process (`kill`), not the kernel
/// (the terminal's keyboard, hang-up or resize).
static SENT_BY_PROCESS: [AtomicBool; 65] = [const { AtomicBool::new(false) }; 65];

/// A signal slipway received.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub signal: libc::c_int,
    /// Sent by a process with kill(2) rather than by the terminal.
    pub by_process: bool,
}

pub struct Signals {
    streams: Vec<(libc::c_int, Signal)>,
}

impl Signals {
    /// From now on these signals are reported here instead of killing slipway.
    pub fn install() -> io::Result<Signals> {
        let mut streams = Vec::new();
        for sig in HANDLED {
            // SAFETY: the action only stores to an atomic (async-signal-safe).
            unsafe {
                signal_hook_registry::register_sigaction(sig, move |info: &libc::siginfo_t| {
                    if sender_pid(info) != 0 {
                        SENT_BY_PROCESS[sig as usize].store(true, Ordering::Relaxed);
                    }
                })
            }?;
            streams.push((sig, signal(SignalKind::from_raw(sig))?));
        }
        Ok(Signals { streams })
    }

    pub async fn recv(&mut self) -> Received {
        let signal = std::future::poll_fn(|cx| {
            for (sig, stream) in &mut self.streams {
                if let Poll::Ready(Some(())) = stream.poll_recv(cx) {
                    return Poll::Ready(*sig);
                }
            }
            Poll::Pending
        })
        .await;
        Received {
            signal,
            by_process: SENT_BY_PROCESS[signal as usize].swap(false, Ordering::Relaxed),
        }
    }

    /// The next signal that asks slipway to stop (INT, TERM, HUP, QUIT).
    pub async fn recv_stop(&mut self) -> Received {
        loop {
            let got = self.recv().await;
            if is_stop(got.signal) {
                return got;
            }
        }
    }

    /// A stop signal received since the last call, if any (does not wait).
    pub async fn pending_stop(&mut self) -> Option<Received> {
        tokio::select! {
            biased;
            got = self.recv_stop() => Some(got),
            _ = std::future::ready(()) => None,
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn sender_pid(info: &libc::siginfo_t) -> libc::pid_t {
    // SAFETY: si_pid is meaningful for the signals handled here (kill, tty).
    unsafe { info.si_pid() }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn sender_pid(_info: &libc::siginfo_t) -> libc::pid_t {
    1 // unknown: treat as sent by a process (passed on)
}

/// Signals that ask a program to stop.
pub fn is_stop(sig: libc::c_int) -> bool {
    matches!(
        sig,
        libc::SIGINT | libc::SIGTERM | libc::SIGHUP | libc::SIGQUIT
    )
}

pub fn is_winch(sig: libc::c_int) -> bool {
    sig == libc::SIGWINCH
}

pub fn signal_name(sig: libc::c_int) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// Ends slipway by `sig`, as the program ended, so that a calling shell
/// sees what it would have seen without slipway (`$?` = 128+N, and a
/// script loop stops on Ctrl-C). Returns only if that failed.
pub fn die_by_signal(sig: libc::c_int) -> std::process::ExitCode {
    use std::io::Write;
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: restoring the default action and raising a signal.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    std::process::ExitCode::from(128u8.saturating_add(sig as u8))
}

// ---------------------------------------------------------------------
// How the program ended, and what the run says about it
// ---------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

impl Ended {
    pub fn from_status(status: ExitStatus) -> Ended {
        match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Exited(code),
            (None, Some(sig)) => Ended::Signaled(sig),
            (None, None) => Ended::Exited(1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: RunStatus,
    /// What a shell reports: the exit code, or 128 + the signal.
    pub exit_code: u8,
    pub signal: Option<i32>,
    /// slipway ends by this signal (after ending the run), as the program did.
    pub reraise: Option<i32>,
}

/// FINISHED on exit 0, FAILED on another exit code or a crash (SIGSEGV,
/// SIGABRT, ...), KILLED when stopped by a signal (SIGINT, SIGTERM, SIGHUP,
/// SIGQUIT, SIGKILL) or when slipway was asked to stop it (`interrupted`).
pub fn verdict(ended: Ended, interrupted: bool) -> Verdict {
    match ended {
        Ended::Exited(code) => Verdict {
            status: if interrupted {
                RunStatus::Killed
            } else if code == 0 {
                RunStatus::Finished
            } else {
                RunStatus::Failed
            },
            exit_code: (code & 0xff) as u8,
            signal: None,
            reraise: None,
        },
        Ended::Signaled(sig) => {
            let stopped = is_stop(sig) || sig == libc::SIGKILL;
            Verdict {
                status: if stopped || interrupted {
                    RunStatus::Killed
                } else {
                    RunStatus::Failed
                },
                exit_code: 128u8.saturating_add(sig as u8),
                signal: Some(sig),
                reraise: matches!(sig, libc::SIGINT | libc::SIGTERM | libc::SIGHUP).then_some(sig),
            }
        }
    }
}

// ---------------------------------------------------------------------
// Pseudo-terminals
// ---------------------------------------------------------------------

struct Pty {
    master: File,
    slave: OwnedFd,
}

fn window_size(fd: RawFd) -> Option<libc::winsize> {
    // SAFETY: TIOCGWINSZ fills a winsize.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) == 0).then_some(ws)
    }
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}

/// A pseudo-terminal the size of the terminal on `like`, whose output is
/// passed through untranslated (no `\n` → `\r\n`: slipway's own terminal
/// does that).
fn open_pty(like: RawFd) -> io::Result<Pty> {
    let ws = window_size(like);
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes the two descriptors; the termios/winsize
    // pointers are null or point to live values.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            ws.as_ref()
                .map_or(std::ptr::null(), |w| w as *const libc::winsize),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty returned two fresh descriptors that we now own.
    let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    set_cloexec(master.as_raw_fd());
    set_cloexec(slave.as_raw_fd());
    // SAFETY: tcgetattr/tcsetattr on the slave we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) == 0 {
            t.c_oflag &= !libc::OPOST;
            libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
        }
    }
    Ok(Pty { master, slave })
}

/// The program's pseudo-terminals, kept the size of slipway's terminal.
pub struct Windows {
    ptys: Vec<(File, RawFd)>,
}

impl Windows {
    pub fn is_empty(&self) -> bool {
        self.ptys.is_empty()
    }

    /// Copies the terminal's current size to the pseudo-terminals.
    pub fn sync(&self) {
        for (master, like) in &self.ptys {
            if let Some(ws) = window_size(*like) {
                // SAFETY: TIOCSWINSZ reads a winsize.
                unsafe {
                    libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------
// Spawning
// ---------------------------------------------------------------------

pub struct Spawned {
    pub child: Child,
    pub pid: libc::pid_t,
    /// The program leads its own process group (see the module docs).
    pub own_group: bool,
    pub stdout: File,
    pub stderr: File,
    pub windows: Windows,
}

/// Starts `argv` with `env` added to slipway's environment, stdin
/// inherited, stdout and stderr readable by slipway.
pub fn spawn(argv: &[OsString], env: &[(String, String)]) -> io::Result<Spawned> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command"))?;
    let own_group = !io::stdin().is_terminal();
    let out_pty = io::stdout()
        .is_terminal()
        .then(|| open_pty(libc::STDOUT_FILENO).ok())
        .flatten();
    let err_pty = io::stderr()
        .is_terminal()
        .then(|| open_pty(libc::STDERR_FILENO).ok())
        .flatten();

    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut windows = Windows { ptys: Vec::new() };
    let out_master = match out_pty {
        Some(p) => {
            cmd.stdout(Stdio::from(p.slave));
            windows
                .ptys
                .push((p.master.try_clone()?, libc::STDOUT_FILENO));
            Some(p.master)
        }
        None => {
            cmd.stdout(Stdio::piped());
            None
        }
    };
    let err_master = match err_pty {
        Some(p) => {
            cmd.stderr(Stdio::from(p.slave));
            windows
                .ptys
                .push((p.master.try_clone()?, libc::STDERR_FILENO));
            Some(p.master)
        }
        None => {
            cmd.stderr(Stdio::piped());
            None
        }
    };
    if own_group {
        cmd.process_group(0);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: getpid, prctl and getppid are async-signal-safe.
        let parent = unsafe { libc::getpid() };
        unsafe {
            cmd.pre_exec(move || {
                // If slipway dies, the program is told to stop. (This
                // follows the spawning thread: slipway spawns from its main
                // thread, which lives as long as slipway.)
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                if libc::getppid() != parent {
                    return Err(io::Error::other(
                        "slipway exited while starting the program",
                    ));
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn()?;
    // Close slipway's copies of the pseudo-terminal slaves, so reading the
    // masters ends when the program (and whatever it started) closes them.
    drop(cmd);
    let pid = child.id() as libc::pid_t;
    let stdout = match out_master {
        Some(m) => m,
        None => File::from(OwnedFd::from(child.stdout.take().expect("piped stdout"))),
    };
    let stderr = match err_master {
        Some(m) => m,
        None => File::from(OwnedFd::from(child.stderr.take().expect("piped stderr"))),
    };
    Ok(Spawned {
        child,
        pid,
        own_group,
        stdout,
        stderr,
        windows,
    })
}

/// Sends `sig` to the program: its whole process group when it has one.
pub fn signal_program(pid: libc::pid_t, own_group: bool, sig: libc::c_int) {
    // SAFETY: kill(2).
    unsafe {
        if own_group && libc::kill(-pid, sig) == 0 {
            return;
        }
        libc::kill(pid, sig);
    }
}

/// Exit code and message for a program that could not be started, as a
/// shell reports it: 127 not found, 126 found but not runnable.
pub fn spawn_failure(program: &str, err: &io::Error) -> (u8, String) {
    let has_path = program.contains('/');
    match err.kind() {
        io::ErrorKind::NotFound if !has_path => (127, format!("{program}: command not found")),
        io::ErrorKind::NotFound if std::path::Path::new(program).exists() => (
            127,
            format!("cannot run '{program}': its interpreter (the #! line) was not found"),
        ),
        io::ErrorKind::NotFound => (
            127,
            format!("cannot run '{program}': no such file or directory"),
        ),
        io::ErrorKind::PermissionDenied => (
            126,
            format!("cannot run '{program}': permission denied (is it executable?)"),
        ),
        _ => (126, format!("cannot run '{program}': {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_exit_status() {
        let v = verdict(Ended::Exited(0), false);
        assert_eq!(
            (v.status, v.exit_code, v.reraise),
            (RunStatus::Finished, 0, None)
        );
        let v = verdict(Ended::Exited(3), false);
        assert_eq!((v.status, v.exit_code), (RunStatus::Failed, 3));
        // Asked to stop, the program exited on its own terms: still KILLED.
        let v = verdict(Ended::Exited(0), true);
        assert_eq!((v.status, v.exit_code), (RunStatus::Killed, 0));
        let v = verdict(Ended::Signaled(libc::SIGINT), false);
        assert_eq!(
            (v.status, v.exit_code, v.reraise),
            (RunStatus::Killed, 130, Some(libc::SIGINT))
        );
        let v = verdict(Ended::Signaled(libc::SIGTERM), true);
        assert_eq!((v.status, v.exit_code), (RunStatus::Killed, 143));
        let v = verdict(Ended::Signaled(libc::SIGKILL), false);
        assert_eq!(
            (v.status, v.exit_code, v.reraise),
            (RunStatus::Killed, 137, None)
        );
        let v = verdict(Ended::Signaled(libc::SIGSEGV), false);
        assert_eq!(
            (v.status, v.exit_code, v.signal),
            (
                RunStatus::Failed,
                128 + libc::SIGSEGV as u8,
                Some(libc::SIGSEGV)
            )
        );
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
    }

    #[test]
    fn spawn_failures_exit_like_a_shell() {
        let nf = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(spawn_failure("nope", &nf).0, 127);
        assert!(spawn_failure("nope", &nf).1.contains("command not found"));
        assert!(spawn_failure("/nope/x", &nf).1.contains("no such file"));
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(spawn_failure("./data.csv", &denied).0, 126);
    }
}
