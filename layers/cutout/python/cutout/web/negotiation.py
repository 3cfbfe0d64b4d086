"""HTTP content negotiation by `Accept` q-values (RFC 9110, section 12.5.1).

Each candidate media type gets the q-value of the most specific `Accept` range
that matches it (`type/subtype` over `type/*` over `*/*`); a type no range
matches gets 0. An absent or empty `Accept` accepts everything equally.
"""
from __future__ import annotations

from ..numerals import decimal


def _ranges(accept: str) -> list[tuple[str, str, float]]:
    """`Accept` -> [(type, subtype, q)], lower-cased; malformed q-values count as 1."""
    found = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if "/" not in media:
            continue
        kind, sub = (s.strip() for s in media.split("/", 1))
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, decimal(value.strip())))
                except ValueError:
                    q = 1.0
        found.append((kind, sub, q))
    return found


def quality(accept: str, media_type: str) -> float:
    """The q-value (0..1) `accept` gives `media_type`, e.g. ("image/*;q=0.5", "image/png") -> 0.5."""
    if not accept.strip():
        return 1.0
    kind, _, sub = media_type.lower().partition("/")
    best_specificity, best_q = -1, 0.0
    for r_kind, r_sub, q in _ranges(accept):
        if r_kind == "*" and r_sub == "*":
            specificity = 0
        elif r_kind == kind and r_sub == "*":
            specificity = 1
        elif r_kind == kind and r_sub == sub:
            specificity = 2
        else:
            continue
        if specificity > best_specificity:
            best_specificity, best_q = specificity, q
    return best_q


def prefers(accept: str, wanted: str, default: str) -> bool:
    """True only when `accept` strictly prefers `wanted` over `default`; ties go to `default`.

    remove.bg's rule: ("application/json, text/plain, */*", "application/json",
    "image/png") -> False (axios's default gets the image);
    ("application/json", ...) -> True.
    """
    return quality(accept, wanted) > quality(accept, default)
