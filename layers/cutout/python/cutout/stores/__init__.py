"""The store: its ports by record family, and the choice of adapter.

Three record families, each a port: `AccountStore` (keys, rate windows, monthly
usage), `ImageStore` (stored images) and `JobStore` (asynchronous jobs); `Store`
is all three, which both adapters implement over one table. Every method raises
`StoreUnavailable` (an `errors.Unavailable`) when the backend cannot be reached.
One table, two backends: DynamoDB (`CUTOUT_TABLE` set; the endpoint comes from
the standard `AWS_ENDPOINT_URL_DYNAMODB`, so dynalite works unchanged) and
SQLite under `CUTOUT_DATA_DIR` otherwise. Both keep the same items:

    pk                      sk                  attributes
    KEY#<sha256 of key>     META                key_id, owner, plan, status, created, overrides
    KEY#<account id>[#<n>]  RATE#<epoch minute> mp (megapixels admitted), ttl  (shard n > 0 of a
    KEY#<account id>[#<n>]  USAGE#<yyyy-mm>     calls, megapixels, credits       busy account)
                                                (DynamoDB, both: t0..t15, the last writes' tokens)
    KEY#<account id>        SHARDS#<yyyy-mm>    shards: the most counter shards the month used
    CHARGE#<charge id>      META                the charge and its state: pending, settled,
                                                (refunding,) refunded or refused
    IMAGES#<account id>     IMAGE#<image id>    name, format, width, height, size, created_at,
                                                token, ttl (the stored-images API)
    PUBLIC#<token>          META                account, image_id, ttl (a published image)
    JOB#<job id>            META                status, version, lease_until, doc, ttl (jobs)
    JOBKEY#<scope>          META                job_id, ttl (an Idempotency-Key's first job)

The adapters own atomicity: `admit` never lets a window pass its limit or a
month pass its quota, however many callers race.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import Settings
from ..errors import Unavailable

META = "META"
TTL_ATTRIBUTE = "ttl"  # the table's TimeToLive attribute (epoch seconds)


def key_pk(digest: str) -> str:
    return f"KEY#{digest}"


def account_pk(account_id: str, shard: int = 0) -> str:
    """The partition of an account's counters; a busy account's are spread over shards
    (`KEY#<id>`, `KEY#<id>#1`, `KEY#<id>#2`, ...: see accounts/ratelimit.py)."""
    return f"KEY#{account_id}" if shard == 0 else f"KEY#{account_id}#{shard}"


def rate_sk(window: int) -> str:
    return f"RATE#{window}"


def usage_sk(month: str) -> str:
    return f"USAGE#{month}"


def shards_sk(month: str) -> str:
    return f"SHARDS#{month}"


def charge_pk(charge_id: str) -> str:
    """A charge's own item (SQLite; DynamoDB keeps a pending charge on its window item)."""
    return f"CHARGE#{charge_id}"


@dataclass(frozen=True)
class KeyRecord:
    """What is kept of an API key: never the key itself, only its SHA-256 digest."""

    digest: str
    key_id: str
    owner: str
    plan: str
    status: str  # "active" | "revoked"
    created: str  # ISO 8601, UTC
    mp_per_minute: int | None = None  # overrides the plan when set
    monthly_credits: float | None = None
    sandbox: bool = False  # a `test_` key (recorded since keys list shows it; older: False)


def new_charge_id() -> str:
    """A charge's id: 16 random hex digits (64 bits), its token in every write it makes."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Charge:
    """One admitted request, as written to (and settled or refunded from) the store.

    `id` makes every write of the charge safe to retry: the store applies it once,
    however often it is sent. A charge is *pending* from its admission until its
    request settles it (the request succeeded) or it is refunded (it did not);
    `settle_by` is when a pending charge is overdue and the reconciler refunds it,
    unless `job` names a job whose record decides (succeeded: settle; failed: refund).
    """

    account: str
    window: int  # epoch minute
    month: str  # yyyy-mm, UTC
    weight: int  # megapixels rounded up: what counts against the window
    megapixels: float  # exact, for usage reports
    credits: float
    expires: int  # epoch seconds after which the window item may be deleted
    calls: int = 1  # calls it adds to the month's usage (0: a top-up of an admitted call)
    id: str = field(default_factory=new_charge_id)
    settle_by: int = 0  # epoch seconds; 0: at `expires`
    job: str = ""  # the job it paid for, if any
    shard: int = 0  # which of the account's counter shards it is counted in
    shards: int = 1  # how many the account had (a job's top-up counts in the same shard's part)


@dataclass(frozen=True)
class Usage:
    calls: int = 0
    megapixels: float = 0.0
    credits: float = 0.0


@dataclass(frozen=True)
class Window:
    used: int = 0
    expires: int | None = None  # the TTL of the item; None when there is no item


class StoreUnavailable(Unavailable):
    """The account store cannot be reached or keeps throttling: retry (503 with Retry-After).

    `detail` names what failed (the backend's own words, for the logs, and `str()` of
    the error); `message` is what a client reads. The limiter decides whether a metering
    store that is down refuses (503) or admits unmetered (fail-open).
    """

    code = "service_unavailable"

    def __init__(self, detail: str, message: str = "The account store is unavailable; retry shortly."
                 ) -> None:
        super().__init__(message)
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


class WindowFull(Exception):
    """The minute's megapixels would pass the limit; nothing was written."""

    def __init__(self, used: int) -> None:
        super().__init__(f"window full: {used} used")
        self.used = used


class QuotaFull(Exception):
    """The month's credits would pass the quota; nothing was written."""

    def __init__(self, credits: float, window_used: int) -> None:
        super().__init__(f"quota full: {credits} credits used")
        self.credits = credits
        self.window_used = window_used


class AccountStore(Protocol):
    """The account record family: keys, rate windows and monthly usage, with these semantics."""

    def create_table(self) -> str:
        """Create the table (idempotent); returns a sentence saying what was done."""

    def put_key(self, record: KeyRecord) -> None: ...

    def get_key(self, digest: str) -> KeyRecord | None: ...

    def list_keys(self) -> list[KeyRecord]: ...

    def set_key_status(self, digest: str, status: str) -> None: ...

    def admit(self, charge: Charge, limit: int, quota: float | None) -> int:
        """Add the charge atomically if window + weight <= limit and month + credits <= quota.

        The charge is then pending (see `Charge`). Safe to retry: a charge already
        admitted (its id) is not added again, and its window's megapixels are returned.
        Returns the window's megapixels after the charge; raises WindowFull or
        QuotaFull (nothing written), or StoreUnavailable (it may have been written:
        send it again, or leave it to the reconciler, which refunds it once overdue).
        """

    def settle(self, charge: Charge) -> None:
        """The charge's request succeeded: it stays charged and is no longer pending.
        Safe to retry; nothing happens to a charge already settled or refunded."""

    def refund(self, charge: Charge) -> bool:
        """Take a pending charge back out of its window and month, once: True when this call
        refunded it, False when it was already settled, refunded, or never admitted.
        Safe to retry."""

    def unsettled(self, limit: int = 1000) -> list[Charge]:
        """Pending charges, oldest first, at most `limit` (for the reconciler)."""

    def window(self, account: str, window: int, shards: int = 1) -> Window:
        """The minute's window, summed over the account's `shards` counter shards."""

    def usage(self, account: str, month: str, shards: int = 1) -> Usage:
        """The month's usage, summed over the account's `shards` counter shards."""

    def record_shards(self, account: str, month: str, shards: int) -> int:
        """Record that the account's month counts over `shards` counter shards, and return
        the most it ever has (an atomic maximum): usage written under a larger count, before
        its plan shrank, is still found and still counts against its quota. `shards` 0
        only reads it (0: nothing recorded). Safe to retry."""


# --- stored images (the IMG Processing dialect): a record family of its own ----------------


def images_pk(account_id: str) -> str:
    return f"IMAGES#{account_id}"


def image_sk(image_id: str) -> str:
    return f"IMAGE#{image_id}"


def public_pk(token: str) -> str:
    return f"PUBLIC#{token}"


@dataclass(frozen=True)
class ImageRecord:
    """One stored image; its bytes live in the blob store under `images/<id>`.

    Ids sort by creation time (see imagelib.new_image_id), so "newest first" is
    descending id order and an id is a stable list cursor.
    """

    account: str
    id: str  # image_<time><random>
    name: str  # 1-30 characters, not unique
    format: str  # jpeg | png | webp
    width: int  # px, upright
    height: int  # px
    size: int  # bytes of the stored file
    created_at: str  # ISO 8601, UTC
    token: str | None = None  # the public URL's secret while published, else None
    expires: int | None = None  # epoch seconds (CUTOUT_IMAGE_TTL_DAYS), None: kept


class ImageStore(Protocol):
    """The port for image records; every method raises StoreUnavailable when the backend is down.

    Records of expired images (`expires` in the past) are never returned, even
    before the backend's TTL sweep deletes them.
    """

    def put_image(self, record: ImageRecord) -> None: ...

    def get_image(self, account: str, image_id: str) -> ImageRecord | None:
        """The account's image, or None (also for another account's id)."""

    def list_images(self, account: str, take: int, start: str | None = None,
                    newer: bool = False) -> list[ImageRecord]:
        """Up to `take` records: newer=False: ids <= start (all when None), newest first;
        newer=True: ids > start, oldest first."""

    def delete_image(self, account: str, image_id: str) -> ImageRecord | None:
        """Delete the record (and its public pointer); returns what was deleted, or None."""

    def set_image_token(self, account: str, image_id: str, token: str | None) -> ImageRecord | None:
        """Publish (token) or unpublish (None): the record and its public pointer change together.

        Publishing an image that has a token already keeps that one (racing publishes all
        get the first's URL); returns the record as stored, or None when there is none."""

    def find_public(self, token: str) -> ImageRecord | None:
        """The image published under `token`, or None."""


# --- job records (asynchronous jobs: cutout/jobs) ------------------------------------
#
#     JOB#<job id>              META                status, version, lease_until, doc (JSON), ttl
#     JOBKEY#<account>#<digest> META                job_id, ttl  (an Idempotency-Key's first job)
#
# The store knows only the fields it must compare: every change is a compare-and-swap
# on `version`, so two workers can never both move a job out of the same state.


def job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def job_key_pk(scope: str) -> str:
    return f"JOBKEY#{scope}"


@dataclass(frozen=True)
class JobItem:
    """One job as stored: the compared fields, and the rest as a JSON-ready dict (`doc`)."""

    job_id: str
    status: str  # pending | running | succeeded | failed
    version: int  # incremented by every write; the compare-and-swap token
    lease_until: int  # epoch seconds a running job belongs to its worker; 0 otherwise
    expires: int  # epoch seconds after which the item may be deleted (the table's TTL)
    doc: dict[str, Any]


class JobExists(Exception):
    """A job with that id is already stored; nothing was written."""


class JobStore(Protocol):
    """The job record family."""

    def create_job(self, item: JobItem) -> None:
        """Write a new job; raises JobExists if the id is taken, StoreUnavailable."""

    def get_job(self, job_id: str) -> JobItem | None:
        """The job (strongly consistent read), or None."""

    def swap_job(self, item: JobItem, expected_version: int) -> bool:
        """Replace the job only if its stored version is `expected_version`; False otherwise."""

    def unfinished_jobs(self, limit: int = 1000) -> list[JobItem]:
        """Pending and running jobs (for a local worker pool that restarts)."""

    def claim_idempotency(self, scope: str, job_id: str, expires: int) -> str:
        """Bind `scope` (account + key digest) to `job_id` unless bound; returns the bound job id."""


class Store(AccountStore, ImageStore, JobStore, Protocol):
    """One table, three record families: what both adapters implement and `open_store` gives."""


def store_label(cfg: Settings) -> str:
    """Which store `open_store` opens, for people: `dynamodb:<table>` or `sqlite:<data folder>`."""
    return f"dynamodb:{cfg.table}" if cfg.table else f"sqlite:{cfg.data_dir}"


def open_store(cfg: Settings) -> Store:
    """DynamoDB when a table is configured, else SQLite in the data folder."""
    if cfg.table:
        from .dynamodb import DynamoStore

        return DynamoStore(cfg.table, timeout=cfg.store_timeout)
    from pathlib import Path

    from .sqlite import SqliteStore

    return SqliteStore(Path(cfg.data_dir) / "cutout.sqlite3")
