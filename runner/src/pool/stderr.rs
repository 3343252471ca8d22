//! A worker's (or the zygote's) stderr: drained on its own thread into a bounded tail, so a
//! chatty process never blocks and a crash report can quote its last lines.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Lines of stderr kept for crash reports (enough for a faulthandler dump with its
/// "Fatal Python error" header), and the longest line kept.
const STDERR_TAIL_LINES: usize = 60;
const STDERR_LINE_CHARS: usize = 500;
/// Receives a worker's stderr lines as they arrive.
pub type StderrSink = Box<dyn Fn(String) + Send>;

/// The last lines a worker (or the zygote) wrote to stderr.
#[derive(Debug, Default)]
pub(crate) struct StderrTail {
    lines: VecDeque<String>,
}

impl StderrTail {
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }

    pub(crate) fn push(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        let kept: String = text.chars().take(STDERR_LINE_CHARS).collect();
        if self.lines.len() == STDERR_TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(kept);
    }
}

/// Reads `stderr` line by line until EOF on its own thread, keeping the last lines in `tail`
/// and handing each line (without its newline) to `sink` when there is one.
pub(crate) fn spawn_stderr_reader(
    stderr: impl Read + Send + 'static,
    tail: Arc<Mutex<StderrTail>>,
    sink: Option<StderrSink>,
) -> StderrReader {
    let (finished_tx, finished) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // Dropped when the thread ends, however it ends: that wakes `drain_stderr`.
        let _finished_tx = finished_tx;
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Some(sink) = &sink {
                        let text = String::from_utf8_lossy(&line);
                        sink(text.trim_end_matches(['\n', '\r']).to_owned());
                    }
                    if let Ok(mut tail) = tail.lock() {
                        tail.push(&line);
                    }
                }
            }
        }
    });
    StderrReader { thread, finished }
}

/// The thread copying a worker's stderr, and a channel that disconnects when it ends (so a
/// caller can wait for the end with a timeout instead of polling).
#[derive(Debug)]
pub(crate) struct StderrReader {
    thread: JoinHandle<()>,
    finished: std::sync::mpsc::Receiver<()>,
}

impl StderrReader {
    /// Waits at most `grace` for the end of the stream, then joins the thread if it ended.
    pub(crate) fn wait(self, grace: Duration) {
        match self.finished.recv_timeout(grace) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            // Nothing is ever sent: the sender's drop is the thread's end.
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = self.thread.join();
            }
        }
    }
}
