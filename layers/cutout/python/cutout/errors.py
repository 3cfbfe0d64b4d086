"""Every refusal Cutout makes, in families by what the caller should do about it.

```
CutoutError                  code (stable, machine-readable), message, headers
├── InputError               the request itself is wrong: never charged, never retried
│   ├── InvalidImage         not an image we can decode
│   │   └── TooManyScans     a JPEG with more than 100 scans              (engine/jpeg.py)
│   ├── ImageTooLarge        over the pixel or byte limits
│   ├── InvalidOption        an option outside its documented range
│   ├── FetchError           an image URL could not be fetched                  (fetch.py)
│   │   └── FetchRefused     the SSRF guard or a limit refused it: never worth retrying
│   ├── NoForeground         no subject found, when asked to refuse then   (engine/pipeline.py)
│   ├── InvalidObjectKey     an object key that could escape the store     (blobs/)
│   └── BadRequest, ResultTooLarge                                         (web/)
├── AccessError              who sent it, or how much they used: not charged; fix key or plan
│   ├── MissingKey, InvalidApiKey, RevokedKey                              (accounts/keys.py)
│   ├── QuotaExceeded                                                      (accounts/ratelimit.py)
│   └── RateLimited          retryable: the minute's window frees up       (accounts/ratelimit.py)
│       └── HeavierThanThePlan  not retryable: the image alone outweighs the minute
├── NotFound                 no such object
│   └── BlobNotFound                                                       (blobs/)
└── Unavailable              a backend is down or refused the call: retry
    ├── LimiterUnavailable   also an AccessError, so every dialect answers it in
    │                        its access-refusal shape (accounts/ratelimit.py)
    └── BlobUnavailable                                                    (blobs/)
```

Callers choose by family: the web edge maps families to HTTP statuses
(`web/errors.py`, and each dialect its own shape), the S3 trigger and job
workers retry what is `retryable` and write an error for the rest. No engine
error carries an HTTP status. Backend signals (`WindowFull`, `QuotaFull`,
`StoreUnavailable`, `ConditionFailed`) stay inside `stores/` and the limiter,
which translate them into this tree; dialect errors (`RemoveBgError`,
`AzureError`) stay in their dialects.
"""
from __future__ import annotations

from typing import Mapping


class CutoutError(Exception):
    """A request Cutout refuses on purpose (bad input, limits, policy, an outage)."""

    code: str = "error"
    retryable: bool = False  # whether the same request may succeed later as it is

    def __init__(self, message: str, *, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        # What a refusal tells the client besides the message (rate-limit state, Retry-After).
        self.headers: dict[str, str] = dict(headers or {})


# --- families -------------------------------------------------------------------------


class InputError(CutoutError):
    """The request itself is wrong; the same request will always fail. Never charged."""

    code = "invalid_request"


class AccessError(CutoutError):
    """Refused for who sent the request or how much they used, not for its image."""

    code = "forbidden"


class NotFound(CutoutError):
    """What the request names does not exist."""

    code = "not_found"


RETRY_AFTER_SECONDS = 5  # what every 503 tells a client to wait (Retry-After, RFC 9110 10.2.3)


class Unavailable(CutoutError):
    """A backend (store, bucket, secret) is down or refused the call; retrying may succeed."""

    code = "service_unavailable"
    retryable = True


# --- input errors the engine raises -----------------------------------------------------


class InvalidImage(InputError):
    """The bytes are not an image we can decode."""

    code = "invalid_image"


class TooManyScans(InvalidImage):
    """A JPEG with more scans (progressive passes) than Cutout decodes (jpeg.MAX_SCANS)."""

    code = "too_many_scans"


class ImageTooLarge(InputError):
    """The image is over the configured pixel or byte limits."""

    code = "image_too_large"


class FetchError(InputError):
    """An image URL could not be fetched (unresolvable, unreachable, an HTTP error, too slow)."""

    code = "fetch_failed"


class FetchRefused(FetchError):
    """The SSRF guard or a limit refused the URL (scheme, private address, size, redirects).

    Same code as its parent, so every status and error code stays `fetch_failed`;
    a caller that retries (the webhook) tells the two apart by type.
    """


class InvalidOption(InputError):
    """A processing option has a value outside its documented range."""

    code = "invalid_option"
