"""`--workers N`: several processes serving the same port.

`Supervisor` forks N worker processes; each runs a whole `Server` (`server.py`) on its
own listening socket bound to the same port (SO_REUSEPORT: the kernel spreads new
connections over the workers). The parent serves nothing: it replaces a worker that dies
and, on Ctrl+C or SIGTERM, asks every worker to stop gracefully and waits for them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import time
from typing import TYPE_CHECKING

from app import accesslog
from app.server import Server, open_listener
from app.settings import Settings

if TYPE_CHECKING:  # only for annotations: `ssl` maps libssl and libcrypto (~6 MiB of RSS)
    import ssl  # that a plain-HTTP server never uses; app/tls.py imports it when --tls-cert asks

log = logging.getLogger("app")

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# Blocked around fork(): the stop signals, and SIGHUP (reopen the access log file).
FORK_BLOCKED = STOP_SIGNALS | {signal.SIGHUP}


class Supervisor:
    """The parent of `--workers N`: forks N workers, each a whole `Server` with its own
    listening socket on the shared port (SO_REUSEPORT: the kernel balances new connections
    between the sockets, so no lock guards accept()). The parent opens each worker's
    socket before forking it, so the port is listening by the time the banner is printed.
    It serves nothing itself: it replaces a worker that dies and, on Ctrl+C or SIGTERM,
    asks every worker to stop gracefully (SIGTERM) and waits for them."""

    def __init__(
        self, settings: Settings, tls_context: ssl.SSLContext | None = None, shared: socket.socket | None = None
    ) -> None:
        self.tls_context = tls_context  # HTTPS: each worker inherits the context by fork()
        # Under socket activation (`socket_activation.py`) every worker accepts on the one
        # socket systemd passed; otherwise each has its own on the shared port.
        self.shared = shared
        first = shared if shared is not None else open_listener(settings, reuse_port=True)
        self.port: int = first.getsockname()[1]  # the free port --port 0 found, if so
        self.settings = dataclasses.replace(settings, port=self.port)
        self.spare_listeners = [first]
        self.workers: dict[int, tuple[socket.socket, float]] = {}  # pid -> (listener, start)

    def run(self, banner: str) -> str:
        """Keep the workers running until Ctrl+C or SIGTERM; returns a summary line."""
        try:
            print(banner, flush=True)
            self.forward_reopen_signal()
            for _ in range(self.settings.workers - 1):
                self.spare_listeners.append(self.new_listener())
            while self.spare_listeners:
                self.start_worker(self.spare_listeners.pop())
            while True:
                pid, status = os.wait()
                if pid not in self.workers:
                    continue
                listener, started = self.workers.pop(pid)
                # Close the dead worker's socket at once, so that the kernel stops queuing
                # connections nobody accepts; the new worker gets a socket of its own.
                self.close_listener(listener)
                log.warning("worker %d %s; starting a new one", pid, describe_exit(status))
                if time.monotonic() - started < self.settings.worker_restart_delay:
                    time.sleep(self.settings.worker_restart_delay)
                self.start_worker(self.new_listener())
        except KeyboardInterrupt:
            pass
        return self.stop_workers()

    def new_listener(self) -> socket.socket:
        """A listening socket for one more worker."""
        return self.shared if self.shared is not None else open_listener(self.settings, reuse_port=True)

    def close_listener(self, listener: socket.socket) -> None:
        """Close a stopped worker's socket, unless it is the one all workers share."""
        if listener is not self.shared:
            listener.close()

    def forward_reopen_signal(self) -> None:
        """With --access-log FILE, each worker writes the file: SIGHUP (logrotate) is
        passed on to every worker, which reopens its own (`run_worker`)."""
        if accesslog.active_log is not None and accesslog.active_log.path is not None:
            signal.signal(signal.SIGHUP, lambda *_: [signal_quietly(pid, signal.SIGHUP) for pid in self.workers])

    def start_worker(self, listener: socket.socket) -> None:
        # Signals wait until the child has its own handlers: a Ctrl+C landing between
        # fork() and those must not run the parent's handler inside the child.
        signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED)
        pid = os.fork()
        if pid == 0:
            others = [other for other, _ in self.workers.values()] + self.spare_listeners
            others = [other for other in others if other is not listener]
            run_worker(self.settings, listener, others, self.tls_context, self.shared)  # never returns
        # Recorded before the signals are let through: a SIGTERM waiting for the unblock
        # must find this worker among those to stop, or it would be left running.
        self.workers[pid] = (listener, time.monotonic())
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORK_BLOCKED)
        log.debug("worker %d started", pid)

    def stop_workers(self) -> str:
        stopping = len(self.workers)
        for pid in self.workers:
            signal_quietly(pid, signal.SIGTERM)
        # Each worker has its own grace period for requests in flight; one still running
        # well after that is killed outright.
        deadline = time.monotonic() + self.settings.timeouts.shutdown_grace + 5
        while self.workers:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            except KeyboardInterrupt:  # a second Ctrl+C: workers stop waiting for requests
                for pid in self.workers:
                    signal_quietly(pid, signal.SIGTERM)
                continue
            if pid in self.workers:
                self.close_listener(self.workers.pop(pid)[0])
            elif pid == 0:
                if time.monotonic() > deadline:
                    for pid in self.workers:
                        signal_quietly(pid, signal.SIGKILL)
                time.sleep(0.02)
        for listener in self.spare_listeners:
            listener.close()
        return f"Stopped {stopping} workers."


def run_worker(
    settings: Settings,
    listener: socket.socket,
    others: list[socket.socket],
    tls_context: ssl.SSLContext | None,
    shared: socket.socket | None,
) -> None:
    """The body of a forked worker: one `Server` on its listening socket, until SIGTERM
    from the parent. Never returns: the worker must not fall back into the parent's code."""
    exit_code = 1
    try:
        for other in others:
            other.close()  # the other workers' sockets: this process's copies only
        # Ctrl+C in a terminal reaches the whole process group; the parent forwards it
        # as SIGTERM, so the worker ignores the direct copy and stops once, gracefully.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        if accesslog.active_log is not None and accesslog.active_log.path is not None:
            signal.signal(signal.SIGHUP, lambda *_: accesslog.active_log and accesslog.active_log.reopen_soon())
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORK_BLOCKED)
        server = Server(settings, listener, tls_context, shared=listener is shared)
        log.debug("worker %d listening on port %d", os.getpid(), server.port)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        # As in main(): another stop signal only cuts the grace period short.
        signal.signal(signal.SIGTERM, lambda *_: server.skip_grace.set())
        log.debug("worker %d: %s", os.getpid(), server.shutdown())
        exit_code = 0
    except BaseException:
        log.exception("worker %d failed", os.getpid())
    finally:
        logging.shutdown()
        os._exit(exit_code)


def signal_quietly(pid: int, signal_number: int) -> None:
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        pass  # already gone


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
