//! The fixed request (32-byte) and result (40-byte) frame headers.
//!
//! Parsing checks magic, version, type code and reserved bytes; the per-message rules
//! (which flags and header fields a type may use) live in [`super::payload`].

use super::{Direction, ProtocolError, RequestKind, ResultKind};

pub const REQUEST_MAGIC: [u8; 4] = *b"DXRQ";
pub const RESULT_MAGIC: [u8; 4] = *b"DXRS";
pub const PROTOCOL_VERSION: u16 = 7;
pub const REQUEST_HEADER_LEN: usize = 32;
pub const RESULT_HEADER_LEN: usize = 40;
/// Test index of results that are not about one item.
pub const NO_TEST_INDEX: u32 = u32::MAX;

/// The decoded fields of a request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    pub kind: RequestKind,
    pub flags: u8,
    pub request_id: u64,
    pub test_index: u32,
    pub payload_len: u32,
}

/// The decoded fields of a result header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultHeader {
    pub kind: ResultKind,
    pub flags: u8,
    pub request_id: u64,
    pub test_index: u32,
    pub payload_len: u32,
    pub duration_ns: u64,
    pub outcome: u8,
    pub phase: u8,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(buf)
}

/// Checks magic and version, common to both headers (`bytes` is a full header).
fn check_prefix(bytes: &[u8], expected: [u8; 4]) -> Result<(), ProtocolError> {
    let found = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if found != expected {
        return Err(ProtocolError::BadMagic { expected, found });
    }
    let version = u16_at(bytes, 4);
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion {
            found: version,
            supported: PROTOCOL_VERSION,
        });
    }
    Ok(())
}

fn truncated(context: &'static str, needed: usize, available: usize) -> ProtocolError {
    ProtocolError::Truncated {
        context,
        needed: needed as u64,
        available: available as u64,
    }
}

impl RequestHeader {
    /// Parses the first 32 bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let bytes = bytes
            .get(..REQUEST_HEADER_LEN)
            .ok_or_else(|| truncated("request header", REQUEST_HEADER_LEN, bytes.len()))?;
        check_prefix(bytes, REQUEST_MAGIC)?;
        let kind = RequestKind::from_code(bytes[6])?;
        if bytes[24..32].iter().any(|&b| b != 0) {
            return Err(ProtocolError::UnexpectedHeaderField {
                message: kind.name(),
                field: "reserved",
            });
        }
        Ok(RequestHeader {
            kind,
            flags: bytes[7],
            request_id: u64_at(bytes, 8),
            test_index: u32_at(bytes, 16),
            payload_len: u32_at(bytes, 20),
        })
    }

    pub fn to_bytes(&self) -> [u8; REQUEST_HEADER_LEN] {
        let mut out = [0u8; REQUEST_HEADER_LEN];
        out[0..4].copy_from_slice(&REQUEST_MAGIC);
        out[4..6].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        out[6] = self.kind as u8;
        out[7] = self.flags;
        out[8..16].copy_from_slice(&self.request_id.to_le_bytes());
        out[16..20].copy_from_slice(&self.test_index.to_le_bytes());
        out[20..24].copy_from_slice(&self.payload_len.to_le_bytes());
        out
    }
}

impl ResultHeader {
    /// Parses the first 40 bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let bytes = bytes
            .get(..RESULT_HEADER_LEN)
            .ok_or_else(|| truncated("result header", RESULT_HEADER_LEN, bytes.len()))?;
        check_prefix(bytes, RESULT_MAGIC)?;
        let kind = ResultKind::from_code(bytes[6])?;
        if bytes[34..40].iter().any(|&b| b != 0) {
            return Err(ProtocolError::UnexpectedHeaderField {
                message: kind.name(),
                field: "reserved",
            });
        }
        Ok(ResultHeader {
            kind,
            flags: bytes[7],
            request_id: u64_at(bytes, 8),
            test_index: u32_at(bytes, 16),
            payload_len: u32_at(bytes, 20),
            duration_ns: u64_at(bytes, 24),
            outcome: bytes[32],
            phase: bytes[33],
        })
    }

    pub fn to_bytes(&self) -> [u8; RESULT_HEADER_LEN] {
        let mut out = [0u8; RESULT_HEADER_LEN];
        out[0..4].copy_from_slice(&RESULT_MAGIC);
        out[4..6].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        out[6] = self.kind as u8;
        out[7] = self.flags;
        out[8..16].copy_from_slice(&self.request_id.to_le_bytes());
        out[16..20].copy_from_slice(&self.test_index.to_le_bytes());
        out[20..24].copy_from_slice(&self.payload_len.to_le_bytes());
        out[24..32].copy_from_slice(&self.duration_ns.to_le_bytes());
        out[32] = self.outcome;
        out[33] = self.phase;
        out
    }
}

/// Which header a direction uses; lets the stream reader share code.
pub(crate) fn header_len(direction: Direction) -> usize {
    match direction {
        Direction::Request => REQUEST_HEADER_LEN,
        Direction::Result => RESULT_HEADER_LEN,
    }
}
