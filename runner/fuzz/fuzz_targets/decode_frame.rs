//! Feeds arbitrary bytes to every decoder: none may panic, and anything accepted must be
//! the canonical encoding of what it decoded to.
#![no_main]

use std::io::Cursor;

use dxpy_runner::protocol::{
    decode_request, decode_result, encode_request, encode_result, FrameReader,
};
use libfuzzer_sys::fuzz_target;

const LIMIT: u32 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok((frame, used)) = decode_request(data, LIMIT) {
        let again = encode_request(&frame).expect("a decoded request must re-encode");
        assert_eq!(&again[..], &data[..used]);
    }
    if let Ok((frame, used)) = decode_result(data, LIMIT) {
        let again = encode_result(&frame).expect("a decoded result must re-encode");
        assert_eq!(&again[..], &data[..used]);
    }
    // Streams: read until the first error or the end; must terminate without panicking.
    let mut reader = FrameReader::with_limit(Cursor::new(data), LIMIT);
    while let Ok(Some(_)) = reader.read_result() {}
    let mut reader = FrameReader::with_limit(Cursor::new(data), LIMIT);
    while let Ok(Some(_)) = reader.read_request() {}
});
