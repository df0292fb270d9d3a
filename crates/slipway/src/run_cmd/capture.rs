//! The program's stdout and stderr: streamed live to slipway's own, and
//! copied to a file (never held in memory) that becomes a run artifact.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a stream is echoed.
#[derive(Debug, Clone, Copy)]
pub enum Echo {
    Stdout,
    Stderr,
}

impl Echo {
    fn write(self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Echo::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Echo::Stderr => {
                let mut err = io::stderr().lock();
                err.write_all(bytes)?;
                err.flush()
            }
        }
    }
}

/// One stream being copied by its own thread.
pub struct Pump {
    done: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
    file: Arc<Mutex<Option<File>>>,
}

impl Pump {
    /// Copies `source` until end of file to `echo` and, without terminal
    /// escape sequences, to `capture`. A failing echo (closed stdout) stops
    /// the echo, not the capture; a failing capture (disk full) stops the
    /// capture, not the echo.
    pub fn start(mut source: File, echo: Echo, capture: File) -> io::Result<Pump> {
        let done = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let file = Arc::new(Mutex::new(Some(capture)));
        let pump = Pump {
            done: done.clone(),
            bytes: bytes.clone(),
            file: file.clone(),
        };
        std::thread::Builder::new()
            .name(format!("slipway-{echo:?}").to_lowercase())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut plain = Vec::with_capacity(buf.len());
                let mut stripper = AnsiStripper::default();
                let mut echoing = true;
                loop {
                    let n = match source.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        // EIO: the pseudo-terminal's last writer closed it.
                        Err(_) => break,
                    };
                    let chunk = &buf[..n];
                    if echoing {
                        echoing = echo.write(chunk).is_ok();
                    }
                    let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(f) = guard.as_mut() {
                        plain.clear();
                        stripper.strip(chunk, &mut plain);
                        if f.write_all(&plain).is_err() {
                            *guard = None;
                        }
                    }
                    drop(guard);
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                done.store(true, Ordering::Release);
            })?;
        Ok(pump)
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Stops capturing: later output is still echoed, but the file is
    /// final (so it can be uploaded while a straggler keeps writing).
    pub fn seal(&self) {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.take() {
            let _ = f.sync_data();
        }
    }
}

/// Waits until every pump reached end of file, or none moved a byte for
/// `quiet` (a background process the program left behind may hold the
/// stream open forever). Returns whether all reached end of file.
pub async fn drained(pumps: &[&Pump], quiet: Duration) -> bool {
    let total = || pumps.iter().map(|p| p.bytes()).sum::<u64>();
    let mut last = total();
    let mut since = Instant::now();
    loop {
        if pumps.iter().all(|p| p.is_done()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = total();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return false;
        }
    }
}

/// Removes terminal escape sequences (colours, cursor moves, titles,
/// hyperlinks) from a byte stream, across chunk boundaries. Text, `\r`,
/// `\n` and `\t` pass unchanged, so progress bars stay readable.
#[derive(Debug, Default)]
pub struct AnsiStripper {
    state: State,
    len: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// After ESC.
    Esc,
    /// ESC followed by intermediate bytes (`ESC ( B`).
    EscIntermediate,
    /// Control sequence: `ESC [` parameters, final byte.
    Csi,
    /// OSC / DCS / SOS / PM / APC string, ended by BEL or `ESC \`.
    Str,
    StrEsc,
}

/// Longest sequence swallowed before assuming the ESC was stray.
const MAX_CSI: usize = 64;
const MAX_STR: usize = 8192;

impl AnsiStripper {
    pub fn strip(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.state = match self.state {
                State::Text if b == 0x1b => State::Esc,
                State::Text => {
                    out.push(b);
                    State::Text
                }
                State::Esc => {
                    self.len = 0;
                    match b {
                        b'[' => State::Csi,
                        b']' | b'P' | b'X' | b'^' | b'_' => State::Str,
                        0x20..=0x2f => State::EscIntermediate,
                        _ => State::Text,
                    }
                }
                State::EscIntermediate if (0x20..=0x2f).contains(&b) => State::EscIntermediate,
                State::EscIntermediate => State::Text,
                State::Csi => match b {
                    0x40..=0x7e => State::Text,
                    0x20..=0x3f if self.len < MAX_CSI => {
                        self.len += 1;
                        State::Csi
                    }
                    _ => {
                        // Not a control sequence after all: keep the text.
                        out.push(b);
                        State::Text
                    }
                },
                State::Str => match b {
                    0x07 => State::Text,
                    0x1b => State::StrEsc,
                    _ if self.len < MAX_STR => {
                        self.len += 1;
                        State::Str
                    }
                    _ => State::Text,
                },
                State::StrEsc if b == b'\\' => State::Text,
                State::StrEsc => State::Str,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(chunks: &[&[u8]]) -> String {
        let mut s = AnsiStripper::default();
        let mut out = Vec::new();
        for c in chunks {
            s.strip(c, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escape_sequences_are_removed() {
        assert_eq!(strip(&[b"\x1b[1;32mgreen\x1b[0m ok\n"]), "green ok\n");
        assert_eq!(strip(&[b"\x1b(Bx\x1b=y"]), "xy");
        // OSC 8 hyperlink and window title, ended by ST and BEL.
        assert_eq!(
            strip(&[b"\x1b]8;;https://x.org\x1b\\link\x1b]8;;\x1b\\ \x1b]0;title\x07done"]),
            "link done"
        );
        // Split anywhere.
        assert_eq!(
            strip(&[b"a\x1b", b"[3", b"1m", b"b\x1b]0;t", b"\x07c"]),
            "abc"
        );
        // Progress bars keep their carriage returns; UTF-8 passes through.
        assert_eq!(
            strip(&[b"10%\r\x1b[K50%\r100% \xc3\xa9\n"]),
            "10%\r50%\r100% é\n"
        );
        // A stray ESC does not swallow the rest of the line.
        assert_eq!(strip(&[b"\x1b[\xc3\xa9t\xc3\xa9\n"]), "\u{e9}t\u{e9}\n");
    }
}
