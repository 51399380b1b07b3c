"""Bounded load and fault runs against a real server on loopback.

Every run has a fixed size and stops by itself: clients use socket timeouts, so a hung
server fails the test instead of hanging it. The figures each run measures are printed
(`pytest -s tests/test_load.py` shows them). No assertion is about time.
"""

from __future__ import annotations

import random
import socket
import struct
import subprocess
import threading
from collections import Counter
from collections.abc import Callable

from app.errors import ClientDisconnected, ProtocolError
from app.http import parse_request
from app.settings import Limits
from tests.conftest import FeedSource, RawClient, wait_until

H = b"Host: localhost\r\n"


def run_in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run work(0..count-1) in `count` threads started together; the errors they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    return errors


def test_200_clients_x_20_keep_alive_requests(start_server) -> None:
    server = start_server("-q")
    answered = Counter[int]()
    lock = threading.Lock()

    def client(index: int) -> None:
        with RawClient(server.port, timeout=30) as connection:
            for number in range(20):
                text = b"c%dr%d" % (index, number)
                response = connection.exchange(b"GET /echo/" + text + b" HTTP/1.1\r\n" + H + b"\r\n")
                assert response.status == 200 and response.body == text
                with lock:
                    answered[index] += 1

    errors = run_in_threads(200, client)
    print(f"\n200 clients x 20 keep-alive requests: {sum(answered.values())} answered, {len(errors)} errors")
    assert errors == []
    assert sum(answered.values()) == 4000 and len(answered) == 200
    server.assert_answers()
    assert "Traceback" not in server.log


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


HALF_REQUESTS = [
    b"GET /echo/abc HTTP/1.1\r\nHost: loc",  # mid-headers
    b"GET /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\npartial body",  # mid-body
    b"GET /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc",  # mid-chunk
    b"GET",  # mid-request-line
]


def test_100_connections_reset_mid_request_while_others_are_served(start_server) -> None:
    server = start_server("-v")  # debug log: one "connection opened/closed" line each
    assert wait_until(lambda: server.thread_count == 1)
    served = 0
    resets_done = threading.Event()

    def normal_client() -> None:
        nonlocal served
        with RawClient(server.port, timeout=30) as connection:
            while not resets_done.is_set() or served < 50:
                assert connection.exchange(b"GET /echo/ok HTTP/1.1\r\n" + H + b"\r\n").body == b"ok"
                served += 1

    def resetter(index: int) -> None:
        for number in range(25):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(HALF_REQUESTS[(index + number) % len(HALF_REQUESTS)])
            reset(sock)

    normal = threading.Thread(target=normal_client)
    normal.start()
    errors = run_in_threads(4, resetter)
    served_during_resets = served
    resets_done.set()
    normal.join(timeout=60)
    assert not normal.is_alive()
    print(
        f"\n100 connections reset mid-request: {served_during_resets} requests served on another"
        f" connection while they ran, {served} in all, {len(errors)} errors"
    )
    assert errors == []
    server.assert_answers()
    # Every connection thread is gone, and each connection's end cost debug lines only.
    assert wait_until(lambda: server.thread_count == 1)
    assert wait_until(lambda: server.log.count("connection closed") == server.log.count("connection opened"))
    assert server.log.count("connection opened") >= 102
    assert "Traceback" not in server.log
    assert " ERROR " not in server.log and " WARNING " not in server.log


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A few random byte flips, insertions, deletions or duplications."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(data) + 1)
        action = rng.randrange(4)
        if action == 0 and position < len(data):
            data[position] = rng.randrange(256)
        elif action == 1:
            data[position:position] = bytes([rng.choice(b"\r\n :\t\x00,;-0123456789aZ")])
        elif action == 2 and position < len(data):
            del data[position]
        else:
            data[position:position] = data[position : position + rng.randint(1, 20)]
    return bytes(data)


TEMPLATES = [
    b"GET /echo/abc HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"POST /files/x HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /user-agent HTTP/1.0\r\nUser-Agent: fuzz\r\nConnection: keep-alive\r\n\r\n",
]


def owes_an_answer(data: bytes) -> bool:
    """Whether the server owes `data`, sent whole and followed by the end of the stream, an
    answer: the parser (the server's own, with the server's default limits) refuses it,
    or finds a whole request in it, body included. A head or a body cut short by the end
    of the stream is a client that went away: the server closes without an answer."""
    source = FeedSource([data])
    source.receive_more()
    try:
        request = parse_request(source, Limits())
        if request is None:
            return False
        for _ in request.body:
            pass
    except ProtocolError:
        return True
    except ClientDisconnected:
        return False
    return True


def test_2000_random_byte_requests_never_crash_or_hang_the_server(start_server) -> None:
    server = start_server("-q")  # no --directory: nothing can be written
    rng = random.Random(20261122)
    cases = []
    for number in range(2000):
        if number % 2:
            cases.append(rng.randbytes(rng.randint(0, 400)))
        else:
            cases.append(mutate(rng.choice(TEMPLATES), rng))
    statuses = Counter[str]()
    lock = threading.Lock()

    def client(index: int) -> None:
        for data in cases[index::8]:
            with RawClient(server.port, timeout=15) as connection:
                connection.send(data)
                connection.sock.shutdown(socket.SHUT_WR)  # no more bytes: the server must not wait
                try:
                    answer = connection.read_until_closed()
                except ConnectionResetError:
                    answer = b"(reset)"
            first = answer.split(b"\r\n", 1)[0]
            # No answer only where none is owed: a request cut short by the client's close.
            silent_allowed = answer == b"" and not owes_an_answer(data)
            assert silent_allowed or answer == b"(reset)" or first.startswith(b"HTTP/1.1 "), (data, answer)
            with lock:
                statuses[first.decode("latin-1")[9:12] or "closed"] += 1

    errors = run_in_threads(8, client)
    print(f"\n2000 random-byte requests: {sum(statuses.values())} done, {len(errors)} errors, first statuses {dict(statuses)}")
    assert errors == []
    assert sum(statuses.values()) == 2000
    server.assert_answers()
    assert "Traceback" not in server.log and "unexpected error" not in server.log


def test_500_clients_connecting_at_once_are_all_served(start_server) -> None:
    server = start_server("-q")
    # The kernel shows a listening socket's backlog as its Send-Q.
    listing = subprocess.run(
        ["ss", "-Hltn", f"sport = :{server.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(listing[2]) >= 500
    statuses = Counter[int]()

    def client(index: int) -> None:
        with RawClient(server.port, timeout=30) as connection:
            response = connection.exchange(b"GET /echo/%d HTTP/1.1\r\n%sConnection: close\r\n\r\n" % (index, H))
            assert response.body == b"%d" % index
            statuses[response.status] += 1

    errors = run_in_threads(500, client)
    print(f"\n500 clients connecting at once: {statuses[200]} answered 200, {len(errors)} errors")
    assert errors == []
    assert statuses == {200: 500}


def test_1000_idle_connections_are_cheap_and_the_next_is_served(start_server) -> None:
    # The default --max-connections, 1000; idle ones are not closed early while it fills.
    server = start_server("-q", "--crowded-idle-timeout", "60")
    baseline_rss = server.status("VmRSS")
    clients = []
    try:
        for index in range(1000):
            client = server.connect(timeout=30)
            clients.append(client)
            # One request each: the connection is accepted and its thread is running.
            assert client.exchange(b"GET / HTTP/1.1\r\n" + H + b"\r\n").status == 200
        assert server.thread_count == 1001
        rss, size = server.status("VmRSS"), server.status("VmSize")
        print(f"\n1000 idle connections: VmRSS {rss} (at start {baseline_rss}), VmSize {size}")
        # 256 KiB stacks: 1,000 threads reserve 250 MiB of address space, not 8 GiB.
        assert int(size.split()[0]) < 2 * 1024 * 1024
        assert int(rss.split()[0]) < 200 * 1024
        with server.connect() as extra:  # all 1,000 slots idle: the idlest makes room
            assert extra.exchange(b"GET /echo/new HTTP/1.1\r\n" + H + b"\r\n").body == b"new"
        assert clients[0].read_until_closed() == b""  # closed cleanly, with no byte sent
        assert clients[-1].exchange(b"GET /echo/alive HTTP/1.1\r\n" + H + b"\r\n").body == b"alive"
    finally:
        for client in clients:
            client.close()
    assert wait_until(lambda: server.thread_count == 1, timeout=30)
    server.assert_answers()
