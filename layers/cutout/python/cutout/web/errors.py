"""HTTP statuses for Cutout's errors: the families map here, once, at the web edge.

The engine, accounts and ports raise errors by family (`cutout.errors`) and
never speak HTTP. This table turns them into statuses; a leaf that needs its
own status (413 for a too-large image, 401 for a missing key, 402 for an
empty quota, 429 for a full window) is listed before its family. Errors made
by the web edge itself (`BadRequest`, `ResultTooLarge`) and by dialects
(`RemoveBgError`, `AzureError`) carry their status as a `status` attribute;
dialects then reshape the result (remove.bg answers input errors with 400,
Azure every key problem with 401) in their own modules.
"""
from __future__ import annotations

from ..accounts.keys import MissingKey
from ..accounts.ratelimit import QuotaExceeded, RateLimited
from ..errors import (RETRY_AFTER_SECONDS, AccessError, CutoutError, ImageTooLarge, InputError, NotFound,
                      Unavailable)

# Most specific first: the first class in an error's MRO found here decides.
STATUSES: dict[type[CutoutError], int] = {
    ImageTooLarge: 413,
    InputError: 400,
    MissingKey: 401,
    QuotaExceeded: 402,
    RateLimited: 429,
    AccessError: 403,
    NotFound: 404,
    Unavailable: 503,
}


def status_of(exc: CutoutError) -> int:
    """The HTTP status for `exc`: its own `status` (web and dialect errors), else by class."""
    own = getattr(exc, "status", None)
    if isinstance(own, int):
        return own
    for cls in type(exc).__mro__:
        if cls in STATUSES:
            return STATUSES[cls]
    return 400  # a bare CutoutError: a refusal of the request


def headers_of(exc: CutoutError) -> dict[str, str]:
    """The headers a refusal's response carries: its own (rate-limit state, Retry-After), and
    for an Unavailable that names no wait, `Retry-After: 5` (seconds, RFC 9110 section 10.2.3),
    so every dialect's 503 tells the client when to try again."""
    headers = dict(exc.headers)
    if isinstance(exc, Unavailable) and not any(k.lower() == "retry-after" for k in headers):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return headers


SHOWN_CHARACTERS = 60  # how much of a refused value a message quotes


def shown(value: str) -> str:
    """`value` quoted for an error message, cut to SHOWN_CHARACTERS so that a huge field
    is not echoed back whole."""
    if len(value) <= SHOWN_CHARACTERS:
        return repr(value)
    return repr(value[:SHOWN_CHARACTERS]) + f"... ({len(value)} characters)"
