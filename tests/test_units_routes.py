"""Unit tables for the route table's matching: `Route.match()` (a route's path and a
request path in; the rest after a prefix route, "" for an exact match, None for no match)
and `Route.allowed_methods()` (what `Allow` lists on 405 and OPTIONS)."""

from __future__ import annotations

import pytest

from app.handlers import Route

# (id, route path, request path, expected rest)
MATCHES = [
    ("root", "/", "/", ""),
    ("root-is-exact-not-a-prefix", "/", "/index.html", None),
    ("exact", "/echo", "/echo", ""),
    ("exact-not-with-a-slash", "/echo", "/echo/", None),
    ("exact-not-a-longer-word", "/echo", "/echoes", None),
    ("exact-with-a-dash", "/user-agent", "/user-agent", ""),
    ("exact-not-below", "/user-agent", "/user-agent/x", None),
    ("prefix", "/echo/", "/echo/abc", "abc"),
    ("prefix-alone", "/echo/", "/echo/", ""),
    ("prefix-without-its-slash", "/echo/", "/echo", None),
    ("prefix-rest-keeps-slashes", "/files/", "/files/a/b.txt", "a/b.txt"),
    ("prefix-rest-stays-encoded", "/files/", "/files/a%20b%2Fc", "a%20b%2Fc"),
    ("prefix-is-case-sensitive", "/echo/", "/ECHO/abc", None),
    ("prefix-of-another-route", "/files/", "/filesystem", None),
]


@pytest.mark.parametrize("route_path, path, rest", [case[1:] for case in MATCHES], ids=[case[0] for case in MATCHES])
def test_match(route_path: str, path: str, rest: str | None) -> None:
    assert Route(route_path, {}).match(path) == rest


def handler(*arguments: object) -> None:
    raise AssertionError("matching never calls a handler")


# (id, the methods a route has handlers for, expected Allow list)
ALLOWED = [
    ("get-brings-head", ["GET"], ["GET", "HEAD", "OPTIONS"]),
    ("no-head-without-get", ["POST"], ["OPTIONS", "POST"]),
    ("files", ["GET", "POST", "PUT", "DELETE"], ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]),
    ("nothing-but-options", [], ["OPTIONS"]),
]


@pytest.mark.parametrize("methods, allowed", [case[1:] for case in ALLOWED], ids=[case[0] for case in ALLOWED])
def test_allowed_methods(methods: list[str], allowed: list[str]) -> None:
    assert Route("/x", {method: handler for method in methods}).allowed_methods() == allowed
