//! Blocking frame I/O over byte streams (the worker's pipes).
//!
//! [`FrameReader`] reads exactly one header, checks the payload length against its limit
//! before allocating, then reads exactly the payload. End of stream before the first header
//! byte is a clean end (`Ok(None)`); end of stream anywhere else is
//! [`ProtocolError::UnexpectedEof`], so a dead worker never hangs or panics the reader.

use std::io::{ErrorKind, Read, Write};

use super::header::{header_len, RequestHeader, ResultHeader};
use super::payload::{
    check_request_limit, check_result_limit, decode_request_parts, decode_result_parts,
    encode_request, encode_result, DEFAULT_MAX_PAYLOAD,
};
use super::{Direction, ProtocolError, RequestFrame, ResultFrame};

/// Reads frames from a byte stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    max_payload: u32,
}

/// How much of a buffer `fill` managed to read before end of stream.
enum Fill {
    Complete,
    EndAt(usize),
}

fn fill<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<Fill, ProtocolError> {
    let mut read = 0;
    while read < buf.len() {
        match reader.read(&mut buf[read..]) {
            Ok(0) => return Ok(Fill::EndAt(read)),
            Ok(n) => read += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Fill::Complete)
}

impl<R: Read> FrameReader<R> {
    /// A reader refusing payloads over [`DEFAULT_MAX_PAYLOAD`].
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, DEFAULT_MAX_PAYLOAD)
    }

    pub fn with_limit(inner: R, max_payload: u32) -> Self {
        FrameReader { inner, max_payload }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads a header; `None` at a clean end of stream.
    fn read_header(
        &mut self,
        direction: Direction,
        buf: &mut [u8],
    ) -> Result<Option<()>, ProtocolError> {
        debug_assert_eq!(buf.len(), header_len(direction));
        match fill(&mut self.inner, buf)? {
            Fill::Complete => Ok(Some(())),
            Fill::EndAt(0) => Ok(None),
            Fill::EndAt(read) => Err(ProtocolError::UnexpectedEof {
                context: match direction {
                    Direction::Request => "request header",
                    Direction::Result => "result header",
                },
                read: read as u64,
                needed: buf.len() as u64,
            }),
        }
    }

    fn read_payload(&mut self, payload_len: u32) -> Result<Vec<u8>, ProtocolError> {
        let mut payload = vec![0u8; payload_len as usize];
        match fill(&mut self.inner, &mut payload)? {
            Fill::Complete => Ok(payload),
            Fill::EndAt(read) => Err(ProtocolError::UnexpectedEof {
                context: "payload",
                read: read as u64,
                needed: payload_len as u64,
            }),
        }
    }

    /// Reads the next request; `Ok(None)` when the stream ended between frames.
    pub fn read_request(&mut self) -> Result<Option<RequestFrame>, ProtocolError> {
        let mut buf = [0u8; super::REQUEST_HEADER_LEN];
        if self.read_header(Direction::Request, &mut buf)?.is_none() {
            return Ok(None);
        }
        let header = RequestHeader::parse(&buf)?;
        check_request_limit(&header, self.max_payload)?;
        let payload = self.read_payload(header.payload_len)?;
        decode_request_parts(&header, &payload).map(Some)
    }

    /// Reads the next result; `Ok(None)` when the stream ended between frames.
    pub fn read_result(&mut self) -> Result<Option<ResultFrame>, ProtocolError> {
        let mut buf = [0u8; super::RESULT_HEADER_LEN];
        if self.read_header(Direction::Result, &mut buf)?.is_none() {
            return Ok(None);
        }
        let header = ResultHeader::parse(&buf)?;
        check_result_limit(&header, self.max_payload)?;
        let payload = self.read_payload(header.payload_len)?;
        decode_result_parts(&header, &payload).map(Some)
    }
}

/// Writes frames to a byte stream, one `write_all` per frame.
#[derive(Debug)]
pub struct FrameWriter<W> {
    inner: W,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(inner: W) -> Self {
        FrameWriter { inner }
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Writes and flushes one request.
    pub fn write_request(&mut self, frame: &RequestFrame) -> Result<(), ProtocolError> {
        let bytes = encode_request(frame)?;
        self.inner.write_all(&bytes)?;
        self.inner.flush()?;
        Ok(())
    }

    /// Writes and flushes one result.
    pub fn write_result(&mut self, frame: &ResultFrame) -> Result<(), ProtocolError> {
        let bytes = encode_result(frame)?;
        self.inner.write_all(&bytes)?;
        self.inner.flush()?;
        Ok(())
    }
}
