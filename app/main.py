"""The command line: arguments → `Settings`, logging, and `main()`.

Every option except the two logging switches is generated from the fields of
`settings.py` (`options_from_settings`), so a flag and its setting always share a name.
`main()` then runs a `Server` (`server.py`) in this process, or a `Supervisor` of worker
processes (`workers.py`) for `--workers N`. Start reading the code at `settings.py`; the
README's "How it works" gives the order.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from app import accesslog, tls
from app.banner import banner
from app.netaddr import lan_host
from app.partial_uploads import remove_leftovers
from app.policy import startup_errors
from app.server import Server
from app.settings import Limits, Settings, Timeouts
from app.socket_activation import inherited_listener
from app.workers import Supervisor

if TYPE_CHECKING:  # only for annotations: `ssl` maps libssl and libcrypto (~6 MiB of RSS)
    import ssl  # that a plain-HTTP server never uses; app/tls.py imports it when --tls-cert asks

log = logging.getLogger("app")

# The settings classes whose `option()` fields become flags, and the --help group of each.
OPTION_GROUPS: tuple[tuple[type, str | None], ...] = (
    (Settings, None),
    (Limits, "limits"),
    (Timeouts, "timeouts"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="your_program.sh",
        description="An HTTP/1.1 server: echo, user-agent, files from a directory, and a static site.",
    )
    for settings_class, title in OPTION_GROUPS:
        group = parser.add_argument_group(title) if title else parser
        for setting in dataclasses.fields(settings_class):
            if "help" in setting.metadata:
                add_option(group, setting)
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="also log connections opening and closing, and why each closed")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="no access log; warnings and errors only")
    return parser


def add_option(group: Any, setting: dataclasses.Field) -> None:
    """One flag for one setting: `--max-upload` for `max_upload`. A boolean is a switch;
    one that is on by default also gets its `--no-` form. A `repeat` option collects its
    values in a list (made a tuple by `option_values`); a `bare` one may omit its value."""
    metadata = setting.metadata
    flags = [flag for flag in (metadata.get("short"), "--" + setting.name.replace("_", "-")) if flag]
    help_text, parse = metadata["help"], metadata["parse"]
    if parse is None:
        action = argparse.BooleanOptionalAction if setting.default else "store_true"
        group.add_argument(*flags, action=action, default=setting.default, help=help_text)
        return
    if "default" not in help_text and setting.default not in (None, ()):
        help_text += f" (default: {setting.default:g})" if isinstance(setting.default, float) else " (default: %(default)s)"
    shape: dict[str, Any] = {"default": setting.default}
    if metadata.get("repeat"):
        # argparse appends to a copy of the default, so it must be a list (or None).
        shape = {"action": "append", "default": None}
    if metadata.get("bare") is not None:
        shape.update(nargs="?", const=metadata["bare"])
    group.add_argument(*flags, type=parse, metavar=metadata["metavar"], help=help_text, **shape)


def settings_from_arguments(arguments: argparse.Namespace) -> Settings:
    """The `Settings` the parsed command line describes."""
    return Settings(
        **option_values(Settings, arguments),
        limits=Limits(**option_values(Limits, arguments)),
        timeouts=Timeouts(**option_values(Timeouts, arguments)),
    )


def option_values(settings_class: type, arguments: argparse.Namespace) -> dict[str, Any]:
    values = {}
    for setting in dataclasses.fields(settings_class):
        if "help" in setting.metadata:
            value = getattr(arguments, setting.name)
            values[setting.name] = tuple(value or ()) if setting.metadata["repeat"] else value
    return values


def configure_logging(verbose: bool, workers: int = 1) -> None:
    """Logs go to stderr with a timestamp. With worker processes, each line also names the
    process that wrote it. (Access lines do not go through `logging`: see accesslog.py.)"""
    # Skip what no line of ours prints (the Logging HOWTO, "Optimization"): the caller's
    # file and line (a stack walk per record), the process name, and the thread name,
    # which in a connection thread (started with `_thread`) would register a dummy
    # `threading.Thread` for it that is never removed.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    process = "[pid %(process)d] " if workers > 1 else ""
    add_stderr_handler(log, f"%(asctime)s %(levelname)s {process}%(message)s")
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def open_access_log(settings: Settings, quiet: bool) -> None:
    """The access log, unless -q: on stderr, or in --access-log FILE, which SIGHUP reopens
    (logrotate renames the file, then signals; nginx does the same)."""
    if quiet:
        return
    access_log = accesslog.open_access_log(settings.access_log)
    if settings.access_log is not None:
        signal.signal(signal.SIGHUP, lambda *_: access_log.reopen_soon())


def add_stderr_handler(logger: logging.Logger, line_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(line_format))
    logger.addHandler(handler)
    logger.propagate = False


def make_runner(settings: Settings, tls_context: ssl.SSLContext | None) -> Server | Supervisor:
    """The server, or the supervisor of its workers, listening. Under systemd socket
    activation the port is open already (`socket_activation.py`)."""
    listener = inherited_listener()
    if listener is not None:
        host, port = listener.getsockname()[:2]
        settings = dataclasses.replace(settings, host=host, port=port)
    if settings.directory is not None:
        remove_leftovers(settings.directory, settings.upload_expiry)
    if settings.workers > 1:
        return Supervisor(settings, tls_context, listener)
    return Server(settings, listener, tls_context, shared=listener is not None)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    settings = settings_from_arguments(arguments)
    for error in startup_errors(settings):
        parser.error(error)
    if problem := tls.option_problem(settings):
        parser.error(problem)
    if settings.lan:
        settings = dataclasses.replace(settings, host=lan_host())
    configure_logging(arguments.verbose, settings.workers)
    try:
        open_access_log(settings, arguments.quiet)
    except OSError as error:
        print(f"cannot open the access log {settings.access_log}: {error.strerror}", file=sys.stderr)
        return 1
    try:
        tls_context = tls.server_context(settings)
    except tls.TLSSetupError as error:
        print(f"cannot serve HTTPS: {error}", file=sys.stderr)
        return 1
    try:
        runner = make_runner(settings, tls_context)
    except OSError as error:
        print(f"cannot listen on {settings.host} port {settings.port}: {error.strerror}", file=sys.stderr)
        return 1
    # Ctrl+C (SIGINT) and SIGTERM (kill, systemd, docker) both stop the server. SIGINT is
    # installed explicitly: a shell starts background jobs with SIGINT ignored, and Python
    # then leaves it ignored.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    if isinstance(runner, Supervisor):
        print(runner.run(banner(runner.settings, runner.port)), flush=True)
        return 0
    return serve(runner, banner(runner.settings, runner.port))


def serve(server: Server, first_line: str) -> int:
    """Run the server in this process until Ctrl+C or SIGTERM, then shut it down."""
    try:
        # Inside the try: a signal may arrive as soon as the banner is out (a script
        # waits for it, then stops us), before serve_forever() has begun.
        print(first_line, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    # From here on a stop signal only cuts the grace period short: an exception raised
    # in the middle of the shutdown would leave it half done.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: server.skip_grace.set())
    print(server.shutdown(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
