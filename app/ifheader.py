"""The WebDAV `If` request header (RFC 4918 §10.4): its grammar and its evaluation.

It owns two pure functions, with no disk and no database in them:

- `parse_if(value)`: the header as `Production`s (a No-tag-list, or a Tagged-list with
  the resource its tag names), each a disjunction of `List`s, each a conjunction of
  `Condition`s; `ValueError` with the reason for a value outside the grammar (400);
- `if_holds(productions, state_of)`: whether the header evaluates to true (§10.4.3),
  given `state_of(tag)`, the lock tokens and entity tags of the resource a tag names
  (None: the Request-URI). False is a 412.

And `submitted_tokens()`: every state token that appears in the header. RFC 4918
§10.4.1: "the mere fact that a state token appears in an If header means that it has
been 'submitted' with the request"; a lock's token must be submitted to write what the
lock protects (§6.4, 423 otherwise; `davlocks.check_write()`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

# RFC 4918 §10.4.2:
#   If = "If" ":" ( 1*No-tag-list | 1*Tagged-list )
#   No-tag-list = List
#   Tagged-list = Resource-Tag 1*List
#   List = "(" 1*Condition ")"
#   Condition = ["Not"] (State-token | "[" entity-tag "]")
#   ; entity-tag: defined in Section 3.11 of [RFC2616]
#   ; No LWS allowed between "[", entity-tag and "]"
#   State-token = Coded-URL
#   Resource-Tag = "<" Simple-ref ">"
#   ; Simple-ref: see Section 8.3
#   ; No LWS allowed in Resource-Tag
# §10.1:  Coded-URL = "<" absolute-URI ">"  ; No linear whitespace (LWS) allowed in Coded-URL
# §8.3:   Simple-ref = absolute-URI | ( path-absolute [ "?" query ] )
# RFC 3986 §4.3: absolute-URI = scheme ":" hier-part [ "?" query ]
#                scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
# RFC 9110 §8.8.3: entity-tag = [ weak ] opaque-tag ; weak = %s"W/"
#                  opaque-tag = DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
#
# Between the productions: implied LWS (RFC 2616 §2.1), SP and HTAB. "Not" is an ABNF
# string, so case-insensitive (RFC 5234 §2.3). Inside "<...>", any character but space,
# controls and "<>": the scheme or leading "/" is checked after, and UTF-8 left
# unescaped by a client is let through (it names a path as well as its escaped form).
LWS_RE = re.compile(r"[ \t]*")
IF_STEP_RE = re.compile(
    r"""(?P<open>\()
      | (?P<close>\))
      | (?P<not>[Nn][Oo][Tt])(?=[ \t<\[])
      | <(?P<url>[^\x00-\x20\x7f<>]+)>
      | \[(?P<etag>(?:W/)?"[\x21\x23-\x7e\x80-\xff]*")\]""",
    re.VERBOSE,
)
ABSOLUTE_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:.*", re.DOTALL)
PATH_ABSOLUTE_RE = re.compile(r"/(?!/).*|/", re.DOTALL)  # "//" would begin an authority


class Condition(NamedTuple):
    negated: bool  # "Not"
    token: str | None  # a State-token's absolute-URI, or None for an entity tag
    etag: str | None  # an entity-tag as sent ('W/"x"' or '"x"'), or None for a token


class Production(NamedTuple):
    resource: str | None  # a Resource-Tag's Simple-ref; None: a No-tag-list (the Request-URI)
    lists: tuple[tuple[Condition, ...], ...]  # any one List true makes it true


class ResourceState(NamedTuple):
    """What a Condition is matched against (§10.4.4): the tokens of the locks whose
    scope holds the resource, and its current entity tags as opaque-tags (W/ dropped)."""

    tokens: frozenset[str]
    etags: frozenset[str]


UNMAPPED = ResourceState(frozenset(), frozenset())  # §10.4.4: a resource with no state


def parse_if(value: str) -> tuple[Production, ...]:
    """The productions of an If header value, in order; `ValueError` saying what is
    wrong (and where) when it is outside the grammar above."""
    productions: list[Production] = []
    position = LWS_RE.match(value).end()
    while position < len(value):
        step = IF_STEP_RE.match(value, position)
        if step is None or not (step["open"] or step["url"]):
            raise ValueError(f"expected '(' or '<' at {value[position:position + 30]!r}")
        resource = None
        if step["url"]:
            resource = resource_tag(step["url"], productions)
            position = LWS_RE.match(value, step.end()).end()
        elif productions and productions[0].resource is not None:
            raise ValueError("a list without a resource tag after tagged lists (RFC 4918 §10.4.2)")
        lists, position = parse_lists(value, position)
        productions.append(Production(resource, lists))
    if not productions:
        raise ValueError("empty If header")
    return tuple(productions)


def resource_tag(url: str, productions: list[Production]) -> str:
    """A Resource-Tag's Simple-ref, checked (§8.3), and never after a No-tag-list."""
    if productions and productions[0].resource is None:
        raise ValueError("a resource tag after untagged lists (RFC 4918 §10.4.2)")
    if not (ABSOLUTE_URI_RE.fullmatch(url) or PATH_ABSOLUTE_RE.fullmatch(url)):
        raise ValueError(f"resource tag <{url[:30]}> is neither an absolute URI nor an absolute path")
    return url


def parse_lists(value: str, position: int) -> tuple[tuple[tuple[Condition, ...], ...], int]:
    """`1*List` from `position`: the lists and the position after them (and their LWS)."""
    lists = []
    while (step := IF_STEP_RE.match(value, position)) is not None and step["open"]:
        conditions, position = parse_conditions(value, LWS_RE.match(value, step.end()).end())
        lists.append(conditions)
        position = LWS_RE.match(value, position).end()
    if not lists:
        raise ValueError(f"expected '(' at {value[position:position + 30]!r}")
    return tuple(lists), position


def parse_conditions(value: str, position: int) -> tuple[tuple[Condition, ...], int]:
    """`1*Condition ")"` from `position`: the conditions and the position after ")"."""
    conditions: list[Condition] = []
    negated = False
    while (step := IF_STEP_RE.match(value, position)) is not None and not step["open"]:
        after = LWS_RE.match(value, step.end()).end()
        if step["close"] and conditions and not negated:
            return tuple(conditions), after
        if step["not"] and not negated:
            negated = True
        elif step["url"] and ABSOLUTE_URI_RE.fullmatch(step["url"]):
            conditions.append(Condition(negated, step["url"], None))
            negated = False
        elif step["etag"]:
            conditions.append(Condition(negated, None, step["etag"]))
            negated = False
        else:
            break
        position = after
    raise ValueError(f"expected a state token <absolute-URI> or [entity-tag] at {value[position:position + 30]!r}")


def if_holds(productions: tuple[Production, ...], state_of: Callable[[str | None], ResourceState]) -> bool:
    """§10.4.3: true if and only if at least one production is true; a production is
    true if any one of its lists is, a list if all its conditions are. Each tagged
    production is matched against the resource its tag names (§10.4.4), a No-tag-list
    against the Request-URI (`state_of(None)`)."""
    for production in productions:
        state = state_of(production.resource)
        if any(all(condition_holds(each, state) for each in conditions) for conditions in production.lists):
            return True
    return False


def condition_holds(condition: Condition, state: ResourceState) -> bool:
    """§10.4.4: a state token matches when it is the token of a lock whose scope holds
    the resource; an entity tag when it is the resource's (weak comparison, which
    §10.4.4 allows: "either the weak or the strong comparison function"). `Not`
    reverses the result (§10.4.3)."""
    if condition.token is not None:
        matched = condition.token in state.tokens
    else:
        matched = condition.etag.removeprefix("W/") in state.etags
    return matched != condition.negated


def submitted_tokens(productions: tuple[Production, ...]) -> frozenset[str]:
    """Every state token in the header, negated or not (§10.4.1: appearing is submitting)."""
    return frozenset(
        condition.token
        for production in productions
        for conditions in production.lists
        for condition in conditions
        if condition.token is not None
    )
