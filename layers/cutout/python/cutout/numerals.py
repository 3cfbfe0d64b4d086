"""Numbers written in text by users and peers: ASCII digits only, one rule everywhere.

Python's own parsers are generous in ways a protocol is not: `str.isdigit()` is
true for superscripts such as `²` (which `int()` then refuses with a
ValueError, so a check-then-convert crashed), `int()` and `float()` accept any
Unicode decimal digit (`٣`, `３`), underscores (`1_000`) and `float()` also
`inf` and `nan`. HTTP's numbers (RFC 9110 section 5.6.1: `1*DIGIT`, DIGIT
being ASCII 0-9), query parameters and form fields are ASCII. Every place
where text from a client or a peer becomes a number (a Content-Length from
a source server or a client, a `take` query parameter, a form field's
percentage, an Accept header's q-value, a length such as `30px`) parses it
here, so each says no the same way: a ValueError, which the caller turns into
its documented refusal, or ignores when the number was only advisory.
"""
from __future__ import annotations

import math
import re

DIGITS = "[0-9]+"  # for patterns that embed a number (re's \d is any Unicode digit)
_INTEGER = re.compile(DIGITS)
_SIGNED = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BLANK = " \t"


def integer(text: str, *, signed: bool = False) -> int:
    """`text` (surrounding spaces and tabs allowed) as an int: ASCII digits, and a leading
    `+` or `-` only when `signed`. Raises ValueError for anything else."""
    value = text.strip(_BLANK)
    if not (_SIGNED if signed else _INTEGER).fullmatch(value):
        raise ValueError(f"not an ASCII integer: {text[:40]!r}")
    return int(value)


def is_integer(text: str) -> bool:
    """Whether `integer(text)` would succeed (an unsigned run of ASCII digits)."""
    return _INTEGER.fullmatch(text.strip(_BLANK)) is not None


def decimal(text: str) -> float:
    """`text` (surrounding spaces and tabs allowed) as a finite float: an optional sign,
    ASCII digits with at most one `.`, and an optional exponent (`1e2`). No `inf`, `nan`
    or underscores. Raises ValueError for anything else."""
    value = text.strip(_BLANK)
    if not _DECIMAL.fullmatch(value):
        raise ValueError(f"not an ASCII number: {text[:40]!r}")
    number = float(value)
    if not math.isfinite(number):  # 1e999
        raise ValueError(f"not a finite number: {text[:40]!r}")
    return number
