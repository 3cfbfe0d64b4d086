"""The SQLite adapter: the DynamoDB table's items in one local file.

For `make run` and single-machine installs. Each admission is one
`BEGIN IMMEDIATE` transaction (the database's write lock is taken before the
window is read), so threads and processes sharing the file can never admit past
a limit. Items with a `ttl` in the past are deleted now and then, as DynamoDB's
TTL would.

A charge is an item of its own (`CHARGE#<id>`: the charge and its state,
pending, settled or refunded), written in the admission's transaction, so a
charge sent again is recognised by its id, a refund happens at most once, and
the reconciler finds the pending ones through a partial index.
"""
from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from . import (
    META,
    Charge,
    ImageRecord,
    JobExists,
    JobItem,
    KeyRecord,
    QuotaFull,
    StoreUnavailable,
    Usage,
    Window,
    WindowFull,
    account_pk,
    charge_pk,
    image_sk,
    images_pk,
    job_key_pk,
    job_pk,
    key_pk,
    public_pk,
    rate_sk,
    shards_sk,
    usage_sk,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    attrs TEXT NOT NULL,
    ttl INTEGER,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_ttl ON items (ttl) WHERE ttl IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_pending_charges
    ON items (json_extract(attrs, '$.settle_by'), pk)
    WHERE pk >= 'CHARGE#' AND pk < 'CHARGE$' AND json_extract(attrs, '$.state') = 'pending';
CREATE INDEX IF NOT EXISTS items_unfinished_jobs
    ON items (json_extract(attrs, '$.doc.created'), pk)
    WHERE pk >= 'JOB#' AND pk < 'JOB$' AND sk = 'META'
      AND json_extract(attrs, '$.status') IN ('pending', 'running');
"""
# The job records unfinished_jobs reads, as the partial index above names them (a
# partial index serves only a query that repeats its WHERE clause). INDEXED BY: without
# ANALYZE statistics the planner would rather walk every job record by primary key.
_UNFINISHED_JOBS = """
SELECT pk, attrs, ttl FROM items INDEXED BY items_unfinished_jobs
WHERE pk >= 'JOB#' AND pk < 'JOB$' AND sk = 'META'
  AND json_extract(attrs, '$.status') IN ('pending', 'running')
ORDER BY json_extract(attrs, '$.doc.created'), pk
LIMIT ?
"""
_PENDING_CHARGES = """
SELECT attrs FROM items INDEXED BY items_pending_charges
WHERE pk >= 'CHARGE#' AND pk < 'CHARGE$' AND json_extract(attrs, '$.state') = 'pending'
ORDER BY json_extract(attrs, '$.settle_by'), pk
LIMIT ?
"""
CHARGE_KEPT_SECONDS = 7 * 24 * 3600  # a settled or refunded charge's record, to refuse a late refund
LOCK_WAIT = 10.0  # seconds a writer waits for another's transaction: contention, not an outage
PURGE_EVERY = 60.0
EPSILON = 1e-9


def _round(value: float) -> float:
    return round(value, 6)


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # nothing was open: the failure happened before or at BEGIN/COMMIT


class SqliteStore:
    """Store on a SQLite file; one connection per thread, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._ready = False
        self._ready_lock = threading.Lock()
        self._purged = 0.0

    # --- plumbing ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=LOCK_WAIT, isolation_level=None)
            with self._ready_lock:
                if not self._ready:
                    # Once per process, one thread at a time: switching to WAL needs an
                    # exclusive lock and fails at once ("database is locked"), without
                    # waiting, when other connections race it. WAL then persists in the file.
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.executescript(SCHEMA)
                    self._ready = True
            conn.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
        self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; any exception rolls back."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
        except BaseException:
            _rollback(conn)
            raise

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._connect().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc

    @staticmethod
    def _get(conn: sqlite3.Connection, pk: str, sk: str) -> dict[str, Any] | None:
        row = conn.execute("SELECT attrs, ttl FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
        if row is None:
            return None
        attrs: dict[str, Any] = json.loads(row[0])
        if row[1] is not None:
            attrs["ttl"] = row[1]
        return attrs

    @staticmethod
    def _put(conn: sqlite3.Connection, pk: str, sk: str, attrs: dict[str, Any]) -> None:
        ttl = attrs.get("ttl")
        body = {k: v for k, v in attrs.items() if k != "ttl"}
        conn.execute(
            "INSERT INTO items (pk, sk, attrs, ttl) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (pk, sk) DO UPDATE SET attrs = excluded.attrs, ttl = excluded.ttl",
            (pk, sk, json.dumps(body), ttl),
        )

    def _purge(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        if now - self._purged < PURGE_EVERY:
            return
        self._purged = now
        conn.execute("DELETE FROM items WHERE ttl IS NOT NULL AND ttl < ?", (int(now),))

    # --- the port -----------------------------------------------------------------

    def create_table(self) -> str:
        self._connect()
        return f"SQLite store ready at {self.path}"

    def put_key(self, record: KeyRecord) -> None:
        attrs = {
            "key_id": record.key_id, "owner": record.owner, "plan": record.plan,
            "status": record.status, "created": record.created,
            "mp_per_minute": record.mp_per_minute, "monthly_credits": record.monthly_credits,
            "sandbox": record.sandbox,
        }
        with self._transaction() as conn:
            self._put(conn, key_pk(record.digest), META, attrs)

    @staticmethod
    def _record(pk: str, attrs: dict[str, Any]) -> KeyRecord:
        return KeyRecord(
            digest=pk.removeprefix("KEY#"), key_id=attrs["key_id"], owner=attrs["owner"],
            plan=attrs["plan"], status=attrs["status"], created=attrs["created"],
            mp_per_minute=attrs.get("mp_per_minute"), monthly_credits=attrs.get("monthly_credits"),
            sandbox=bool(attrs.get("sandbox", False)),
        )

    def get_key(self, digest: str) -> KeyRecord | None:
        rows = self._query("SELECT attrs FROM items WHERE pk = ? AND sk = ?", (key_pk(digest), META))
        return self._record(key_pk(digest), json.loads(rows[0][0])) if rows else None

    def list_keys(self) -> list[KeyRecord]:
        rows = self._query("SELECT pk, attrs FROM items WHERE sk = ? ORDER BY pk", (META,))
        return [self._record(pk, json.loads(attrs)) for pk, attrs in rows if pk.startswith("KEY#")]

    def set_key_status(self, digest: str, status: str) -> None:
        with self._transaction() as conn:
            attrs = self._get(conn, key_pk(digest), META)
            if attrs is None:
                raise KeyError(digest)
            attrs["status"] = status
            self._put(conn, key_pk(digest), META, attrs)

    def admit(self, charge: Charge, limit: int, quota: float | None) -> int:
        pk = account_pk(charge.account, charge.shard)
        with self._transaction() as conn:
            self._purge(conn)
            window = self._get(conn, pk, rate_sk(charge.window)) or {"mp": 0}
            if self._get(conn, charge_pk(charge.id), META) is not None:
                return int(window["mp"])  # admitted before: sent again
            if window["mp"] + charge.weight > limit:
                raise WindowFull(window["mp"])
            usage = self._get(conn, pk, usage_sk(charge.month)) or {
                "calls": 0, "megapixels": 0.0, "credits": 0.0}
            if quota is not None and usage["credits"] + charge.credits > quota + EPSILON:
                raise QuotaFull(usage["credits"], window["mp"])
            window = {"mp": window["mp"] + charge.weight, "ttl": charge.expires}
            self._put(conn, pk, rate_sk(charge.window), window)
            self._add_usage(conn, charge, +1)
            self._put(conn, charge_pk(charge.id), META, {**asdict(charge), "state": "pending"})
        return int(window["mp"])

    def _add_usage(self, conn: sqlite3.Connection, charge: Charge, sign: int) -> None:
        pk = account_pk(charge.account, charge.shard)
        usage = self._get(conn, pk, usage_sk(charge.month)) or {
            "calls": 0, "megapixels": 0.0, "credits": 0.0}
        self._put(conn, pk, usage_sk(charge.month), {
            "calls": usage["calls"] + sign * charge.calls,
            "megapixels": _round(usage["megapixels"] + sign * charge.megapixels),
            "credits": _round(usage["credits"] + sign * charge.credits),
        })

    def _close(self, conn: sqlite3.Connection, charge: Charge, state: str) -> bool:
        """Move a pending charge to `state`; False when it was not pending."""
        record = self._get(conn, charge_pk(charge.id), META)
        if record is None or record.get("state") != "pending":
            return False
        record.update(state=state, ttl=int(time.time()) + CHARGE_KEPT_SECONDS)
        self._put(conn, charge_pk(charge.id), META, record)
        return True

    def settle(self, charge: Charge) -> None:
        with self._transaction() as conn:
            self._close(conn, charge, "settled")

    def refund(self, charge: Charge) -> bool:
        pk = account_pk(charge.account, charge.shard)
        with self._transaction() as conn:
            if not self._close(conn, charge, "refunded"):
                return False
            window = self._get(conn, pk, rate_sk(charge.window))
            if window is not None:
                window["mp"] = window["mp"] - charge.weight
                self._put(conn, pk, rate_sk(charge.window), window)
            self._add_usage(conn, charge, -1)
        return True

    def unsettled(self, limit: int = 1000) -> list[Charge]:
        rows = self._query(_PENDING_CHARGES, (limit,))
        fields = {f.name for f in dataclasses.fields(Charge)}
        return [Charge(**{k: v for k, v in json.loads(attrs).items() if k in fields})
                for (attrs,) in rows]

    def _shards(self, account: str, sk: str, shards: int) -> list[tuple[dict[str, Any], int | None]]:
        """The account's items under `sk` in each of its counter shards: (attrs, ttl)."""
        keys = [account_pk(account, shard) for shard in range(shards)]
        marks = ", ".join("?" * len(keys))
        rows = self._query(f"SELECT attrs, ttl FROM items WHERE sk = ? AND pk IN ({marks})",
                           (sk, *keys))
        return [(json.loads(attrs), ttl) for attrs, ttl in rows]

    def window(self, account: str, window: int, shards: int = 1) -> Window:
        found = self._shards(account, rate_sk(window), shards)
        if not found:
            return Window()
        return Window(used=sum(attrs["mp"] for attrs, _ in found),
                      expires=max((ttl for _, ttl in found if ttl is not None), default=None))

    def record_shards(self, account: str, month: str, shards: int) -> int:
        with self._transaction() as conn:
            found = self._get(conn, account_pk(account), shards_sk(month))
            known = int(found["shards"]) if found else 0
            if shards > known:
                self._put(conn, account_pk(account), shards_sk(month), {"shards": shards})
            return max(shards, known)

    def usage(self, account: str, month: str, shards: int = 1) -> Usage:
        found = [attrs for attrs, _ in self._shards(account, usage_sk(month), shards)]
        return Usage(calls=sum(a["calls"] for a in found),
                     megapixels=_round(sum(a["megapixels"] for a in found)),
                     credits=_round(sum(a["credits"] for a in found)))

    # --- stored images (ImageStore) ---------------------------------------------------

    @staticmethod
    def _image(account: str, attrs: dict[str, Any], ttl: int | None) -> ImageRecord | None:
        if ttl is not None and ttl < time.time():
            return None  # expired: gone for callers even before the purge deletes it
        return ImageRecord(account=account, expires=ttl, **attrs)

    def put_image(self, record: ImageRecord) -> None:
        attrs = {k: v for k, v in vars(record).items() if k not in ("account", "expires")}
        with self._transaction() as conn:
            self._put(conn, images_pk(record.account), image_sk(record.id),
                      {**attrs, "ttl": record.expires})

    def get_image(self, account: str, image_id: str) -> ImageRecord | None:
        rows = self._query("SELECT attrs, ttl FROM items WHERE pk = ? AND sk = ?",
                           (images_pk(account), image_sk(image_id)))
        return self._image(account, json.loads(rows[0][0]), rows[0][1]) if rows else None

    def list_images(self, account: str, take: int, start: str | None = None,
                    newer: bool = False) -> list[ImageRecord]:
        now = int(time.time())
        if newer:
            where, order = "sk > ?", "ASC"
        else:
            where, order = ("sk <= ?" if start else "sk < ?"), "DESC"
        bound = image_sk(start) if start else "IMAGE$"  # '$' sorts after '#': every image
        rows = self._query(
            f"SELECT attrs, ttl FROM items WHERE pk = ? AND sk LIKE 'IMAGE#%' AND {where} "
            f"AND (ttl IS NULL OR ttl >= ?) ORDER BY sk {order} LIMIT ?",
            (images_pk(account), bound, now, take))
        return [r for r in (self._image(account, json.loads(a), t) for a, t in rows) if r]

    def delete_image(self, account: str, image_id: str) -> ImageRecord | None:
        with self._transaction() as conn:
            attrs = self._get(conn, images_pk(account), image_sk(image_id))
            if attrs is None:
                return None
            conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?",
                         (images_pk(account), image_sk(image_id)))
            if attrs.get("token"):
                conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?",
                             (public_pk(attrs["token"]), META))
        return self._image(account, {k: v for k, v in attrs.items() if k != "ttl"}, None)

    def set_image_token(self, account: str, image_id: str, token: str | None) -> ImageRecord | None:
        with self._transaction() as conn:
            attrs = self._get(conn, images_pk(account), image_sk(image_id))
            if attrs is None or (attrs.get("ttl") is not None and attrs["ttl"] < time.time()):
                return None
            if token and attrs.get("token"):  # published already: that URL stands
                ttl = attrs.pop("ttl", None)
                return self._image(account, attrs, ttl)
            if attrs.get("token"):
                conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?",
                             (public_pk(attrs["token"]), META))
            attrs["token"] = token
            self._put(conn, images_pk(account), image_sk(image_id), attrs)
            if token:
                self._put(conn, public_pk(token), META, {
                    "account": account, "image_id": image_id, "ttl": attrs.get("ttl")})
        ttl = attrs.pop("ttl", None)
        return self._image(account, attrs, ttl)

    def find_public(self, token: str) -> ImageRecord | None:
        rows = self._query("SELECT attrs FROM items WHERE pk = ? AND sk = ?", (public_pk(token), META))
        if not rows:
            return None
        pointer = json.loads(rows[0][0])
        record = self.get_image(pointer["account"], pointer["image_id"])
        return record if record is not None and record.token == token else None
    # --- job records (JobStore; see stores/__init__.py) ----------------------------

    @staticmethod
    def _job_item(job_id: str, attrs: dict[str, Any]) -> JobItem:
        return JobItem(job_id=job_id, status=attrs["status"], version=attrs["version"],
                       lease_until=attrs["lease_until"], expires=attrs.get("ttl") or 0,
                       doc=attrs["doc"])

    @staticmethod
    def _job_attrs(item: JobItem) -> dict[str, Any]:
        return {"status": item.status, "version": item.version, "lease_until": item.lease_until,
                "doc": item.doc, "ttl": item.expires}

    def create_job(self, item: JobItem) -> None:
        with self._transaction() as conn:
            if self._get(conn, job_pk(item.job_id), META) is not None:
                raise JobExists(item.job_id)
            self._put(conn, job_pk(item.job_id), META, self._job_attrs(item))

    def get_job(self, job_id: str) -> JobItem | None:
        rows = self._query("SELECT attrs, ttl FROM items WHERE pk = ? AND sk = ?",
                           (job_pk(job_id), META))
        if not rows:
            return None
        attrs = json.loads(rows[0][0]) | {"ttl": rows[0][1]}
        return self._job_item(job_id, attrs)

    def swap_job(self, item: JobItem, expected_version: int) -> bool:
        with self._transaction() as conn:
            current = self._get(conn, job_pk(item.job_id), META)
            if current is None or current["version"] != expected_version:
                return False
            self._put(conn, job_pk(item.job_id), META, self._job_attrs(item))
        return True

    def unfinished_jobs(self, limit: int = 1000) -> list[JobItem]:
        """Pending and running jobs, oldest first, at most `limit`: filtered, sorted and
        cut in SQL over a partial index that holds only unfinished jobs."""
        rows = self._query(_UNFINISHED_JOBS, (limit,))
        return [self._job_item(pk.removeprefix("JOB#"), json.loads(attrs) | {"ttl": ttl})
                for pk, attrs, ttl in rows]

    def claim_idempotency(self, scope: str, job_id: str, expires: int) -> str:
        with self._transaction() as conn:
            bound = self._get(conn, job_key_pk(scope), META)
            if bound is not None and (bound.get("ttl") or 0) >= time.time():
                return str(bound["job_id"])
            self._put(conn, job_key_pk(scope), META, {"job_id": job_id, "ttl": expires})
        return job_id
