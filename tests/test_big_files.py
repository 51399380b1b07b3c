"""Big files are streamed with sendfile, never read into memory."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import RawClient

GiB = 1024**3


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


def test_a_1_gib_file_streams_with_flat_memory(start_server, tmp_path):
    with open(tmp_path / "huge.bin", "wb") as file:
        file.truncate(GiB)  # sparse: no disk used, reads as zeros
        file.seek(GiB - 4)
        file.write(b"last")
    process = start_server("--directory", str(tmp_path))
    before = peak_rss_kib(process.process.pid)
    with RawClient(process.port, timeout=60) as client:
        client.send(b"GET /files/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        while b"\r\n\r\n" not in client.buffer:
            client._fill()
        head, rest = client.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert head.endswith(b"\r\nContent-Length: 1073741824")
        received = len(rest)
        tail = rest[-4:]
        buffer = bytearray(1024 * 1024)
        view = memoryview(buffer)
        while received < GiB:
            count = client.sock.recv_into(view)
            assert count, "closed before the whole file arrived"
            received += count
            tail = (tail + bytes(view[:count][-4:]))[-4:]
    assert received == GiB
    assert tail == b"last"
    # Reading the file through Python would cost 1 GiB; sendfile costs nothing.
    assert peak_rss_kib(process.process.pid) - before < 32 * 1024


def test_head_of_a_big_file_sends_only_the_head(start_server, tmp_path):
    with open(tmp_path / "huge.bin", "wb") as file:
        file.truncate(GiB)
    process = start_server("--directory", str(tmp_path))
    with RawClient(process.port) as client:
        response = client.exchange(b"HEAD /files/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n", head_request=True)
        assert response.header("Content-Length") == str(GiB)
        # The connection is still in step: the next response follows at once.
        assert client.exchange(b"GET /echo/ok HTTP/1.1\r\nHost: x\r\n\r\n").body == b"ok"
