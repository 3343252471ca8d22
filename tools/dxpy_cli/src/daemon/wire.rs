//! The frames between `dx-py test` (the client) and the project's daemon, over its Unix
//! socket: a big-endian `u32` length, then that many bytes of one postcard-encoded message.
//! A frame longer than [`MAX_FRAME`] or a body that does not decode to the expected type is
//! an error: the peer is not trusted to be well-formed.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Larger than any output chunk or environment; small enough that a bad length cannot make
/// the reader allocate without bound.
pub const MAX_FRAME: u32 = 16 << 20;

/// Who is talking: a daemon serves only clients of exactly its own build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// dx-py's version.
    pub version: String,
    /// The binary itself: its path, size and modification time (a rebuild is another binary).
    pub binary: String,
}

/// Client to daemon. The first frame of a connection is always [`Request::Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Hello(Identity),
    /// Run `dx-py ARGV` (a `test` command line) as if started in `cwd` with `env`.
    Run(RunRequest),
    /// Stop the request this connection runs (Ctrl-C in the client).
    Cancel,
    Status,
    /// Stop the daemon.
    Stop,
}

/// One `dx-py test` run, with everything of the client's process that shapes its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The command line after the program name (`test ...`), as raw bytes.
    pub argv: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    /// The client's whole environment, as raw bytes.
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
    pub stdout_is_terminal: bool,
    /// What `render::terminal_width()` gives in the client.
    pub terminal_width: u32,
}

/// Daemon to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The daemon's identity; `accepted` is false when it differs from the client's (the
    /// daemon then shuts down, to be replaced).
    Hello {
        identity: Identity,
        accepted: bool,
    },
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The run's exit code: the last frame of a run.
    Exit(i32),
    Status(Status),
    /// The daemon is stopping (the answer to [`Request::Stop`]).
    Stopping,
    /// The request could not be served; the client runs it itself.
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub uptime_secs: u64,
    pub rootdir: String,
    pub interpreter: String,
    pub requests: u64,
    /// The pid of the warm zygote interpreter, when one runs.
    pub zygote_pid: Option<u32>,
    /// The modules that zygote imported besides pytest.
    pub preload: Vec<String>,
    /// The pid of the worker started ahead of the next request, when one waits.
    pub spare_pid: Option<u32>,
    /// Requests whose worker was a spare.
    pub spares_used: u64,
    /// The pids of the workers parked before their conftests, waiting for a request.
    pub parked_pids: Vec<u32>,
    /// Requests whose worker was a parked spare, resumed.
    pub parked_resumed: u64,
    /// A request is running, or its recording and the next spares are being made.
    pub busy: bool,
}

/// Writes one frame.
pub fn write_frame<T: Serialize>(mut out: impl Write, message: &T) -> io::Result<()> {
    let body = postcard::to_stdvec(message).map_err(io::Error::other)?;
    let length = u32::try_from(body.len())
        .ok()
        .filter(|&n| n <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` when the peer closed the connection between frames.
pub fn read_frame<T: for<'de> Deserialize<'de>>(mut input: impl Read) -> io::Result<Option<T>> {
    let mut length = [0u8; 4];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let length = u32::from_be_bytes(length);
    if length > MAX_FRAME {
        return Err(invalid(format!(
            "frame of {length} bytes exceeds the limit"
        )));
    }
    let mut body = vec![0u8; length as usize];
    input.read_exact(&mut body)?;
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|err| invalid(format!("malformed frame: {err}")))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(message: &T) -> T
    where
        T: Serialize + for<'de> Deserialize<'de>,
    {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, message).expect("write");
        let mut input = bytes.as_slice();
        let read = read_frame(&mut input).expect("read").expect("a frame");
        assert!(input.is_empty(), "the frame was read whole");
        read
    }

    #[test]
    fn requests_and_replies_survive_a_round_trip() {
        let run = Request::Run(RunRequest {
            argv: vec![b"test".to_vec(), vec![0xff, b'x']],
            cwd: b"/tmp/p".to_vec(),
            env: vec![(b"A".to_vec(), b"\xfe".to_vec())],
            stdout_is_terminal: true,
            terminal_width: 132,
        });
        assert_eq!(round_trip(&run), run);
        let reply = Reply::Stdout(b"x\n".to_vec());
        assert_eq!(round_trip(&reply), reply);
        assert_eq!(round_trip(&Reply::Exit(-3)), Reply::Exit(-3));
    }

    #[test]
    fn a_closed_connection_between_frames_is_none() {
        let read: Option<Reply> = read_frame(&mut [].as_slice()).expect("read");
        assert_eq!(read, None);
    }

    #[test]
    fn an_oversized_length_is_refused_without_reading_on() {
        let bytes = (MAX_FRAME + 1).to_be_bytes();
        let err = read_frame::<Reply>(&mut bytes.as_slice()).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_body_of_another_type_or_truncated_is_an_error() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &Reply::Exit(1)).expect("write");
        // Variant 99 does not exist.
        let bad = [0, 0, 0, 1, 99];
        assert_eq!(
            read_frame::<Reply>(&mut bad.as_slice())
                .expect_err("bad variant")
                .kind(),
            io::ErrorKind::InvalidData
        );
        let truncated = &bytes[..bytes.len() - 1];
        assert!(read_frame::<Reply>(&mut &truncated[..]).is_err());
    }
}
