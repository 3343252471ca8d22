//! Codec tests: round trips and malformed-input properties (proptest), descriptive errors
//! (insta), and the golden frames shared with the Python codec's tests.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

// --- strategies ---------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z_/.:\\[\\]-]{0,24}",
        any::<String>()
    ]
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn engine() -> impl Strategy<Value = Engine> {
    prop_oneof![
        Just(Engine::Auto),
        Just(Engine::Pytest),
        Just(Engine::Native)
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Passed),
        Just(Outcome::Failed),
        Just(Outcome::Skipped),
        Just(Outcome::XFailed),
        Just(Outcome::XPassed),
        Just(Outcome::Error),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (
            text(),
            texts(),
            engine(),
            texts(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(
                |(
                    rootdir,
                    sys_path,
                    engine,
                    pytest_args,
                    output_limit,
                    terminal_width,
                    record_execution,
                    park,
                )| {
                    Request::Hello(Hello {
                        rootdir,
                        sys_path,
                        engine,
                        pytest_args,
                        output_limit,
                        terminal_width,
                        record_execution,
                        park,
                    })
                }
            ),
        (any::<u32>(), any::<bool>(), texts()).prop_map(|(first_index, keep_session, node_ids)| {
            Request::RunItems(RunItems {
                first_index,
                keep_session,
                node_ids,
            })
        }),
        (any::<u32>(), any::<bool>(), text()).prop_map(|(first_index, keep_session, path)| {
            Request::RunModule(RunModule {
                first_index,
                keep_session,
                path,
            })
        }),
        Just(Request::Shutdown),
        Just(Request::Resume),
        texts().prop_map(|modules| Request::Preload(Preload { modules })),
        texts().prop_map(|paths| Request::ImportModules(ImportModules { paths })),
        (any::<u32>(), any::<bool>(), texts(), texts(), texts()).prop_map(
            |(first_index, keep_session, paths, skip_dirs, skip_items)| {
                Request::RunHookItems(RunHookItems {
                    first_index,
                    keep_session,
                    paths,
                    skip_dirs,
                    skip_items,
                })
            }
        ),
    ]
}

/// Boxed: the unboxed strategy type is large enough to overflow a test thread's stack.
fn item_result() -> BoxedStrategy<ItemResult> {
    let flags = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>());
    let texts4 = (text(), text(), text(), text());
    let sections = prop::collection::vec((text(), text()), 0..3);
    let location = (text(), any::<Option<u32>>(), text());
    let phase = prop_oneof![Just(Phase::Setup), Just(Phase::Call), Just(Phase::Teardown)];
    (
        any::<u32>(),
        outcome(),
        phase,
        any::<u64>(),
        flags,
        texts4,
        sections,
        text(),
        location,
        text(),
        prop::array::uniform6(text()),
    )
        .prop_map(
            |(
                test_index,
                outcome,
                phase,
                nanos,
                flags,
                texts4,
                sections,
                skip_reason,
                location,
                category,
                [letter, word, head_line, crash_line, crash_message, skip_location],
            )| ItemResult {
                test_index,
                node_id: texts4.0,
                outcome,
                phase,
                duration: Duration::from_nanos(nanos),
                item_finished: flags.0,
                output_truncated: flags.1,
                in_summary: flags.2,
                longrepr: texts4.1,
                stdout: texts4.2,
                stderr: texts4.3,
                sections: sections
                    .into_iter()
                    .map(|(title, content)| Section { title, content })
                    .collect(),
                skip_reason,
                location: Location {
                    path: location.0,
                    line: location.1,
                    domain: location.2,
                },
                category,
                letter,
                word,
                head_line,
                crash_line,
                crash_message,
                progress_hidden: flags.3,
                skip_location,
            },
        )
        .boxed()
}

/// Files with strictly increasing `def` lines from 1 (the only encodable kind).
fn executed_files() -> impl Strategy<Value = Vec<ExecutedFile>> {
    prop::collection::vec(
        (text(), prop::collection::btree_set(1u32..u32::MAX, 0..5)),
        0..4,
    )
    .prop_map(|files| {
        files
            .into_iter()
            .map(|(path, lines)| ExecutedFile {
                path,
                def_lines: lines.into_iter().collect(),
            })
            .collect()
    })
}

fn record_message() -> impl Strategy<Value = WorkerMessage> {
    prop_oneof![
        (
            any::<u32>(),
            text(),
            any::<bool>(),
            executed_files(),
            texts()
        )
            .prop_map(|(test_index, node_id, coarse, files, imported)| {
                WorkerMessage::Executed(Executed {
                    test_index,
                    node_id,
                    coarse,
                    files,
                    imported,
                })
            }),
        (any::<bool>(), texts(), executed_files()).prop_map(|(coarse, instrumented, files)| {
            WorkerMessage::Ambient(Ambient {
                coarse,
                instrumented,
                files,
            })
        }),
    ]
}

fn worker_message() -> impl Strategy<Value = WorkerMessage> {
    let stop = prop_oneof![
        Just(StopKind::Completed),
        Just(StopKind::Interrupted),
        Just(StopKind::ShouldStop),
        Just(StopKind::Exit)
    ];
    prop_oneof![
        (
            any::<u32>(),
            prop_oneof![Just(Engine::Pytest), Just(Engine::Native)],
            text(),
            text()
        )
            .prop_map(|(pid, engine, python_version, pytest_version)| {
                WorkerMessage::Ready(Ready {
                    pid,
                    engine,
                    python_version,
                    pytest_version,
                })
            }),
        item_result().prop_map(|item| WorkerMessage::ItemResult(Box::new(item))),
        record_message(),
        texts().prop_map(|node_ids| WorkerMessage::Deselected(Deselected { node_ids })),
        (0u8..4, text()).prop_map(|(level, message)| {
            WorkerMessage::Log(LogRecord {
                level: LogLevel::from_code(level).unwrap(),
                message,
            })
        }),
        (
            1u8..4,
            text(),
            text(),
            text(),
            any::<u32>(),
            text(),
            (text(), text())
        )
            .prop_map(
                |(when, category, message, filename, lineno, node_id, (summary, location))| {
                    WorkerMessage::Warning(WarningRecord {
                        when: WarningWhen::from_code(when).unwrap(),
                        category,
                        message,
                        filename,
                        lineno,
                        node_id,
                        summary,
                        location,
                    })
                }
            ),
        (text(), any::<bool>(), text(), text(), text()).prop_map(
            |(node_id, skipped, longrepr, skip_location, crash_message)| {
                let outcome = if skipped {
                    Outcome::Skipped
                } else {
                    Outcome::Error
                };
                WorkerMessage::CollectError(CollectErrorReport {
                    node_id,
                    outcome,
                    longrepr,
                    skip_location,
                    crash_message,
                })
            }
        ),
        (
            prop::array::uniform7(any::<u32>()),
            stop,
            any::<i32>(),
            text()
        )
            .prop_map(|(c, stop, exit_code, message)| {
                let counts = Counts {
                    passed: c[0],
                    failed: c[1],
                    skipped: c[2],
                    xfailed: c[3],
                    xpassed: c[4],
                    error: c[5],
                    collect_errors: c[6],
                };
                WorkerMessage::Done(Done {
                    counts,
                    stop,
                    exit_code,
                    message,
                })
            }),
        (text(), text())
            .prop_map(|(message, traceback)| WorkerMessage::Fatal(Fatal { message, traceback })),
    ]
}

fn request_frame() -> impl Strategy<Value = RequestFrame> {
    (any::<u64>(), request()).prop_map(|(request_id, request)| RequestFrame {
        request_id,
        request,
    })
}

fn result_frame() -> impl Strategy<Value = ResultFrame> {
    (any::<u64>(), worker_message()).prop_map(|(request_id, message)| ResultFrame {
        request_id,
        message,
    })
}

// --- properties ---------------------------------------------------------------------

proptest! {
    #[test]
    fn requests_round_trip(frame in request_frame()) {
        let bytes = encode_request(&frame).unwrap();
        let (decoded, used) = decode_request(&bytes, DEFAULT_MAX_PAYLOAD).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(decoded, frame);
    }

    #[test]
    fn results_round_trip(frame in result_frame()) {
        let bytes = encode_result(&frame).unwrap();
        let (decoded, used) = decode_result(&bytes, DEFAULT_MAX_PAYLOAD).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(decoded, frame);
    }

    #[test]
    fn streams_carry_frame_sequences(frames in prop::collection::vec(result_frame(), 0..5)) {
        let mut writer = FrameWriter::new(Vec::new());
        for frame in &frames {
            writer.write_result(frame).unwrap();
        }
        let mut reader = FrameReader::new(Cursor::new(writer.into_inner()));
        for frame in &frames {
            let read = reader.read_result().unwrap();
            prop_assert_eq!(read.as_ref(), Some(frame));
        }
        prop_assert_eq!(reader.read_result().unwrap(), None);
    }

    #[test]
    fn every_truncation_is_an_error(frame in result_frame(), cut in any::<prop::sample::Index>()) {
        let bytes = encode_result(&frame).unwrap();
        let len = cut.index(bytes.len());
        let prefix = &bytes[..len];
        prop_assert!(decode_result(prefix, DEFAULT_MAX_PAYLOAD).is_err());
        let streamed = FrameReader::new(Cursor::new(prefix.to_vec())).read_result();
        if len == 0 {
            prop_assert_eq!(streamed, Ok(None));
        } else {
            let is_eof = matches!(streamed, Err(ProtocolError::UnexpectedEof { .. }));
            prop_assert!(is_eof, "{:?}", streamed);
        }
    }

    #[test]
    fn request_truncation_is_an_error(frame in request_frame(), cut in any::<prop::sample::Index>()) {
        let bytes = encode_request(&frame).unwrap();
        let len = cut.index(bytes.len());
        prop_assert!(decode_request(&bytes[..len], DEFAULT_MAX_PAYLOAD).is_err());
        let streamed = FrameReader::new(Cursor::new(bytes[..len].to_vec())).read_request();
        let as_expected = if len == 0 { streamed == Ok(None) } else { streamed.is_err() };
        prop_assert!(as_expected, "{:?}", streamed);
    }

    /// Whatever a corrupted frame decodes to, it is the canonical reading of those bytes.
    #[test]
    fn corrupted_frames_are_rejected_or_canonical(
        frame in result_frame(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let mut bytes = encode_result(&frame).unwrap();
        for (at, mask) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        if let Ok((decoded, used)) = decode_result(&bytes, DEFAULT_MAX_PAYLOAD) {
            let reencoded = encode_result(&decoded).unwrap();
            prop_assert_eq!(&reencoded[..], &bytes[..used]);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok((frame, used)) = decode_request(&bytes, 1024) {
            prop_assert_eq!(&encode_request(&frame).unwrap()[..], &bytes[..used]);
        }
        if let Ok((frame, used)) = decode_result(&bytes, 1024) {
            prop_assert_eq!(&encode_result(&frame).unwrap()[..], &bytes[..used]);
        }
        let _ = FrameReader::with_limit(Cursor::new(bytes.clone()), 1024).read_result();
        let _ = FrameReader::with_limit(Cursor::new(bytes), 1024).read_request();
    }

    #[test]
    fn payloads_over_the_limit_are_refused(frame in result_frame()) {
        let bytes = encode_result(&frame).unwrap();
        let payload_len = (bytes.len() - RESULT_HEADER_LEN) as u32;
        prop_assume!(payload_len > 0);
        let limit = payload_len - 1;
        prop_assert_eq!(
            decode_result(&bytes, limit).unwrap_err(),
            ProtocolError::FrameTooLarge { payload_len: payload_len as u64, limit }
        );
    }
}

// --- specific malformed frames --------------------------------------------------------

fn sample_item() -> ItemResult {
    ItemResult {
        test_index: 3,
        node_id: "tests/test_é.py::TestX::test_y[a-1]".to_owned(),
        outcome: Outcome::Failed,
        phase: Phase::Call,
        duration: Duration::from_nanos(1_234_567),
        item_finished: false,
        output_truncated: true,
        in_summary: true,
        longrepr: "assert 1 == 2\n  + where ✓".to_owned(),
        stdout: "out\n".to_owned(),
        stderr: "err\n".to_owned(),
        sections: vec![Section {
            title: "Captured log call".to_owned(),
            content: "INFO x".to_owned(),
        }],
        skip_reason: String::new(),
        location: Location {
            path: "tests/test_é.py".to_owned(),
            line: Some(41),
            domain: "TestX.test_y[a-1]".to_owned(),
        },
        category: String::new(),
        letter: "F".to_owned(),
        word: "FAILED".to_owned(),
        head_line: String::new(),
        crash_line: String::new(),
        crash_message: "assert 1 == 2".to_owned(),
        progress_hidden: false,
        skip_location: String::new(),
    }
}

/// Sample frames shared with `worker/tests/test_protocol.py` as golden files.
fn golden_requests() -> Vec<(&'static str, RequestFrame)> {
    vec![
        (
            "hello",
            RequestFrame {
                request_id: 1,
                request: Request::Hello(Hello {
                    rootdir: "/srv/proj".to_owned(),
                    sys_path: vec!["/srv/proj/src".to_owned(), "/srv/lib".to_owned()],
                    engine: Engine::Auto,
                    pytest_args: vec!["-p".to_owned(), "no:cacheprovider".to_owned()],
                    output_limit: 1 << 20,
                    terminal_width: 120,
                    record_execution: false,
                    park: false,
                }),
            },
        ),
        (
            "hello_record",
            RequestFrame {
                request_id: 1,
                request: Request::Hello(Hello {
                    rootdir: "/srv/proj".to_owned(),
                    sys_path: vec![],
                    engine: Engine::Pytest,
                    pytest_args: vec![],
                    output_limit: 0,
                    terminal_width: 0,
                    record_execution: true,
                    park: false,
                }),
            },
        ),
        (
            "hello_park",
            RequestFrame {
                request_id: 1,
                request: Request::Hello(Hello {
                    rootdir: "/srv/proj".to_owned(),
                    sys_path: vec![],
                    engine: Engine::Pytest,
                    pytest_args: vec![],
                    output_limit: 0,
                    terminal_width: 0,
                    record_execution: true,
                    park: true,
                }),
            },
        ),
        (
            "run_items",
            RequestFrame {
                request_id: 2,
                request: Request::RunItems(RunItems {
                    first_index: 10,
                    keep_session: true,
                    node_ids: vec![
                        "t/test_a.py::test_x".to_owned(),
                        "t/test_a.py::test_ü[1]".to_owned(),
                    ],
                }),
            },
        ),
        (
            "run_module",
            RequestFrame {
                request_id: 3,
                request: Request::RunModule(RunModule {
                    first_index: 0,
                    keep_session: false,
                    path: "t/test_b.py".to_owned(),
                }),
            },
        ),
        (
            "shutdown",
            RequestFrame {
                request_id: 4,
                request: Request::Shutdown,
            },
        ),
        (
            "resume",
            RequestFrame {
                request_id: 8,
                request: Request::Resume,
            },
        ),
        (
            "preload",
            RequestFrame {
                request_id: 5,
                request: Request::Preload(Preload {
                    modules: vec!["numpy".to_owned(), "app.models".to_owned()],
                }),
            },
        ),
        (
            "run_hook_items",
            RequestFrame {
                request_id: 6,
                request: Request::RunHookItems(RunHookItems {
                    first_index: 7,
                    keep_session: true,
                    paths: vec!["tests/data".to_owned(), String::new()],
                    skip_dirs: vec!["tests/data/sub".to_owned()],
                    skip_items: vec!["tests/data/a.yaml::x".to_owned()],
                }),
            },
        ),
        (
            "import_modules",
            RequestFrame {
                request_id: 7,
                request: Request::ImportModules(ImportModules {
                    paths: vec![
                        "tests/test_a.py".to_owned(),
                        "tests/sub/test_ü.py".to_owned(),
                    ],
                }),
            },
        ),
    ]
}

fn golden_results() -> Vec<(&'static str, ResultFrame)> {
    let frame = |request_id, message| ResultFrame {
        request_id,
        message,
    };
    vec![
        (
            "ready",
            frame(
                1,
                WorkerMessage::Ready(Ready {
                    pid: 4242,
                    engine: Engine::Pytest,
                    python_version: "3.11.7".to_owned(),
                    pytest_version: "9.2.0".to_owned(),
                }),
            ),
        ),
        (
            "item_result",
            frame(2, WorkerMessage::ItemResult(Box::new(sample_item()))),
        ),
        (
            "log",
            frame(
                2,
                WorkerMessage::Log(LogRecord {
                    level: LogLevel::Warning,
                    message: "slow".to_owned(),
                }),
            ),
        ),
        (
            "warning",
            frame(
                2,
                WorkerMessage::Warning(WarningRecord {
                    when: WarningWhen::Runtest,
                    category: "DeprecationWarning".to_owned(),
                    message: "old".to_owned(),
                    filename: "t/test_a.py".to_owned(),
                    lineno: 7,
                    node_id: "t/test_a.py::test_x".to_owned(),
                    summary: "t/test_a.py:7: DeprecationWarning: old\n  x()\n".to_owned(),
                    location: "t/test_a.py:7".to_owned(),
                }),
            ),
        ),
        (
            "collect_error",
            frame(
                2,
                WorkerMessage::CollectError(CollectErrorReport {
                    node_id: "t/test_bad.py".to_owned(),
                    outcome: Outcome::Error,
                    longrepr: "ImportError: nope".to_owned(),
                    skip_location: String::new(),
                    crash_message: String::new(),
                }),
            ),
        ),
        (
            "done",
            frame(
                2,
                WorkerMessage::Done(Done {
                    counts: Counts {
                        passed: 5,
                        failed: 1,
                        skipped: 2,
                        xfailed: 1,
                        xpassed: 0,
                        error: 1,
                        collect_errors: 1,
                    },
                    stop: StopKind::Interrupted,
                    exit_code: -2,
                    message: "KeyboardInterrupt in t/test_a.py::test_x".to_owned(),
                }),
            ),
        ),
        (
            "deselected",
            frame(
                6,
                WorkerMessage::Deselected(Deselected {
                    node_ids: vec!["tests/data/a.yaml::y".to_owned(), "t/b.txt::".to_owned()],
                }),
            ),
        ),
        (
            "executed",
            frame(
                2,
                WorkerMessage::Executed(Executed {
                    test_index: 3,
                    node_id: "t/test_a.py::test_x".to_owned(),
                    coarse: true,
                    files: vec![
                        ExecutedFile {
                            path: "pkg/mod.py".to_owned(),
                            def_lines: vec![4, 17, 230],
                        },
                        ExecutedFile {
                            path: "pkg/ü.py".to_owned(),
                            def_lines: vec![1],
                        },
                    ],
                    imported: vec!["pkg/plugins/late.py".to_owned()],
                }),
            ),
        ),
        (
            "ambient",
            frame(
                2,
                WorkerMessage::Ambient(Ambient {
                    coarse: false,
                    instrumented: vec!["pkg/__init__.py".to_owned(), "pkg/mod.py".to_owned()],
                    files: vec![ExecutedFile {
                        path: "pkg/mod.py".to_owned(),
                        def_lines: vec![2, 9],
                    }],
                }),
            ),
        ),
        (
            "fatal",
            frame(
                0,
                WorkerMessage::Fatal(Fatal {
                    message: "boom".to_owned(),
                    traceback: "Traceback...".to_owned(),
                }),
            ),
        ),
    ]
}

fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker/tests/golden")
}

/// The golden files must equal what this encoder produces; `DXPY_UPDATE_GOLDEN=1`
/// rewrites them (then run the Python tests, which decode them).
#[test]
fn golden_frames_match_the_encoder() {
    let update = std::env::var_os("DXPY_UPDATE_GOLDEN").is_some();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, frame) in golden_requests() {
        files.push((
            format!("request_{name}.bin"),
            encode_request(&frame).unwrap(),
        ));
    }
    for (name, frame) in golden_results() {
        files.push((format!("result_{name}.bin"), encode_result(&frame).unwrap()));
    }
    for (file, bytes) in files {
        let path = golden_dir().join(&file);
        if update {
            std::fs::create_dir_all(golden_dir()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let stored = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{file}: {e}; run with DXPY_UPDATE_GOLDEN=1"));
        assert_eq!(stored, bytes, "{file} differs from the encoder's output");
    }
}

#[test]
fn headers_have_their_documented_sizes() {
    let shutdown = encode_request(&RequestFrame {
        request_id: 9,
        request: Request::Shutdown,
    })
    .unwrap();
    assert_eq!(shutdown.len(), REQUEST_HEADER_LEN);
    assert_eq!(REQUEST_HEADER_LEN, 32);
    let fatal = ResultFrame {
        request_id: 9,
        message: WorkerMessage::Fatal(Fatal {
            message: String::new(),
            traceback: String::new(),
        }),
    };
    assert_eq!(encode_result(&fatal).unwrap().len(), RESULT_HEADER_LEN + 8);
    assert_eq!(RESULT_HEADER_LEN, 40);
}

/// Each malformed frame and the error it produces, as one readable report.
#[test]
fn malformed_frames_produce_descriptive_errors() {
    let item = encode_result(&ResultFrame {
        request_id: 1,
        message: WorkerMessage::ItemResult(Box::new(sample_item())),
    })
    .unwrap();
    let hello = encode_request(&golden_requests()[0].1).unwrap();
    let patch = |bytes: &[u8], at: usize, value: &[u8]| {
        let mut out = bytes.to_vec();
        out[at..at + value.len()].copy_from_slice(value);
        out
    };
    // The node_id string starts right after the 40-byte header: its length is at 40..44.
    let node_len = u32::from_le_bytes([item[40], item[41], item[42], item[43]]) as usize;
    let mut bad_utf8 = item.clone();
    bad_utf8[44 + 2] = 0xFF;
    let mut trailing = item.clone();
    trailing.push(0);
    let trailing_len = (trailing.len() - RESULT_HEADER_LEN) as u32;
    let trailing = patch(&trailing, 20, &trailing_len.to_le_bytes());
    type Decoded = Result<(ResultFrame, usize), ProtocolError>;
    let cases: Vec<(&str, Decoded)> = vec![
        (
            "bad magic",
            decode_result(&patch(&item, 0, b"XXXX"), DEFAULT_MAX_PAYLOAD),
        ),
        (
            "request magic on result stream",
            decode_result(&hello, DEFAULT_MAX_PAYLOAD),
        ),
        (
            "bad version",
            decode_result(&patch(&item, 4, &8u16.to_le_bytes()), DEFAULT_MAX_PAYLOAD),
        ),
        (
            "unknown type",
            decode_result(&patch(&item, 6, &[99]), DEFAULT_MAX_PAYLOAD),
        ),
        (
            "unknown flag",
            decode_result(&patch(&item, 7, &[0x80]), DEFAULT_MAX_PAYLOAD),
        ),
        (
            "reserved byte set",
            decode_result(&patch(&item, 39, &[1]), DEFAULT_MAX_PAYLOAD),
        ),
        (
            "invalid outcome",
            decode_result(&patch(&item, 32, &[9]), DEFAULT_MAX_PAYLOAD),
        ),
        (
            "invalid phase",
            decode_result(&patch(&item, 33, &[0]), DEFAULT_MAX_PAYLOAD),
        ),
        (
            "oversize",
            decode_result(
                &patch(&item, 20, &u32::MAX.to_le_bytes()),
                DEFAULT_MAX_PAYLOAD,
            ),
        ),
        (
            "payload shorter than declared",
            decode_result(&item[..item.len() - 1], DEFAULT_MAX_PAYLOAD),
        ),
        (
            "string length past end",
            decode_result(
                &patch(&item, 40, &(node_len as u32 + 10_000).to_le_bytes()),
                DEFAULT_MAX_PAYLOAD,
            ),
        ),
        ("bad utf-8", decode_result(&bad_utf8, DEFAULT_MAX_PAYLOAD)),
        (
            "trailing bytes",
            decode_result(&trailing, DEFAULT_MAX_PAYLOAD),
        ),
        (
            "header cut short",
            decode_result(&item[..17], DEFAULT_MAX_PAYLOAD),
        ),
    ];
    let mut report = String::new();
    for (name, result) in cases {
        let line = match result {
            Ok(frame) => format!("{name}: UNEXPECTEDLY OK {frame:?}"),
            Err(err) => format!("{name}: {err}"),
        };
        report.push_str(&line);
        report.push('\n');
    }
    let mut hello_flags = hello.clone();
    hello_flags[7] = 1;
    let mut shutdown_index = encode_request(&RequestFrame {
        request_id: 1,
        request: Request::Shutdown,
    })
    .unwrap();
    shutdown_index[16] = 1;
    let mut stream_cut = FrameReader::new(Cursor::new(hello[..hello.len() - 3].to_vec()));
    let request_cases = [
        (
            "flag on Hello",
            decode_request(&hello_flags, DEFAULT_MAX_PAYLOAD).map(|_| ()),
        ),
        (
            "test index on Shutdown",
            decode_request(&shutdown_index, DEFAULT_MAX_PAYLOAD).map(|_| ()),
        ),
        (
            "stream ends mid-payload",
            stream_cut.read_request().map(|_| ()),
        ),
        (
            "stream ends mid-header",
            FrameReader::new(Cursor::new(hello[..5].to_vec()))
                .read_request()
                .map(|_| ()),
        ),
    ];
    for (name, result) in request_cases {
        report.push_str(&format!(
            "{name}: {}\n",
            result
                .err()
                .map(|e| e.to_string())
                .unwrap_or("UNEXPECTEDLY OK".into())
        ));
    }
    insta::assert_snapshot!(report);
}

/// Executed/Ambient frames that would not re-encode to the same bytes are refused.
#[test]
fn malformed_record_frames_are_refused() {
    let executed = |files: Vec<ExecutedFile>| ResultFrame {
        request_id: 1,
        message: WorkerMessage::Executed(Executed {
            test_index: 0,
            node_id: "t.py::x".to_owned(),
            coarse: false,
            files,
            imported: vec![],
        }),
    };
    let file = |lines: &[u32]| ExecutedFile {
        path: "m.py".to_owned(),
        def_lines: lines.to_vec(),
    };
    let good = encode_result(&executed(vec![file(&[1, 5])])).unwrap();
    // Payload: node_id (4 + 7), flags (1), paths (4 + 4 + 4), then def_lines: its count (4),
    // the first list's count (4) and its lines (4 each).
    let flags_at = RESULT_HEADER_LEN + 11;
    let lists_at = flags_at + 1 + 12;
    let patched = |at: usize, value: &[u8]| {
        let mut out = good.clone();
        out[at..at + value.len()].copy_from_slice(value);
        out
    };
    let invalid = |reason| ProtocolError::InvalidRecord {
        message: "Executed",
        reason,
    };
    let decode = |bytes: &[u8]| decode_result(bytes, DEFAULT_MAX_PAYLOAD).map(|(f, _)| f);
    assert_eq!(
        decode(&patched(flags_at, &[0b10])),
        Err(ProtocolError::UnknownFlags {
            message: "Executed",
            flags: 0b10
        })
    );
    let unsorted = patched(lists_at + 12, &1u32.to_le_bytes());
    assert_eq!(
        decode(&unsorted),
        Err(invalid(
            "`def_lines` must be strictly increasing lines from 1"
        ))
    );
    let line_zero = patched(lists_at + 8, &0u32.to_le_bytes());
    assert_eq!(
        decode(&line_zero),
        Err(invalid(
            "`def_lines` must be strictly increasing lines from 1"
        ))
    );
    let mismatched = patched(lists_at, &2u32.to_le_bytes());
    assert_eq!(
        decode(&mismatched),
        Err(invalid("`paths` and `def_lines` differ in length"))
    );
    // Executed carries a test index, never a duration; Ambient neither.
    assert_eq!(
        decode(&patched(24, &[1])),
        Err(ProtocolError::UnexpectedHeaderField {
            message: "Executed",
            field: "duration"
        })
    );
    let ambient = encode_result(&ResultFrame {
        request_id: 1,
        message: WorkerMessage::Ambient(Ambient {
            coarse: true,
            instrumented: vec![],
            files: vec![],
        }),
    })
    .unwrap();
    let mut indexed = ambient.clone();
    indexed[16..20].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(
        decode(&indexed),
        Err(ProtocolError::UnexpectedHeaderField {
            message: "Ambient",
            field: "test index"
        })
    );
    // The encoder refuses what the decoder would: nothing it writes is unreadable.
    assert_eq!(
        encode_result(&executed(vec![file(&[3, 3])])),
        Err(invalid(
            "`def_lines` must be strictly increasing lines from 1"
        ))
    );
    assert_eq!(decode(&good).unwrap(), executed(vec![file(&[1, 5])]));
    // RECORD and PARK are Hello's only flags.
    let mut run_items = encode_request(&RequestFrame {
        request_id: 1,
        request: Request::Shutdown,
    })
    .unwrap();
    run_items[7] = 0b10;
    assert_eq!(
        decode_request(&run_items, DEFAULT_MAX_PAYLOAD),
        Err(ProtocolError::UnknownFlags {
            message: "Shutdown",
            flags: 0b10
        })
    );
}

#[test]
fn oversize_header_is_refused_before_reading_the_payload() {
    // Only a header is available: the limit check must fire, not a wait for 4 GiB.
    let mut header = encode_request(&RequestFrame {
        request_id: 1,
        request: Request::Shutdown,
    })
    .unwrap();
    header[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut reader = FrameReader::with_limit(Cursor::new(header), 1024);
    assert_eq!(
        reader.read_request(),
        Err(ProtocolError::FrameTooLarge {
            payload_len: u32::MAX as u64,
            limit: 1024
        })
    );
}

#[test]
fn encoder_refuses_collect_errors_with_test_outcomes() {
    let frame = ResultFrame {
        request_id: 1,
        message: WorkerMessage::CollectError(CollectErrorReport {
            node_id: "x".to_owned(),
            outcome: Outcome::Passed,
            longrepr: String::new(),
            skip_location: String::new(),
            crash_message: String::new(),
        }),
    };
    assert_eq!(
        encode_result(&frame),
        Err(ProtocolError::InvalidEnum {
            field: "collect outcome",
            value: 1
        })
    );
}

#[test]
fn import_modules_refuses_flags_and_a_test_index() {
    let frame = encode_request(&RequestFrame {
        request_id: 3,
        request: Request::ImportModules(ImportModules {
            paths: vec!["t/test_a.py".to_owned()],
        }),
    })
    .unwrap();
    assert_eq!(frame[6], 7, "ImportModules is request type 7");
    let mut flagged = frame.clone();
    flagged[7] = 1;
    assert_eq!(
        decode_request(&flagged, DEFAULT_MAX_PAYLOAD),
        Err(ProtocolError::UnknownFlags {
            message: "ImportModules",
            flags: 1
        })
    );
    let mut indexed = frame;
    indexed[16] = 1;
    assert_eq!(
        decode_request(&indexed, DEFAULT_MAX_PAYLOAD),
        Err(ProtocolError::UnexpectedHeaderField {
            message: "ImportModules",
            field: "test index"
        })
    );
}
