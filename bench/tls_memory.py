"""Memory of a 1 GiB download over HTTPS: the server's resident set before, at its peak
and after, while a client reads the whole file through TLS.

    pipenv run python bench/tls_memory.py              # 1 GiB
    pipenv run python bench/tls_memory.py --size-mib 64

Over TLS the server cannot use os.sendfile (the bytes must be encrypted in user space):
it reads the file into one 64 KiB buffer and sends it piece by piece. This measures that
the memory stays flat: the peak (VmHWM) must not grow with the file. The certificate comes
from a throw-away test CA (trustme, a dev package). A measuring tool: nothing asserts.
"""

from __future__ import annotations

import argparse
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trustme

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {name: int(re.search(rf"{name}:\s+(\d+) kB", status).group(1)) for name in ("VmRSS", "VmHWM")}


def start(folder: Path, ca: trustme.CA) -> tuple[subprocess.Popen[str], int]:
    leaf = ca.issue_cert("localhost")
    leaf.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "key.pem"))
    process = subprocess.Popen(
        [sys.executable, "-m", "app.main", "-q", "--port", "0", "--directory", str(folder),
         "--tls-cert", str(folder / "cert.pem"), "--tls-key", str(folder / "key.pem")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    banner = process.stdout.readline()
    return process, int(re.search(r" port (\d+) ", banner).group(1))


def download(port: int, ca: trustme.CA, size: int) -> float:
    """GET /files/big.bin over TLS, reading into one buffer; returns the seconds taken."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    started = time.perf_counter()
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost") as sock:
        sock.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        buffer = memoryview(bytearray(MiB))
        received = 0
        while count := sock.recv_into(buffer):
            received += count
    if received < size:
        raise RuntimeError(f"only {received} bytes arrived")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB (default: 1024)")
    size = parser.parse_args().size_mib * MiB
    ca = trustme.CA()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with open(folder / "big.bin", "wb") as file:
            file.truncate(size)  # sparse: no disk used, reads as zeros
        process, port = start(folder, ca)
        try:
            before = memory_kib(process.pid)
            seconds = download(port, ca, size)
            after = memory_kib(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=15)
    print(f"{size // MiB} MiB over TLS in {seconds:.1f} s ({size / MiB / seconds:.0f} MiB/s)")
    print(f"server VmRSS before {before['VmRSS']} KiB, after {after['VmRSS']} KiB")
    print(f"server peak VmHWM before {before['VmHWM']} KiB, after {after['VmHWM']} KiB "
          f"(+{after['VmHWM'] - before['VmHWM']} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
