"""The Python codec: golden frames from the Rust encoder, round trips, malformed input."""

import os
import random
import unittest
from pathlib import Path

from dxpy_worker import protocol as P

GOLDEN = Path(__file__).parent / "golden"


def golden(name):
    return (GOLDEN / name).read_bytes()


# The same frames as `golden_requests`/`golden_results` in runner/src/protocol/tests.rs.
EXPECTED_REQUESTS = {
    "request_hello.bin": P.RequestFrame(1, P.Hello(
        "/srv/proj", ["/srv/proj/src", "/srv/lib"], P.Engine.AUTO,
        ["-p", "no:cacheprovider"], 1 << 20, 120)),
    "request_hello_record.bin": P.RequestFrame(1, P.Hello(
        "/srv/proj", [], P.Engine.PYTEST, [], 0, 0, record=True)),
    "request_run_items.bin": P.RequestFrame(2, P.RunItems(
        10, True, ["t/test_a.py::test_x", "t/test_a.py::test_\u00fc[1]"])),
    "request_run_module.bin": P.RequestFrame(3, P.RunModule(0, False, "t/test_b.py")),
    "request_hello_park.bin": P.RequestFrame(1, P.Hello(
        "/srv/proj", [], P.Engine.PYTEST, [], 0, 0, record=True, park=True)),
    "request_shutdown.bin": P.RequestFrame(4, P.Shutdown()),
    "request_resume.bin": P.RequestFrame(8, P.Resume()),
    "request_preload.bin": P.RequestFrame(5, P.Preload(["numpy", "app.models"])),
    "request_run_hook_items.bin": P.RequestFrame(6, P.RunHookItems(
        7, True, ["tests/data", ""], ["tests/data/sub"], ["tests/data/a.yaml::x"])),
    "request_import_modules.bin": P.RequestFrame(7, P.ImportModules(
        ["tests/test_a.py", "tests/sub/test_\u00fc.py"])),
}

EXPECTED_RESULTS = {
    "result_ready.bin": P.ResultFrame(1, P.Ready(4242, P.Engine.PYTEST, "3.11.7", "9.2.0")),
    "result_item_result.bin": P.ResultFrame(2, P.ItemResult(
        test_index=3,
        node_id="tests/test_\u00e9.py::TestX::test_y[a-1]",
        outcome=P.Outcome.FAILED,
        phase=P.Phase.CALL,
        duration_ns=1_234_567,
        item_finished=False,
        output_truncated=True,
        in_summary=True,
        longrepr="assert 1 == 2\n  + where \u2713",
        stdout="out\n",
        stderr="err\n",
        sections=[("Captured log call", "INFO x")],
        skip_reason="",
        location_path="tests/test_\u00e9.py",
        location_line=41,
        location_domain="TestX.test_y[a-1]",
        letter="F",
        word="FAILED",
        crash_message="assert 1 == 2",
    )),
    "result_log.bin": P.ResultFrame(2, P.Log(P.LogLevel.WARNING, "slow")),
    "result_warning.bin": P.ResultFrame(2, P.Warning_(
        P.WarningWhen.RUNTEST, "DeprecationWarning", "old", "t/test_a.py", 7, "t/test_a.py::test_x",
        "t/test_a.py:7: DeprecationWarning: old\n  x()\n", "t/test_a.py:7")),
    "result_collect_error.bin": P.ResultFrame(2, P.CollectError(
        "t/test_bad.py", P.Outcome.ERROR, "ImportError: nope")),
    "result_done.bin": P.ResultFrame(2, P.Done(
        passed=5, failed=1, skipped=2, xfailed=1, xpassed=0, error=1, collect_errors=1,
        stop=P.StopKind.INTERRUPTED, exit_code=-2,
        message="KeyboardInterrupt in t/test_a.py::test_x")),
    "result_deselected.bin": P.ResultFrame(6, P.Deselected(["tests/data/a.yaml::y", "t/b.txt::"])),
    "result_executed.bin": P.ResultFrame(2, P.Executed(
        3, "t/test_a.py::test_x", coarse=True, paths=["pkg/mod.py", "pkg/\u00fc.py"],
        def_lines=[[4, 17, 230], [1]], imported=["pkg/plugins/late.py"])),
    "result_ambient.bin": P.ResultFrame(2, P.Ambient(
        coarse=False, instrumented=["pkg/__init__.py", "pkg/mod.py"], paths=["pkg/mod.py"],
        def_lines=[[2, 9]])),
    "result_fatal.bin": P.ResultFrame(0, P.Fatal("boom", "Traceback...")),
}


class GoldenFrames(unittest.TestCase):
    def test_every_golden_file_is_covered(self):
        names = {p.name for p in GOLDEN.glob("*.bin")}
        self.assertEqual(names, set(EXPECTED_REQUESTS) | set(EXPECTED_RESULTS))

    def test_requests_decode_and_reencode(self):
        for name, expected in EXPECTED_REQUESTS.items():
            with self.subTest(name):
                data = golden(name)
                frame, used = P.decode_request(data)
                self.assertEqual(used, len(data))
                self.assertEqual(frame, expected)
                self.assertEqual(P.encode_request(expected), data)

    def test_results_decode_and_reencode(self):
        for name, expected in EXPECTED_RESULTS.items():
            with self.subTest(name):
                data = golden(name)
                frame, used = P.decode_result(data)
                self.assertEqual(used, len(data))
                self.assertEqual(frame, expected)
                self.assertEqual(P.encode_result(expected), data)

    def test_stream_reader_reads_golden_requests_in_sequence(self):
        read_fd, write_fd = os.pipe()
        names = list(EXPECTED_REQUESTS)
        with os.fdopen(write_fd, "wb") as w:
            for name in names:
                w.write(golden(name))
        try:
            for name in names:
                self.assertEqual(P.read_request(read_fd), EXPECTED_REQUESTS[name])
            self.assertIsNone(P.read_request(read_fd))
        finally:
            os.close(read_fd)


class Malformed(unittest.TestCase):
    def assertRejected(self, data, fragment, decode=P.decode_result, **kw):
        with self.assertRaises(P.ProtocolError) as ctx:
            decode(data, **kw)
        self.assertIn(fragment, str(ctx.exception))

    def patched(self, data, at, value):
        out = bytearray(data)
        out[at:at + len(value)] = value
        return bytes(out)

    def test_header_errors(self):
        item = golden("result_item_result.bin")
        self.assertRejected(self.patched(item, 0, b"XXXX"), "bad magic")
        self.assertRejected(golden("request_hello.bin"), "bad magic")
        self.assertRejected(self.patched(item, 4, b"\x08\x00"), "unsupported protocol version 8")
        self.assertRejected(self.patched(item, 6, b"\x63"), "unknown result message type 99")
        self.assertRejected(self.patched(item, 7, b"\x80"), "unknown flag bits")
        self.assertRejected(self.patched(item, 39, b"\x01"), "reserved")
        self.assertRejected(self.patched(item, 32, b"\x09"), "`outcome` has invalid value 9")
        self.assertRejected(self.patched(item, 20, b"\xff\xff\xff\xff"), "exceeds the frame limit")
        self.assertRejected(item[:17], "result header needs 40 bytes")

    def test_payload_errors(self):
        item = golden("result_item_result.bin")
        self.assertRejected(item[:-1], "truncated frame")
        self.assertRejected(self.patched(item, 40, (10_000).to_bytes(4, "little")), "declares 10000")
        self.assertRejected(self.patched(item, 46, b"\xff"), "not valid UTF-8")
        extra = bytearray(item + b"\x00")
        extra[20:24] = (len(extra) - 40).to_bytes(4, "little")
        self.assertRejected(bytes(extra), "unexpected bytes after the end")

    def test_record_frame_rules(self):
        def executed(def_lines, paths=("m.py",)):
            return P.encode_result(P.ResultFrame(1, P.Executed(0, "t.py::x", False, list(paths), def_lines)))
        good = executed([[1, 5]])
        flags_at = 40 + 4 + 7
        lists_at = flags_at + 1 + 12  # after flags and paths: def_lines' count
        self.assertRejected(self.patched(good, flags_at, b"\x02"), "unknown bits")
        self.assertRejected(self.patched(good, lists_at + 12, (1).to_bytes(4, "little")),
                            "strictly increasing")
        self.assertRejected(self.patched(good, lists_at + 8, (0).to_bytes(4, "little")),
                            "strictly increasing")
        self.assertRejected(self.patched(good, lists_at, (2).to_bytes(4, "little")), "`def_lines`")
        self.assertRejected(self.patched(good, 24, b"\x01"), "`duration`")
        ambient = P.encode_result(P.ResultFrame(1, P.Ambient()))
        self.assertRejected(self.patched(ambient, 16, (0).to_bytes(4, "little")), "`test index`")
        with self.assertRaises(P.ProtocolError):
            executed([[3, 3]])
        with self.assertRaises(P.ProtocolError):
            executed([[1]], paths=())
        shutdown = bytearray(golden("request_shutdown.bin"))
        shutdown[7] = P.FLAG_RECORD
        self.assertRejected(bytes(shutdown), "unknown flag bits", decode=P.decode_request)

    def test_request_rules(self):
        hello = bytearray(golden("request_hello.bin"))
        hello[7] = 1
        self.assertRejected(bytes(hello), "unknown flag bits", decode=P.decode_request)
        hello[7] = 0b1000
        self.assertRejected(bytes(hello), "unknown flag bits", decode=P.decode_request)
        resume = bytearray(golden("request_resume.bin"))
        self.assertEqual(resume[6], 8)  # request type 8
        resume[7] = P.FLAG_PARK
        self.assertRejected(bytes(resume), "unknown flag bits", decode=P.decode_request)
        shutdown = bytearray(golden("request_shutdown.bin"))
        shutdown[16] = 1
        self.assertRejected(bytes(shutdown), "test index", decode=P.decode_request)
        imports = bytearray(golden("request_import_modules.bin"))
        self.assertEqual(imports[6], 7)  # request type 7
        imports[7] = 1
        self.assertRejected(bytes(imports), "unknown flag bits", decode=P.decode_request)
        imports[7] = 0
        imports[16] = 1
        self.assertRejected(bytes(imports), "test index", decode=P.decode_request)
        self.assertRejected(golden("request_run_items.bin"), "exceeds the frame limit",
                            decode=P.decode_request, max_payload=10)

    def test_every_truncation_of_every_golden_frame_is_rejected(self):
        for name in EXPECTED_REQUESTS:
            data = golden(name)
            for cut in range(len(data)):
                with self.assertRaises(P.ProtocolError):
                    P.decode_request(data[:cut])
        for name in EXPECTED_RESULTS:
            data = golden(name)
            for cut in range(len(data)):
                with self.assertRaises(P.ProtocolError):
                    P.decode_result(data[:cut])

    def test_random_corruption_is_rejected_or_canonical(self):
        rng = random.Random(1234)
        frames = [golden(n) for n in EXPECTED_RESULTS]
        for _ in range(3000):
            data = bytearray(rng.choice(frames))
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] ^= rng.randint(1, 255)
            try:
                frame, used = P.decode_result(bytes(data))
            except P.ProtocolError:
                continue
            self.assertEqual(P.encode_result(frame), bytes(data[:used]))

    def test_stream_ending_mid_frame_is_an_error(self):
        data = golden("request_run_items.bin")
        for cut in (5, 40):
            read_fd, write_fd = os.pipe()
            os.write(write_fd, data[:cut])
            os.close(write_fd)
            try:
                with self.assertRaises(P.ProtocolError) as ctx:
                    P.read_request(read_fd)
                self.assertIn("stream ended in the middle of a frame", str(ctx.exception))
            finally:
                os.close(read_fd)


class Capping(unittest.TestCase):
    def test_cap_text(self):
        from dxpy_worker.capture import cap_text

        self.assertEqual(cap_text("short", 100), ("short", False))
        text, cut = cap_text("\u00e9" * 100, 51)  # 200 bytes; cut inside a character
        self.assertTrue(cut)
        self.assertTrue(text.startswith("\u00e9" * 25))
        self.assertIn("150 more bytes", text)


if __name__ == "__main__":
    unittest.main()
