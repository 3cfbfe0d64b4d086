"""Accounts and API keys: who a request belongs to.

A key is random, shown once, and kept only as its SHA-256 digest; its public
id (the digest's first 16 hex digits) names it in the CLI and in usage items.
Plans live in plans.py.
Refusals are typed `AccessError`s carrying a status and a stable code, so each
API dialect renders them in its own error shape.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from ..errors import AccessError
from ..stores import AccountStore, KeyRecord, Usage
from .plans import Plans

KEY_PREFIX = "live_"  # IMG Processing's SDK accepts only live_ and test_ keys; older ck_ keys still work
SANDBOX_PREFIX = "test_"  # sandbox keys: a lower megapixel limit and a visible watermark
ANONYMOUS_ID = "anonymous"
RAPIDAPI_PREFIX = "rapidapi:"
ACTIVE, REVOKED = "active", "revoked"
_CACHE_LIMIT = 10_000


# --- refusals ------------------------------------------------------------------------


class MissingKey(AccessError):
    """No API key in the request, and anonymous use is off."""

    code = "missing_api_key"


class InvalidApiKey(AccessError):
    """An API key (or RapidAPI proxy secret) that is not one of ours."""

    code = "invalid_api_key"


class RevokedKey(AccessError):
    """An API key that was ours and has been revoked."""

    code = "revoked_api_key"


MISSING_KEY = "Missing API key: send it in the X-Api-Key header."
INVALID_KEY = "Invalid API key."
REVOKED_KEY = "This API key has been revoked."


# --- accounts and keys -------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """Whom a request is metered against, with the limits that apply to it."""

    id: str  # key id, "rapidapi:<user>" or "anonymous"
    kind: str  # "key" | "rapidapi" | "anonymous"
    plan: str
    mp_per_minute: int
    monthly_credits: float | None
    owner: str = ""
    sandbox: bool = False  # a test_ key: outputs are watermarked
    shards: int = 0  # its counters' shards (accounts/ratelimit.py); 0: as its limit needs

    def __post_init__(self) -> None:
        if self.shards < 1:
            from .ratelimit import shards_for

            object.__setattr__(self, "shards", shards_for(self.mp_per_minute, self.monthly_credits))


def new_api_key(sandbox: bool = False) -> str:
    """A fresh key: 256 random bits, URL-safe, after `live_` (or `test_` for a sandbox key)."""
    return (SANDBOX_PREFIX if sandbox else KEY_PREFIX) + secrets.token_urlsafe(32)


def digest_of(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def key_id_of(digest: str) -> str:
    return digest[:16]


def minute_of(now: float) -> int:
    return int(now // 60)


def month_of(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now))


class Accounts:
    """Keys in the store, plans from configuration; lookups cached briefly in-process.

    The cache spares the store one read per request on a warm Lambda; a revoked
    key keeps working for at most `cache_seconds` on processes that saw it.
    """

    def __init__(self, store: AccountStore, plans: Plans, cache_seconds: float = 30.0,
                 sandbox_mp_per_minute: int = 10) -> None:
        self.sandbox_mp_per_minute = sandbox_mp_per_minute
        self.store = store
        self.plans = plans
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, KeyRecord]] = {}
        self._lock = threading.Lock()

    def create_key(
        self,
        plan: str,
        owner: str = "",
        mp_per_minute: int | None = None,
        monthly_credits: float | None = None,
        sandbox: bool = False,
    ) -> tuple[str, KeyRecord]:
        """Make and store a key; the key itself is returned here and nowhere else."""
        self.plans.get(plan)  # refuse unknown plans before anything is stored
        if mp_per_minute is not None and mp_per_minute < 1:
            raise ValueError("--mp-per-minute must be at least 1.")
        if monthly_credits is not None and monthly_credits < 0:
            raise ValueError("--monthly-credits must not be negative.")
        api_key = new_api_key(sandbox)
        digest = digest_of(api_key)
        record = KeyRecord(
            digest=digest, key_id=key_id_of(digest), owner=owner, plan=plan, status=ACTIVE,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            mp_per_minute=mp_per_minute, monthly_credits=monthly_credits, sandbox=sandbox,
        )
        self.store.put_key(record)
        return api_key, record

    def list_keys(self) -> list[KeyRecord]:
        return self.store.list_keys()

    def find_key(self, key_id: str) -> KeyRecord:
        matches = [r for r in self.store.list_keys() if r.key_id == key_id.strip()]
        if not matches:
            raise KeyError(f"No key with id {key_id!r}.")
        return matches[0]

    def revoke(self, key_id: str) -> KeyRecord:
        record = self.find_key(key_id)
        self.store.set_key_status(record.digest, REVOKED)
        with self._lock:
            self._cache.pop(record.digest, None)
        return self.store.get_key(record.digest) or record

    def account_for(self, record: KeyRecord) -> Account:
        """The account a key record names, with its real limits (a sandbox key's capped)."""
        plan = self.plans.get(record.plan)
        account = Account(
            id=record.key_id, kind="key", plan=plan.name,
            mp_per_minute=record.mp_per_minute or plan.mp_per_minute,
            monthly_credits=record.monthly_credits if record.monthly_credits is not None
            else plan.monthly_credits,
            owner=record.owner,
        )
        return self.sandboxed(account) if record.sandbox else account

    def _lookup(self, digest: str) -> KeyRecord | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        record = self.store.get_key(digest)  # StoreUnavailable propagates: the caller decides
        if record is not None and self.cache_seconds > 0:
            with self._lock:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[digest] = (now + self.cache_seconds, record)
        return record

    def authenticate(self, api_key: str) -> Account:
        """The account of an API key, or InvalidApiKey / RevokedKey."""
        api_key = api_key.strip()
        if not api_key:
            raise MissingKey(MISSING_KEY)
        if len(api_key) > 256:
            raise InvalidApiKey(INVALID_KEY)
        record = self._lookup(digest_of(api_key))
        if record is None:
            raise InvalidApiKey(INVALID_KEY)
        if record.status != ACTIVE:
            raise RevokedKey(REVOKED_KEY)
        try:
            account = self.account_for(record)
        except ValueError:
            raise AccessError(
                f"This key's plan {record.plan!r} is not configured on this server.",
                code="unknown_plan",
            ) from None
        if api_key.startswith(SANDBOX_PREFIX):  # also a sandbox key made before records said so
            return self.sandboxed(account)
        return account

    def sandboxed(self, account: Account) -> Account:
        """A sandbox (`test_`) key's account: at most CUTOUT_SANDBOX_MP_PER_MINUTE, watermarked."""
        return replace(account, sandbox=True, shards=0,  # shards as the lower limit needs
                       mp_per_minute=min(account.mp_per_minute, self.sandbox_mp_per_minute))

    def anonymous(self, plan: str) -> Account:
        found = self.plans.get(plan)
        return Account(ANONYMOUS_ID, "anonymous", found.name, found.mp_per_minute,
                       found.monthly_credits)

    def rapidapi(self, user: str, subscription: str) -> Account:
        """A RapidAPI consumer; the marketplace's subscription names the plan."""
        user = user.strip()
        if not user:
            raise InvalidApiKey("Missing X-RapidAPI-User header.", code="invalid_rapidapi_request")
        plan = self.plans.for_rapidapi(subscription)
        if plan is None:
            raise InvalidApiKey(
                f"Unknown RapidAPI subscription {subscription.strip()!r}.",
                code="invalid_rapidapi_request",
            )
        return Account(RAPIDAPI_PREFIX + user, "rapidapi", plan.name, plan.mp_per_minute,
                       plan.monthly_credits, owner=user)


# --- what an account has used --------------------------------------------------------


@dataclass(frozen=True)
class AccountReport:
    """The caller's plan, limits and use: what GET /v1/account and /v1.0/account show."""

    account: Account
    month: str
    usage: Usage
    window_used: int
    reset: int  # Unix time the current minute's window ends

    @property
    def remaining(self) -> int:
        return max(0, self.account.mp_per_minute - self.window_used)

    @property
    def credits_remaining(self) -> float | None:
        quota = self.account.monthly_credits
        return None if quota is None else max(0.0, round(quota - self.usage.credits, 6))

    def as_dict(self) -> dict[str, Any]:
        account = self.account
        return {
            "account": account.id,
            "kind": account.kind,
            "owner": account.owner,
            "plan": account.plan,
            "limits": {
                "megapixels_per_minute": account.mp_per_minute,
                "monthly_credits": account.monthly_credits,
            },
            "rate_limit": {"limit": account.mp_per_minute, "remaining": self.remaining,
                           "reset": self.reset},
            "usage": {
                "month": self.month,
                "calls": self.usage.calls,
                "megapixels": self.usage.megapixels,
                "credits": self.usage.credits,
                "credits_remaining": self.credits_remaining,
            },
        }


def report(store: AccountStore, account: Account, now: float | None = None) -> AccountReport:
    """Read the account's month and current minute (StoreUnavailable if the store is down)."""
    now = time.time() if now is None else now
    minute = minute_of(now)
    return AccountReport(
        account=account,
        month=month_of(now),
        # over every shard the month used, more than the plan's now if it once had more
        usage=store.usage(account.id, month_of(now),
                          max(account.shards, store.record_shards(account.id, month_of(now), 0))),
        window_used=store.window(account.id, minute, account.shards).used,
        reset=(minute + 1) * 60,
    )
