//! Bazel's persistent worker protocol (`worker_protocol.proto`, package `blaze.worker`),
//! declared by hand with prost's derive so no protoc is needed, and the stream framing: each
//! message is preceded by its length as a protobuf varint, in both directions.
//!
//! Field numbers follow Bazel's proto: `Input{path=1, digest=2}`, `WorkRequest{arguments=1,
//! inputs=2, request_id=3, cancel=4, verbosity=5, sandbox_dir=6}`, `WorkResponse{exit_code=1,
//! output=2, request_id=3, was_cancelled=4}`.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Frames larger than this are refused rather than allocated: a corrupt length prefix must not
/// make the worker reserve gigabytes.
pub const MAX_FRAME_LEN: u64 = 256 * 1024 * 1024;

/// One input file of a request (path relative to the execroot or sandbox, content digest).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Input {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(bytes = "vec", tag = "2")]
    pub digest: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkRequest {
    #[prost(string, repeated, tag = "1")]
    pub arguments: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub inputs: Vec<Input>,
    /// 0: singleplex; otherwise unique among the requests in flight (multiplex).
    #[prost(int32, tag = "3")]
    pub request_id: i32,
    /// Asks to cancel the request with the same `request_id`.
    #[prost(bool, tag = "4")]
    pub cancel: bool,
    #[prost(int32, tag = "5")]
    pub verbosity: i32,
    /// Multiplex sandboxing: the directory the request's paths are relative to.
    #[prost(string, tag = "6")]
    pub sandbox_dir: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkResponse {
    #[prost(int32, tag = "1")]
    pub exit_code: i32,
    #[prost(string, tag = "2")]
    pub output: String,
    #[prost(int32, tag = "3")]
    pub request_id: i32,
    #[prost(bool, tag = "4")]
    pub was_cancelled: bool,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("reading the request stream: {0}")]
    Io(#[from] io::Error),
    #[error("the stream ended inside a frame ({0})")]
    Truncated(&'static str),
    #[error("malformed length prefix (varint longer than 10 bytes)")]
    BadLength,
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(u64),
    #[error("malformed message: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Reads one length-delimited message; `Ok(None)` on a clean end of stream (EOF before the
/// first byte of a frame).
pub fn read_frame<M: prost::Message + Default>(
    input: &mut impl Read,
) -> Result<Option<M>, FrameError> {
    let Some(len) = read_length(input)? else {
        return Ok(None);
    };
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    // Bounded by MAX_FRAME_LEN above, so the conversion cannot truncate on 64-bit targets.
    let len = usize::try_from(len).map_err(|_| FrameError::TooLarge(len))?;
    let mut body = vec![0u8; len];
    input
        .read_exact(&mut body)
        .map_err(|err| match err.kind() {
            io::ErrorKind::UnexpectedEof => FrameError::Truncated("message body"),
            _ => FrameError::Io(err),
        })?;
    Ok(Some(M::decode(body.as_slice())?))
}

/// The varint length prefix, byte by byte (a stream cannot be handed to prost as one buffer).
fn read_length(input: &mut impl Read) -> Result<Option<u64>, FrameError> {
    let mut value: u64 = 0;
    for index in 0..10u32 {
        let mut byte = [0u8; 1];
        loop {
            match input.read(&mut byte) {
                Ok(0) if index == 0 => return Ok(None),
                Ok(0) => return Err(FrameError::Truncated("length prefix")),
                Ok(_) => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(FrameError::Io(err)),
            }
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * index);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(FrameError::BadLength)
}

/// Writes one message with prost's length-delimited encoding and flushes it, so a response is
/// never left half in a buffer.
pub fn write_frame(output: &mut impl Write, message: &impl prost::Message) -> io::Result<()> {
    output.write_all(&message.encode_length_delimited_to_vec())?;
    output.flush()
}

impl WorkRequest {
    /// The directory the request's paths are relative to: its `sandbox_dir` (relative to the
    /// worker's working directory) when it has one, else `cwd` (the execroot).
    pub fn base_dir(&self, cwd: &Path) -> PathBuf {
        if self.sandbox_dir.is_empty() {
            cwd.to_path_buf()
        } else {
            cwd.join(&self.sandbox_dir)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message as _;

    fn request_strategy() -> impl Strategy<Value = WorkRequest> {
        (
            proptest::collection::vec(".*", 0..6),
            proptest::collection::vec((".*", proptest::collection::vec(any::<u8>(), 0..40)), 0..4),
            any::<i32>(),
            any::<bool>(),
            any::<i32>(),
            ".*",
        )
            .prop_map(
                |(arguments, inputs, request_id, cancel, verbosity, sandbox_dir)| WorkRequest {
                    arguments,
                    inputs: inputs
                        .into_iter()
                        .map(|(path, digest)| Input { path, digest })
                        .collect(),
                    request_id,
                    cancel,
                    verbosity,
                    sandbox_dir,
                },
            )
    }

    proptest! {
        /// Several frames written with prost's length-delimited encoding read back one by one,
        /// in order, and the stream then ends cleanly.
        #[test]
        fn frames_round_trip(requests in proptest::collection::vec(request_strategy(), 0..5)) {
            let mut stream = Vec::new();
            for request in &requests {
                write_frame(&mut stream, request).expect("write to a Vec");
            }
            let mut reader = stream.as_slice();
            for request in &requests {
                let read: Option<WorkRequest> = read_frame(&mut reader).expect("well-formed");
                prop_assert_eq!(read.as_ref(), Some(request));
            }
            prop_assert!(read_frame::<WorkRequest>(&mut reader).expect("clean end").is_none());
        }

        /// Any strict prefix of a non-empty frame is an error, never a hang or a bogus message.
        #[test]
        fn truncated_frames_are_errors(request in request_strategy(), cut in any::<prop::sample::Index>()) {
            let bytes = request.encode_length_delimited_to_vec();
            let cut = 1 + cut.index(bytes.len() - 1).min(bytes.len() - 2);
            let mut reader = &bytes[..cut];
            prop_assert!(read_frame::<WorkRequest>(&mut reader).is_err());
        }
    }

    #[test]
    fn responses_decode_with_prosts_own_decoder() {
        let response = WorkResponse {
            exit_code: 3,
            output: "boom".into(),
            request_id: 7,
            was_cancelled: true,
        };
        let mut stream = Vec::new();
        write_frame(&mut stream, &response).expect("write");
        let decoded = WorkResponse::decode_length_delimited(stream.as_slice()).expect("decode");
        assert_eq!(decoded, response);
    }

    #[test]
    fn field_numbers_match_bazels_proto() {
        // request_id=3 (varint 5) as field 3 wire type 0 is tag byte 0x18; cancel=4 is 0x20;
        // verbosity=5 is 0x28; sandbox_dir=6 (length-delimited) is 0x32.
        let request = WorkRequest {
            request_id: 5,
            cancel: true,
            verbosity: 1,
            sandbox_dir: "s".into(),
            ..WorkRequest::default()
        };
        assert_eq!(
            request.encode_to_vec(),
            vec![0x18, 5, 0x20, 1, 0x28, 1, 0x32, 1, b's']
        );
        let response = WorkResponse {
            exit_code: 1,
            output: "o".into(),
            request_id: 2,
            was_cancelled: true,
        };
        assert_eq!(
            response.encode_to_vec(),
            vec![0x08, 1, 0x12, 1, b'o', 0x18, 2, 0x20, 1]
        );
    }

    #[test]
    fn request_paths_are_relative_to_the_sandbox_when_there_is_one() {
        let cwd = Path::new("/execroot/_main");
        let mut request = WorkRequest::default();
        assert_eq!(request.base_dir(cwd), PathBuf::from("/execroot/_main"));
        request.sandbox_dir = "__sandbox/3/_main".into();
        assert_eq!(
            request.base_dir(cwd),
            PathBuf::from("/execroot/_main/__sandbox/3/_main")
        );
    }

    #[test]
    fn oversized_and_overlong_prefixes_are_refused() {
        let mut huge: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            read_frame::<WorkRequest>(&mut huge),
            Err(FrameError::TooLarge(_))
        ));
        let mut overlong: &[u8] = &[0xff; 11];
        assert!(matches!(
            read_frame::<WorkRequest>(&mut overlong),
            Err(FrameError::BadLength)
        ));
        let mut garbage: &[u8] = &[3, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame::<WorkRequest>(&mut garbage),
            Err(FrameError::Decode(_))
        ));
    }
}
