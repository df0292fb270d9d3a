//! A child's stdout and stderr as one stream of lines, read on two threads
//! so neither pipe fills up and blocks the child.

use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::sync::mpsc::{channel, Receiver};
use std::thread::JoinHandle;

/// The lines `child` writes to stdout and stderr (in arrival order across
/// the two), and the reader threads to join once the receiver is drained.
pub(crate) fn child_lines(child: &mut Child) -> (Receiver<String>, Vec<JoinHandle<()>>) {
    let (tx, rx) = channel::<String>();
    let mut readers = Vec::new();
    let mut read = |pipe: Box<dyn Read + Send>| {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        }));
    };
    if let Some(out) = child.stdout.take() {
        read(Box::new(out));
    }
    if let Some(err) = child.stderr.take() {
        read(Box::new(err));
    }
    (rx, readers)
}
