"""A small Remote Workers API bot for BuildGrid (tests/remote/up.sh starts it).

BuildGrid ships no bot, so this one does the executor's job for the remote e2e:
it opens a bot session, long-polls UpdateBotSession for a lease, and for each
lease
  1. reads the Action and its Command from CAS,
  2. stages the input root in a fresh directory (files hard-linked read-only
     from the bot's local blob cache, so an action cannot change a cached blob),
  3. runs the command there with exactly the Command's environment, through an
     optional prefix that enters the executor image (up.sh passes
     `tests/bazel/sid.sh run --`: the Debian sid chroot local Bazel runs in),
  4. uploads outputs, stdout and stderr, and completes the lease with the
     ActionResult, which BuildGrid stores in the action cache.
The lease loop keeps the session alive while an action runs.

It speaks the protos BuildGrid's package ships (buildgrid._protos) and runs on
BuildGrid's venv interpreter.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid._protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc, worker_pb2
from buildgrid._protos.google.rpc import code_pb2, status_pb2
from google.protobuf import timestamp_pb2

# Blobs up to this size go through the batch calls; larger ones through ByteStream.
BATCH_LIMIT = 1 << 20
CHUNK = 1 << 20
# How long one UpdateBotSession may wait for work (BuildGrid answers at 80% of it).
POLL_SECONDS = 5.0
HEARTBEAT_SECONDS = 10.0


def log(message: str) -> None:
    print(f"bot: {message}", file=sys.stderr, flush=True)


def digest_of(data: bytes) -> re_pb2.Digest:
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class Cas:
    """CAS reads through a local blob cache, and uploads of what the server lacks."""

    def __init__(self, channel: grpc.Channel, instance: str, cache_dir: Path) -> None:
        self._cas = re_grpc.ContentAddressableStorageStub(channel)
        self._bytestream = bytestream_pb2_grpc.ByteStreamStub(channel)
        self._instance = instance
        self._cache_dir = cache_dir
        cache_dir.mkdir(parents=True, exist_ok=True)

    def _resource_prefix(self) -> str:
        return f"{self._instance}/" if self._instance else ""

    def cached_path(self, digest: re_pb2.Digest, executable: bool) -> Path:
        """A read-only local copy of the blob (fetched once), with the requested mode."""
        suffix = "x" if executable else "r"
        path = self._cache_dir / f"{digest.hash}_{digest.size_bytes}.{suffix}"
        if not path.exists():
            self._store(path, self.read(digest), 0o555 if executable else 0o444)
        return path

    @staticmethod
    def _store(path: Path, data: bytes, mode: int) -> None:
        temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(data)
        temporary.chmod(mode)
        os.replace(temporary, path)

    def read(self, digest: re_pb2.Digest) -> bytes:
        if digest.size_bytes == 0:
            return b""
        for suffix in ("r", "x"):
            cached = self._cache_dir / f"{digest.hash}_{digest.size_bytes}.{suffix}"
            if cached.exists():
                return cached.read_bytes()
        if digest.size_bytes <= BATCH_LIMIT:
            response = self._cas.BatchReadBlobs(
                re_pb2.BatchReadBlobsRequest(instance_name=self._instance, digests=[digest])
            )
            (blob,) = response.responses
            if blob.status.code != code_pb2.OK:
                raise RuntimeError(f"reading blob {digest.hash}: {blob.status.message}")
            return bytes(blob.data)
        name = f"{self._resource_prefix()}blobs/{digest.hash}/{digest.size_bytes}"
        return b"".join(r.data for r in self._bytestream.Read(bytestream_pb2.ReadRequest(resource_name=name)))

    def read_message(self, digest: re_pb2.Digest, message_type: type) -> object:
        message = message_type()
        message.ParseFromString(self.read(digest))
        return message

    def directories(self, root: re_pb2.Digest) -> dict[str, re_pb2.Directory]:
        """Every Directory of the tree under `root`, by digest hash (one GetTree stream)."""
        found: dict[str, re_pb2.Directory] = {}
        request = re_pb2.GetTreeRequest(instance_name=self._instance, root_digest=root)
        for page in self._cas.GetTree(request):
            for directory in page.directories:
                found[digest_of(directory.SerializeToString()).hash] = directory
        return found

    def upload(self, blobs: dict[str, bytes]) -> None:
        """Upload the blobs (by hash) the server does not hold yet."""
        digests = {h: re_pb2.Digest(hash=h, size_bytes=len(data)) for h, data in blobs.items()}
        missing = self._cas.FindMissingBlobs(
            re_pb2.FindMissingBlobsRequest(instance_name=self._instance, blob_digests=list(digests.values()))
        ).missing_blob_digests
        batch: list[re_pb2.BatchUpdateBlobsRequest.Request] = []
        batch_size = 0
        for digest in missing:
            data = blobs[digest.hash]
            if digest.size_bytes > BATCH_LIMIT:
                self._write(digest, data)
                continue
            if batch_size + digest.size_bytes > BATCH_LIMIT:
                self._batch_update(batch)
                batch, batch_size = [], 0
            batch.append(re_pb2.BatchUpdateBlobsRequest.Request(digest=digest, data=data))
            batch_size += digest.size_bytes
        if batch:
            self._batch_update(batch)

    def _batch_update(self, requests: list[re_pb2.BatchUpdateBlobsRequest.Request]) -> None:
        response = self._cas.BatchUpdateBlobs(
            re_pb2.BatchUpdateBlobsRequest(instance_name=self._instance, requests=requests)
        )
        for blob in response.responses:
            if blob.status.code != code_pb2.OK:
                raise RuntimeError(f"uploading blob {blob.digest.hash}: {blob.status.message}")

    def _write(self, digest: re_pb2.Digest, data: bytes) -> None:
        name = f"{self._resource_prefix()}uploads/{uuid.uuid4()}/blobs/{digest.hash}/{digest.size_bytes}"

        def chunks() -> Iterator[bytestream_pb2.WriteRequest]:
            offset = 0
            while True:
                piece = data[offset : offset + CHUNK]
                last = offset + len(piece) >= len(data)
                yield bytestream_pb2.WriteRequest(
                    resource_name=name, write_offset=offset, data=piece, finish_write=last
                )
                offset += len(piece)
                if last:
                    return

        self._bytestream.Write(chunks())


def stage(cas: Cas, root: re_pb2.Digest, target: Path) -> None:
    """Materialise the input root under `target`: directories, linked files, symlinks."""
    tree = cas.directories(root)

    def materialise(directory: re_pb2.Directory, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for file in directory.files:
            os.link(cas.cached_path(file.digest, file.is_executable), path / file.name)
        for link in directory.symlinks:
            os.symlink(link.target, path / link.name)
        for child in directory.directories:
            materialise(lookup(child.digest), path / child.name)

    def lookup(digest: re_pb2.Digest) -> re_pb2.Directory:
        # GetTree need not list the empty directory.
        return re_pb2.Directory() if digest.size_bytes == 0 else tree[digest.hash]

    materialise(lookup(root), target)


@dataclass
class Outputs:
    files: list[re_pb2.OutputFile]
    directories: list[re_pb2.OutputDirectory]
    blobs: dict[str, bytes]


def collect_outputs(command: re_pb2.Command, workdir: Path) -> Outputs:
    """Read the declared outputs that exist after the run (relative to the working directory)."""
    outputs = Outputs(files=[], directories=[], blobs={})
    paths = list(command.output_paths) or [*command.output_files, *command.output_directories]
    for relative in paths:
        path = workdir / relative
        if path.is_dir():
            tree = re_pb2.Tree()
            tree.root.CopyFrom(directory_message(path, outputs.blobs, tree.children))
            data = tree.SerializeToString()
            outputs.blobs[digest_of(data).hash] = data
            root_data = tree.root.SerializeToString()
            outputs.directories.append(
                re_pb2.OutputDirectory(
                    path=relative, tree_digest=digest_of(data), root_directory_digest=digest_of(root_data)
                )
            )
        elif path.is_file():
            data = path.read_bytes()
            outputs.blobs[digest_of(data).hash] = data
            outputs.files.append(
                re_pb2.OutputFile(path=relative, digest=digest_of(data), is_executable=is_executable(path))
            )
    return outputs


def is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def directory_message(path: Path, blobs: dict[str, bytes], children: list[re_pb2.Directory]) -> re_pb2.Directory:
    """The Directory of `path` (entries sorted by name, as REAPI requires); subdirectories go to `children`."""
    directory = re_pb2.Directory()
    for entry in sorted(path.iterdir(), key=lambda p: p.name):
        if entry.is_symlink() and not entry.exists():
            directory.symlinks.add(name=entry.name, target=os.readlink(entry))
        elif entry.is_dir():
            child = directory_message(entry, blobs, children)
            children.append(child)
            directory.directories.add(name=entry.name, digest=digest_of(child.SerializeToString()))
        elif entry.is_file():
            data = entry.read_bytes()
            blobs[digest_of(data).hash] = data
            directory.files.add(name=entry.name, digest=digest_of(data), is_executable=is_executable(entry))
    return directory


class Executor:
    """Runs leases: stage, execute, upload, and the ActionResult."""

    def __init__(self, cas: Cas, work_root: Path, run_prefix: list[str], bot_id: str) -> None:
        self._cas = cas
        self._work_root = work_root
        self._run_prefix = run_prefix
        self._bot_id = bot_id
        self._process: subprocess.Popen[bytes] | None = None

    def kill_running(self) -> None:
        """Kill the running action's process group (the bot is stopping)."""
        process = self._process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

    def execute(self, action: re_pb2.Action) -> tuple[status_pb2.Status, re_pb2.ActionResult]:
        metadata = re_pb2.ExecutedActionMetadata(worker=self._bot_id, worker_start_timestamp=now())
        command = self._cas.read_message(action.command_digest, re_pb2.Command)
        assert isinstance(command, re_pb2.Command)
        root = self._work_root / uuid.uuid4().hex
        try:
            metadata.input_fetch_start_timestamp.CopyFrom(now())
            stage(self._cas, action.input_root_digest, root)
            metadata.input_fetch_completed_timestamp.CopyFrom(now())
            workdir = root / command.working_directory
            for relative in [*command.output_paths, *command.output_files, *command.output_directories]:
                (workdir / relative).parent.mkdir(parents=True, exist_ok=True)
            metadata.execution_start_timestamp.CopyFrom(now())
            exit_code, stdout, stderr, timed_out = self._run(command, workdir, action.timeout.seconds or None)
            metadata.execution_completed_timestamp.CopyFrom(now())
            metadata.output_upload_start_timestamp.CopyFrom(now())
            outputs = collect_outputs(command, workdir)
            outputs.blobs[digest_of(stdout).hash] = stdout
            outputs.blobs[digest_of(stderr).hash] = stderr
            self._cas.upload(outputs.blobs)
            metadata.output_upload_completed_timestamp.CopyFrom(now())
        finally:
            shutil.rmtree(root, ignore_errors=True)
        metadata.worker_completed_timestamp.CopyFrom(now())
        result = re_pb2.ActionResult(
            output_files=outputs.files,
            output_directories=outputs.directories,
            exit_code=exit_code,
            stdout_digest=digest_of(stdout),
            stderr_digest=digest_of(stderr),
            execution_metadata=metadata,
        )
        if timed_out:
            return status_pb2.Status(code=code_pb2.DEADLINE_EXCEEDED, message="action timed out"), result
        return status_pb2.Status(code=code_pb2.OK), result

    def _run(self, command: re_pb2.Command, workdir: Path, timeout: float | None) -> tuple[int, bytes, bytes, bool]:
        """Run the command in `workdir` with only its own environment; (exit code, stdout, stderr, timed out)."""
        environment = [f"{v.name}={v.value}" for v in command.environment_variables]
        argv = [*self._run_prefix, "env", "-i", *environment, *command.arguments]
        log(f"run {shlex.join(command.arguments[:3])}{' ...' if len(command.arguments) > 3 else ''}")
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._process = process
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            return process.returncode, stdout, stderr, False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            return process.returncode, stdout, stderr, True
        finally:
            self._process = None


def timings(metadata: re_pb2.ExecutedActionMetadata) -> str:
    """`stage N ms, run N ms, upload N ms` from the result's metadata."""

    def span(start: timestamp_pb2.Timestamp, end: timestamp_pb2.Timestamp) -> str:
        return f"{(end.ToNanoseconds() - start.ToNanoseconds()) // 1_000_000} ms"

    return (f"stage {span(metadata.input_fetch_start_timestamp, metadata.input_fetch_completed_timestamp)}, "
            f"run {span(metadata.execution_start_timestamp, metadata.execution_completed_timestamp)}, "
            f"upload {span(metadata.output_upload_start_timestamp, metadata.output_upload_completed_timestamp)}")


class Bot:
    """One bot session with capacity 1. Every RPC is made from the lease loop; while an
    action runs (in a thread), the loop keeps the session alive with UpdateBotSession."""

    def __init__(self, channel: grpc.Channel, instance: str, bot_id: str, properties: list[tuple[str, str]],
                 executor: Executor, cas: Cas) -> None:
        self._bots = bots_pb2_grpc.BotsStub(channel)
        self._instance = instance
        self._executor = executor
        self._cas = cas
        device = worker_pb2.Device(handle=bot_id, properties=[
            worker_pb2.Device.Property(key=key, value=value) for key, value in properties
        ])
        self._session = bots_pb2.BotSession(
            bot_id=bot_id, status=bots_pb2.BotStatus.OK, worker=worker_pb2.Worker(devices=[device])
        )
        self._stopping = threading.Event()

    def run(self) -> None:
        self._session = self._bots.CreateBotSession(
            bots_pb2.CreateBotSessionRequest(parent=self._instance, bot_session=self._session)
        )
        log(f"session {self._session.name} open")
        while not self._stopping.is_set():
            lease = self._next_lease()
            if lease is not None:
                self._work(lease)

    def stop(self) -> None:
        self._stopping.set()
        self._executor.kill_running()

    def _update(self, timeout: float) -> bool:
        """Send the session; False when the call failed (the session is then unchanged)."""
        request = bots_pb2.UpdateBotSessionRequest(name=self._session.name, bot_session=self._session)
        try:
            self._session = self._bots.UpdateBotSession(request, timeout=timeout)
            return True
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                log(f"UpdateBotSession: {error.code()}: {error.details()}")
                time.sleep(1)
            return False

    def _next_lease(self) -> bots_pb2.Lease | None:
        if not self._update(POLL_SECONDS):
            return None
        for lease in self._session.leases:
            if lease.state in (bots_pb2.LeaseState.PENDING, bots_pb2.LeaseState.ACTIVE):
                lease.state = bots_pb2.LeaseState.ACTIVE
                return lease
        return None

    def _action(self, lease: bots_pb2.Lease) -> re_pb2.Action:
        """The lease's payload: the Action itself, or its digest."""
        action = re_pb2.Action()
        if lease.payload.Is(re_pb2.Action.DESCRIPTOR):
            lease.payload.Unpack(action)
        else:
            digest = re_pb2.Digest()
            lease.payload.Unpack(digest)
            action.ParseFromString(self._cas.read(digest))
        return action

    def _work(self, lease: bots_pb2.Lease) -> None:
        lease_id = lease.id
        outcome: list[tuple[status_pb2.Status, re_pb2.ActionResult]] = []

        def execute() -> None:
            try:
                outcome.append(self._executor.execute(self._action(lease)))
            except Exception as error:  # a failure of the bot itself becomes the lease's status
                log(f"lease {lease_id}: {error!r}")
                outcome.append((status_pb2.Status(code=code_pb2.INTERNAL, message=repr(error)), re_pb2.ActionResult()))

        runner = threading.Thread(target=execute, daemon=True)
        runner.start()
        while runner.is_alive():
            runner.join(HEARTBEAT_SECONDS)
            if runner.is_alive():
                self._update(POLL_SECONDS)
        ((status, result),) = outcome
        for held in self._session.leases:
            if held.id == lease_id:
                held.state = bots_pb2.LeaseState.COMPLETED
                held.status.CopyFrom(status)
                held.result.Pack(result)
        log(f"lease {lease_id}: exit {result.exit_code}, status {code_pb2.Code.Name(status.code)}, "
            + timings(result.execution_metadata))
        # Until the server has the result, the session keeps the completed lease.
        while not self._update(POLL_SECONDS) and not self._stopping.is_set():
            pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="host:port of the BuildGrid server")
    parser.add_argument("--instance", default="", help="REAPI instance name")
    parser.add_argument("--bot-id", required=True)
    parser.add_argument("--work-root", required=True, type=Path, help="staging directories and blob cache")
    parser.add_argument("--run-prefix", default="", help="command (shell words) that runs an action's argv")
    parser.add_argument("--property", action="append", default=[], help="KEY=VALUE the bot offers")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    properties = [tuple(p.split("=", 1)) for p in args.property]
    if any(len(p) != 2 for p in properties):
        raise SystemExit("bot: --property takes KEY=VALUE")
    channel = grpc.insecure_channel(args.endpoint)
    cas = Cas(channel, args.instance, args.work_root / "blobs")
    staging = args.work_root / "actions"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    executor = Executor(cas, staging, shlex.split(args.run_prefix), args.bot_id)
    bot = Bot(channel, args.instance, args.bot_id, properties, executor, cas)
    signal.signal(signal.SIGTERM, lambda *_: bot.stop())
    try:
        bot.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
