"""QR codes (`--qr`): a URL drawn in the terminal, or as SVG for the share link page.

The only module that imports `segno` (pure Python, no dependencies, PyPI), the one
package outside the standard library the server may use, and optional: it is imported
only when `--qr` asks for a code. Without it, `install_hint()` is the one line to print,
and the server runs as it would without `--qr`.

The terminal drawing is made here from segno's module matrix, two rows of modules per
line of text with the half blocks "▀", "▄", "█" and space (dark modules drawn in the
terminal's foreground colour, light ones left blank), inside the 4-module quiet zone the
standard asks for (ISO/IEC 18004 §6.3.8), so that `matrix_from_text()` can read the
same modules back.
"""

from __future__ import annotations

QUIET_ZONE = 4
INSTALL_HINT = "--qr needs the segno package: pip install segno (the server runs without the QR code)"
# (upper module dark, lower module dark) -> character. Dark drawn as ink on a light
# background would need the terminal's colours reversed; instead light modules are ink:
# phones read codes either way round, but not all, so ink is light here (segno's own
# terminal output does the same with a white background colour).
HALF_BLOCKS = {(False, False): "█", (False, True): "▀", (True, False): "▄", (True, True): " "}
CHARACTERS = {character: pair for pair, character in HALF_BLOCKS.items()}


def load_segno():
    """The segno module, or None when it is not installed."""
    try:
        import segno
    except ImportError:
        return None
    return segno


def install_hint() -> str | None:
    """None when QR codes can be drawn; else the one line that says how to install segno."""
    return None if load_segno() is not None else INSTALL_HINT


def matrix(text: str) -> list[list[bool]]:
    """The modules of the QR code for `text` (True: dark), with the quiet zone."""
    code = load_segno().make(text, error="m", micro=False)
    return [[bool(module) for module in row] for row in code.matrix_iter(scale=1, border=QUIET_ZONE)]


def terminal_text(text: str) -> str:
    """The QR code for `text` as lines of half blocks (see the module's docstring)."""
    rows = matrix(text)
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2]):
        lines.append("".join(HALF_BLOCKS[(upper, lower)] for upper, lower in zip(top, bottom)))
    return "\n".join(lines) + "\n"


def matrix_from_text(drawing: str) -> list[list[bool]]:
    """The modules a `terminal_text()` drawing shows (for tests: read back what was printed)."""
    rows: list[list[bool]] = []
    for line in drawing.splitlines():
        pairs = [CHARACTERS[character] for character in line]
        rows.append([upper for upper, _ in pairs])
        rows.append([lower for _, lower in pairs])
    return rows


def svg(text: str) -> str | None:
    """The QR code for `text` as an inline SVG element, or None without segno."""
    segno = load_segno()
    if segno is None:
        return None
    return segno.make(text, error="m", micro=False).svg_inline(scale=4, border=QUIET_ZONE, title=text)
