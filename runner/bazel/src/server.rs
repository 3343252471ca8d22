//! The persistent worker loop: reads [`WorkRequest`]s, runs them through a handler, writes
//! [`WorkResponse`]s.
//!
//! - `request_id == 0` (singleplex): handled in order on the reading thread.
//! - `request_id != 0` (multiplex): each request gets a thread; at most `max_parallel` run at
//!   once (the others wait for a permit in their own thread, so the reader keeps reading and
//!   can still see cancel requests). Responses are written whole under one lock.
//! - `cancel`: the named request's [`CancelToken`] is set; its handler is expected to stop
//!   (kill its interpreters) and the response then says `was_cancelled`. A cancel for a request
//!   that already finished (or never existed) is ignored, so each request is answered once.
//! - End of input: the requests in flight finish and are answered, then [`serve`] returns.
//!   A malformed frame cancels the requests in flight and returns the error: the caller
//!   reports it and exits instead of waiting for input that cannot be framed any more.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crate::proto::{read_frame, write_frame, FrameError, WorkRequest, WorkResponse};

/// The argument Bazel adds to a worker's command line to start it as a persistent worker
/// (requests then come on stdin); without it the command is one request, given as arguments.
pub const PERSISTENT_WORKER_FLAG: &str = "--persistent_worker";

/// Whether `args` (the command line after the subcommand) start a persistent worker.
pub fn is_persistent_worker<S: AsRef<str>>(args: &[S]) -> bool {
    args.iter()
        .any(|arg| arg.as_ref() == PERSISTENT_WORKER_FLAG)
}

/// Set when Bazel cancels the request; shared with the run so it can kill its interpreters.
pub type CancelToken = Arc<AtomicBool>;

/// What the handler answers for one request (the server fills in the request ID and
/// `was_cancelled`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub exit_code: i32,
    pub output: String,
}

/// Why the loop stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("bad request frame: {0}")]
    Frame(#[from] FrameError),
    #[error("writing a response: {0}")]
    Write(std::io::Error),
}

/// A counting semaphore bounding the requests that run at once.
#[derive(Debug)]
struct Permits {
    free: Mutex<usize>,
    available: Condvar,
}

impl Permits {
    fn acquire(&self) -> PermitGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .available
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        PermitGuard(self)
    }
}

struct PermitGuard<'a>(&'a Permits);

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        self.0.available.notify_one();
    }
}

/// Serves requests from `input` until it ends; see the module docs.
pub fn serve<R, W, H>(
    mut input: R,
    output: W,
    max_parallel: usize,
    handler: H,
) -> Result<(), ServeError>
where
    R: Read,
    W: Write + Send,
    H: Fn(&WorkRequest, &CancelToken) -> Reply + Sync,
{
    let output = Mutex::new(output);
    let write_error: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let in_flight: Mutex<HashMap<i32, CancelToken>> = Mutex::new(HashMap::new());
    let permits = Permits {
        free: Mutex::new(max_parallel.max(1)),
        available: Condvar::new(),
    };
    let respond = |response: WorkResponse| {
        let mut out = output.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = write_frame(&mut *out, &response) {
            write_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(err);
        }
    };
    let result = std::thread::scope(|scope| -> Result<(), ServeError> {
        loop {
            let request: WorkRequest = match read_frame(&mut input) {
                Ok(Some(request)) => request,
                Ok(None) => return Ok(()),
                Err(err) => {
                    for token in in_flight
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .values()
                    {
                        token.store(true, Ordering::SeqCst);
                    }
                    return Err(err.into());
                }
            };
            if request.cancel {
                if let Some(token) = in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&request.request_id)
                {
                    token.store(true, Ordering::SeqCst);
                }
                continue;
            }
            let token: CancelToken = Arc::new(AtomicBool::new(false));
            if request.request_id == 0 {
                let reply = run_handler(&handler, &request, &token);
                respond(response_of(0, reply, false));
                continue;
            }
            in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(request.request_id, Arc::clone(&token));
            let (handler, respond, in_flight, permits) = (&handler, &respond, &in_flight, &permits);
            scope.spawn(move || {
                let id = request.request_id;
                let reply = {
                    let _permit = permits.acquire();
                    if token.load(Ordering::SeqCst) {
                        None
                    } else {
                        Some(run_handler(handler, &request, &token))
                    }
                };
                // Leaving the in-flight table first makes a late cancel a no-op, so this is
                // the only response for `id`.
                in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
                let cancelled = token.load(Ordering::SeqCst);
                let reply = reply.unwrap_or(Reply {
                    exit_code: 1,
                    output: "cancelled before it started".to_owned(),
                });
                respond(response_of(id, reply, cancelled));
            });
        }
    });
    result?;
    match write_error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some(err) => Err(ServeError::Write(err)),
        None => Ok(()),
    }
}

/// Runs the handler; a panic becomes an error reply, so one bad request neither kills the
/// worker nor leaves Bazel waiting for its response.
fn run_handler<H>(handler: &H, request: &WorkRequest, token: &CancelToken) -> Reply
where
    H: Fn(&WorkRequest, &CancelToken) -> Reply,
{
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(request, token)))
        .unwrap_or_else(|panic| Reply {
            exit_code: 1,
            output: format!(
                "internal error while handling the request: {}",
                panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("panic")
            ),
        })
}

fn response_of(request_id: i32, reply: Reply, was_cancelled: bool) -> WorkResponse {
    WorkResponse {
        exit_code: reply.exit_code,
        output: reply.output,
        request_id,
        was_cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn frames(requests: &[WorkRequest]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for request in requests {
            write_frame(&mut bytes, request).expect("write");
        }
        bytes
    }

    fn responses(mut bytes: &[u8]) -> Vec<WorkResponse> {
        let mut out = Vec::new();
        while let Some(response) = read_frame(&mut bytes).expect("well-formed response") {
            out.push(response);
        }
        out
    }

    fn request(id: i32, args: &[&str]) -> WorkRequest {
        WorkRequest {
            request_id: id,
            arguments: args.iter().map(|a| a.to_string()).collect(),
            ..WorkRequest::default()
        }
    }

    #[test]
    fn only_the_persistent_worker_flag_starts_a_persistent_worker() {
        assert!(is_persistent_worker(&["--persistent_worker"]));
        assert!(!is_persistent_worker(&["@pkg/t.params"]));
        assert!(!is_persistent_worker(&["--persistent-worker"]));
    }

    #[test]
    fn multiplex_requests_run_concurrently_and_are_each_answered_once() {
        let input = frames(&[request(1, &["a"]), request(2, &["b"]), request(3, &["c"])]);
        let mut output = Vec::new();
        let running = std::sync::atomic::AtomicUsize::new(0);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        serve(input.as_slice(), &mut output, 3, |req, _| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(150));
            running.fetch_sub(1, Ordering::SeqCst);
            Reply {
                exit_code: req.request_id,
                output: req.arguments.join(","),
            }
        })
        .expect("serve");
        let mut got: Vec<(i32, i32, String)> = responses(&output)
            .into_iter()
            .map(|r| (r.request_id, r.exit_code, r.output))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![(1, 1, "a".into()), (2, 2, "b".into()), (3, 3, "c".into())]
        );
        assert!(peak.load(Ordering::SeqCst) > 1, "requests did not overlap");
    }

    #[test]
    fn the_parallelism_bound_holds() {
        let input = frames(&(1..=4).map(|id| request(id, &[])).collect::<Vec<_>>());
        let running = std::sync::atomic::AtomicUsize::new(0);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        let mut output = Vec::new();
        serve(input.as_slice(), &mut output, 2, |_, _| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(80));
            running.fetch_sub(1, Ordering::SeqCst);
            Reply {
                exit_code: 0,
                output: String::new(),
            }
        })
        .expect("serve");
        assert_eq!(responses(&output).len(), 4);
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_cancelled_request_is_answered_as_cancelled() {
        let mut cancel = request(9, &[]);
        cancel.cancel = true;
        let input = frames(&[request(9, &[]), cancel]);
        let mut output = Vec::new();
        let start = Instant::now();
        serve(input.as_slice(), &mut output, 2, |_, token| {
            // Stands in for a run that polls its interrupt flag.
            while !token.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(5));
            }
            Reply {
                exit_code: 0,
                output: String::new(),
            }
        })
        .expect("serve");
        let got = responses(&output);
        assert_eq!(got.len(), 1);
        assert!(got[0].was_cancelled);
        assert_eq!(got[0].request_id, 9);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_panicking_handler_gives_an_error_reply_and_the_loop_goes_on() {
        let input = frames(&[request(1, &["boom"]), request(2, &["fine"])]);
        let mut output = Vec::new();
        serve(input.as_slice(), &mut output, 2, |req, _| {
            if req.arguments[0] == "boom" {
                panic!("handler exploded");
            }
            Reply {
                exit_code: 0,
                output: "ok".into(),
            }
        })
        .expect("serve");
        let mut got: Vec<(i32, i32, String)> = responses(&output)
            .into_iter()
            .map(|r| (r.request_id, r.exit_code, r.output))
            .collect();
        got.sort();
        assert_eq!(got[0].1, 1);
        assert!(got[0].2.contains("handler exploded"), "{}", got[0].2);
        assert_eq!(got[1], (2, 0, "ok".into()));
    }

    #[test]
    fn singleplex_requests_run_in_order_and_a_malformed_frame_ends_the_loop() {
        let mut input = frames(&[request(0, &["first"]), request(0, &["second"])]);
        input.extend_from_slice(&[4, 0xff, 0xff]);
        let mut output = Vec::new();
        let err = serve(input.as_slice(), &mut output, 1, |req, _| Reply {
            exit_code: 0,
            output: req.arguments.join(","),
        })
        .expect_err("truncated frame");
        assert!(
            matches!(err, ServeError::Frame(FrameError::Truncated(_))),
            "{err}"
        );
        let outputs: Vec<String> = responses(&output).into_iter().map(|r| r.output).collect();
        assert_eq!(outputs, vec!["first", "second"]);
    }
}
