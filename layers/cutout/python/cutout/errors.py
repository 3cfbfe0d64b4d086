"""Every refusal Cutout makes, in families by what the caller should do about it.

```
CutoutError                  code (stable, machine-readable), message, headers
├── InputError               the request itself is wrong: never charged, never retried
│   ├── InvalidImage         not an image we can decode
│   │   └── TooManyScans     a JPEG with more than 100 scans              (engine/jpeg.py)
│   ├── ImageTooLarge        over the pixel limit
│   │   └── FileTooLarge     over the byte limit
│   ├── InvalidOption        an option outside its documented range
│   ├── FetchError           an image URL could not be fetched                  (fetch.py)
│   │   └── FetchRefused     the SSRF guard or a limit refused it: never worth retrying
│   ├── NoForeground         no subject found, when asked to refuse then   (engine/segment.py)
│   ├── PsdUnsupported       a result too large for a PSD                  (engine/psd.py)
│   ├── InvalidObjectKey     an object key that could escape the store     (blobs/)
│   ├── BadRequest, ResultTooLarge   a malformed body; a response over the limit  (web/)
│   ├── UntrustedHost        a Host absolute URLs may not be built from      (web/origin.py)
│   ├── OutputRefused        a job's output URL refused its result         (jobs/worker.py)
│   ├── IdempotencyKeyReused  an Idempotency-Key used before for another request
│   │                                                                      (jobs/submit.py)
│   └── RemoveBgError, AzureError, AdobeError, SenseiError, Invalid, Unsupported
│                            refusals phrased by one dialect      (web/dialects/)
├── AccessError              who sent it, or how much they used: not charged; fix key or plan
│   ├── MissingKey, InvalidApiKey, RevokedKey                              (accounts/keys.py)
│   │   └── ConflictingKeys  one key header carrying two different keys      (web/auth.py)
│   ├── QuotaExceeded                                                      (accounts/ratelimit.py)
│   ├── RateLimited          retryable: the minute's window frees up       (accounts/ratelimit.py)
│   │   ├── HeavierThanThePlan  not retryable: the image alone outweighs the minute
│   │   └── TooManyDownloads    a key's URL downloads at once are at their bound  (web/inputs.py)
│   └── RateLimitedAtProcessing  a job's real size found no room: failed, not retried
│                                                                          (jobs/topup.py)
├── NotFound                 no such object
│   ├── BlobNotFound                                                       (blobs/)
│   └── ImageNotFound        no such stored image for this account         (imagelib.py)
└── Unavailable              a backend is down or refused the call: retry (503, Retry-After)
    ├── StoreUnavailable     the account, job or image store                     (stores/)
    │   └── LimiterUnavailable  the metering store, when the limiter fails closed
    │                                                           (accounts/ratelimit.py)
    ├── BlobUnavailable                                                    (blobs/)
    ├── QueueFull, QueueUnavailable                                        (queues/)
    ├── OutputUnavailable    a job's output URL gave no answer or a 5xx    (jobs/worker.py)
    └── Overloaded           a cut would wait longer than CUTOUT_MAX_QUEUE_SECONDS  (engine/workload.py)
```

Callers choose by family: the web edge maps families to HTTP statuses
(`web/errors.py`, and each dialect its own shape, once, in its `render`), the
S3 trigger and job workers retry what is `retryable` and write an error for the
rest. No error here carries an HTTP status. Adapters raise the port's members of
this tree themselves (`StoreUnavailable`, `BlobUnavailable`), so no caller
translates backend failures; backend signals that are not refusals (`WindowFull`,
`QuotaFull`, `ConditionFailed`, `JobExists`) stay inside `stores/` and their
callers. Errors of the web edge (`BadRequest`, `ResultTooLarge`) and of one
dialect (`RemoveBgError`, `AzureError`, `AdobeError`, IMG Processing's `Invalid`)
live in their modules.
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


class FileTooLarge(ImageTooLarge):
    """The file itself has more bytes than the limit (its pixels were never looked at)."""

    def __init__(self, size: int, limit: int, message: str = "") -> None:
        super().__init__(message or f"Image is too large: {size} bytes exceeds {limit} bytes.")
        self.size = size  # bytes (at least; a bounded read stops after limit + 1)
        self.limit = limit  # bytes


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
