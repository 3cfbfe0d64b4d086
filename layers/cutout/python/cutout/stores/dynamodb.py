"""The DynamoDB adapter: the one table of ARCHITECTURE.md, through boto3.

Admission is one conditional `UpdateItem` on the minute's window item
(`ADD mp :w` if `mp <= limit - w`), then one conditional `UpdateItem` on the
month's usage item (`ADD credits :c` if `credits <= quota - c`); a refused
quota takes the window charge back. Each write is atomic, so racing requests
can never pass either limit.

botocore's own retries are off: a retried `ADD` whose first answer was lost
would charge twice. Here, every call is retried on throttling errors (the
write did not happen) with jittered exponential backoff, and once on a
connection that could not be opened (nothing was sent); reads and other
idempotent calls are also retried once when a connection drops mid-call.
Anything else that stops a call becomes `StoreUnavailable`, which the limiter
turns into 503 or, when configured, fail-open admission: at worst a request
is charged once without being served, never twice.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

from .. import deadline
from . import (
    META,
    TTL_ATTRIBUTE,
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
    image_sk,
    images_pk,
    job_key_pk,
    job_pk,
    key_pk,
    public_pk,
    rate_sk,
    usage_sk,
)

log = logging.getLogger(__name__)

THROTTLES = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Throttling",
})
MAX_ATTEMPTS = 6  # the first call and five retries: about 1.5 s of backoff at most
CONNECTION_ATTEMPTS = 2  # a refused or dropped connection is tried once more
BACKOFF = 0.05  # seconds; doubled each retry, full jitter
CONDITION_FAILED = "ConditionalCheckFailedException"
# Conditional writes claim_idempotency makes before giving up: each lost one means a
# binding expired and was deleted between the write and the read, so 3 is plenty.
CLAIM_ATTEMPTS = 3


class ConditionFailed(Exception):
    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


def _num(value: float | int) -> dict[str, str]:
    """A DynamoDB number; floats to micro-units, so sums of 0.25-credit charges stay exact."""
    return {"N": format(round(value, 6), "f") if isinstance(value, float) else str(int(value))}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _read_num(item: dict[str, Any] | None, name: str, default: float = 0) -> float:
    if not item or name not in item:
        return default
    raw = Decimal(item[name]["N"])
    return int(raw) if raw == raw.to_integral_value() else float(raw)


def _client(timeout: float) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    return deadline.bound(session.client(  # every attempt ends by a web request's deadline
        "dynamodb",
        region_name=session.region_name or "us-east-1",
        config=Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=64,
        ),
    ))


class DynamoStore:
    """Store on one DynamoDB table (pk, sk); the client is created on first use, or handed in."""

    def __init__(self, table: str, timeout: float = 2.0, client: Any = None) -> None:
        self.table = table
        self.timeout = timeout  # seconds to connect and to read, for a client made here
        self._client: Any = client
        self._lock = threading.Lock()

    # --- plumbing ---------------------------------------------------------------

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    self._client = _client(self.timeout)
                except Exception as exc:  # no region, broken config: not reachable either way
                    raise StoreUnavailable(f"DynamoDB client: {exc}") from exc
            return self._client

    def _call(self, operation: str, *, idempotent: bool = True, **params: Any) -> dict[str, Any]:
        """One API call; throttling retried with backoff, failures as StoreUnavailable.

        `idempotent=False` (the ADD writes) is never retried once it may have reached the server.
        """
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ReadTimeoutError,
        )
        from botocore.exceptions import ConnectionError as NotSent

        client = self.client()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                answer: dict[str, Any] = getattr(client, operation)(TableName=self.table, **params)
                return answer
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == CONDITION_FAILED:
                    raise ConditionFailed(exc.response.get("Item")) from exc
                if code in THROTTLES and attempt < MAX_ATTEMPTS:
                    delay = random.uniform(BACKOFF / 2, BACKOFF * 2 ** (attempt - 1))
                    log.warning("dynamodb throttled; retrying",
                                extra={"operation": operation, "code": code,
                                       "attempt": attempt, "delay_s": round(delay, 3)})
                    time.sleep(delay)
                    continue
                if code == "ResourceNotFoundException":
                    raise StoreUnavailable(
                        f"DynamoDB table {self.table!r} not found; run `cutout table create`."
                    ) from exc
                raise StoreUnavailable(f"DynamoDB {operation}: {code or exc}") from exc
            except BotoCoreError as exc:  # refused, timed out, dropped, no credentials
                unsent = isinstance(exc, NotSent)
                dropped = idempotent and isinstance(exc, (ConnectionClosedError, ReadTimeoutError))
                if (unsent or dropped) and attempt < CONNECTION_ATTEMPTS:
                    log.warning("dynamodb connection failed; retrying",
                                extra={"operation": operation, "error": str(exc)})
                    time.sleep(BACKOFF)
                    continue
                raise StoreUnavailable(f"DynamoDB {operation}: {exc}") from exc
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        out = self._call("get_item", Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=True)
        return out.get("Item")

    # --- the port -----------------------------------------------------------------

    def create_table(self) -> str:
        said = []
        try:
            self._call(
                "create_table",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                           {"AttributeName": "sk", "KeyType": "RANGE"}],
                BillingMode="PAY_PER_REQUEST",
            )
            said.append(f"Created table {self.table}.")
        except StoreUnavailable as exc:
            if "ResourceInUseException" not in str(exc):
                raise
            said.append(f"Table {self.table} already exists.")
        deadline = time.monotonic() + 120
        while self._call("describe_table")["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"Table {self.table} did not become ACTIVE in 120 s.")
            time.sleep(0.2)
        try:
            self._call("update_time_to_live", TimeToLiveSpecification={
                "Enabled": True, "AttributeName": TTL_ATTRIBUTE})
            said.append(f"TTL enabled on attribute {TTL_ATTRIBUTE!r}.")
        except StoreUnavailable as exc:
            text = str(exc)
            if "ValidationException" in text:  # already enabled
                said.append(f"TTL already enabled on attribute {TTL_ATTRIBUTE!r}.")
            elif "UnknownOperationException" in text:  # dynalite has no UpdateTimeToLive
                said.append(f"This endpoint cannot enable TTL; items still carry {TTL_ATTRIBUTE!r}.")
            else:
                raise
        return " ".join(said)

    def put_key(self, record: KeyRecord) -> None:
        item = {
            "pk": _s(key_pk(record.digest)), "sk": _s(META),
            "key_id": _s(record.key_id), "owner": _s(record.owner), "plan": _s(record.plan),
            "status": _s(record.status), "created": _s(record.created),
        }
        if record.mp_per_minute is not None:
            item["mp_per_minute"] = _num(record.mp_per_minute)
        if record.monthly_credits is not None:
            item["monthly_credits"] = _num(record.monthly_credits)
        self._call("put_item", Item=item)

    @staticmethod
    def _record(item: dict[str, Any]) -> KeyRecord:
        return KeyRecord(
            digest=item["pk"]["S"].removeprefix("KEY#"), key_id=item["key_id"]["S"],
            owner=item["owner"]["S"], plan=item["plan"]["S"], status=item["status"]["S"],
            created=item["created"]["S"],
            mp_per_minute=int(_read_num(item, "mp_per_minute")) if "mp_per_minute" in item else None,
            monthly_credits=_read_num(item, "monthly_credits") if "monthly_credits" in item else None,
        )

    def get_key(self, digest: str) -> KeyRecord | None:
        item = self._get(key_pk(digest), META)
        return self._record(item) if item else None

    def list_keys(self) -> list[KeyRecord]:
        records: list[KeyRecord] = []
        params: dict[str, Any] = {
            "FilterExpression": "sk = :meta AND begins_with(pk, :key)",
            "ExpressionAttributeValues": {":meta": _s(META), ":key": _s("KEY#")},
        }
        while True:
            out = self._call("scan", **params)
            records.extend(self._record(item) for item in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                return sorted(records, key=lambda r: r.created)
            params["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def set_key_status(self, digest: str, status: str) -> None:
        try:
            self._call(
                "update_item", Key={"pk": _s(key_pk(digest)), "sk": _s(META)},
                UpdateExpression="SET #status = :status",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":status": _s(status)},
            )
        except ConditionFailed:
            raise KeyError(digest) from None

    def admit(self, charge: Charge, limit: int, quota: float | None) -> int:
        pk = account_pk(charge.account)
        room = limit - charge.weight
        if room < 0:
            raise WindowFull(self.window(charge.account, charge.window).used)
        try:
            out = self._call(
                "update_item", idempotent=False,
                Key={"pk": _s(pk), "sk": _s(rate_sk(charge.window))},
                UpdateExpression="SET #ttl = :ttl ADD mp :w",
                ConditionExpression="attribute_not_exists(mp) OR mp <= :room",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":ttl": _num(charge.expires), ":w": _num(charge.weight),
                                           ":room": _num(room)},
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as refused:
            used = _read_num(refused.item, "mp") if refused.item else None
            if used is None:  # servers without ReturnValuesOnConditionCheckFailure (dynalite)
                used = self.window(charge.account, charge.window).used
            raise WindowFull(int(used)) from None
        used = int(_read_num(out["Attributes"], "mp"))
        try:
            self._add_usage(charge, +1, quota)
        except ConditionFailed as refused:
            self._release_window(charge)
            credits = _read_num(refused.item, "credits") if refused.item else None
            if credits is None:
                credits = self.usage(charge.account, charge.month).credits
            raise QuotaFull(credits, used - charge.weight) from None
        except StoreUnavailable:
            try:
                self._release_window(charge)
            except StoreUnavailable:
                log.error("window charge not released", extra={"account": charge.account,
                                                               "window": charge.window})
            raise
        return used

    def _add_usage(self, charge: Charge, sign: int, quota: float | None) -> None:
        params: dict[str, Any] = {
            "Key": {"pk": _s(account_pk(charge.account)), "sk": _s(usage_sk(charge.month))},
            "UpdateExpression": "ADD calls :calls, megapixels :mp, credits :credits",
            "ExpressionAttributeValues": {
                ":calls": _num(sign * charge.calls), ":mp": _num(sign * float(charge.megapixels)),
                ":credits": _num(sign * float(charge.credits)),
            },
        }
        if quota is not None:
            params["ConditionExpression"] = "attribute_not_exists(credits) OR credits <= :room"
            params["ExpressionAttributeValues"][":room"] = _num(float(quota) - float(charge.credits))
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        self._call("update_item", idempotent=False, **params)

    def _release_window(self, charge: Charge) -> None:
        try:
            self._call(
                "update_item", idempotent=False,
                Key={"pk": _s(account_pk(charge.account)), "sk": _s(rate_sk(charge.window))},
                UpdateExpression="ADD mp :w",
                ConditionExpression="attribute_exists(mp)",  # never resurrect an expired window
                ExpressionAttributeValues={":w": _num(-charge.weight)},
            )
        except ConditionFailed:
            pass

    def refund(self, charge: Charge) -> None:
        self._release_window(charge)
        self._add_usage(charge, -1, None)

    def window(self, account: str, window: int) -> Window:
        item = self._get(account_pk(account), rate_sk(window))
        if not item:
            return Window()
        expires = _read_num(item, TTL_ATTRIBUTE, -1)
        return Window(used=int(_read_num(item, "mp")), expires=int(expires) if expires >= 0 else None)

    def usage(self, account: str, month: str) -> Usage:
        item = self._get(account_pk(account), usage_sk(month))
        return Usage(
            calls=int(_read_num(item, "calls")),
            megapixels=float(_read_num(item, "megapixels")),
            credits=float(_read_num(item, "credits")),
        )

    # --- stored images (ImageStore) ---------------------------------------------------

    @staticmethod
    def _image_item(record: ImageRecord) -> dict[str, Any]:
        item = {
            "pk": _s(images_pk(record.account)), "sk": _s(image_sk(record.id)),
            "account": _s(record.account), "id": _s(record.id), "name": _s(record.name),
            "format": _s(record.format), "width": _num(record.width),
            "height": _num(record.height), "size": _num(record.size),
            "created_at": _s(record.created_at),
        }
        if record.token:
            item["token"] = _s(record.token)
        if record.expires is not None:
            item[TTL_ATTRIBUTE] = _num(record.expires)
        return item

    @staticmethod
    def _image(item: dict[str, Any] | None) -> ImageRecord | None:
        if not item:
            return None
        expires = int(_read_num(item, TTL_ATTRIBUTE)) if TTL_ATTRIBUTE in item else None
        if expires is not None and expires < time.time():
            return None  # expired: DynamoDB's TTL sweep may take a while to delete it
        return ImageRecord(
            account=item["account"]["S"], id=item["id"]["S"], name=item["name"]["S"],
            format=item["format"]["S"], width=int(_read_num(item, "width")),
            height=int(_read_num(item, "height")), size=int(_read_num(item, "size")),
            created_at=item["created_at"]["S"],
            token=item["token"]["S"] if "token" in item else None, expires=expires,
        )

    def put_image(self, record: ImageRecord) -> None:
        self._call("put_item", Item=self._image_item(record))

    def get_image(self, account: str, image_id: str) -> ImageRecord | None:
        return self._image(self._get(images_pk(account), image_sk(image_id)))

    def list_images(self, account: str, take: int, start: str | None = None,
                    newer: bool = False) -> list[ImageRecord]:
        values = {":pk": _s(images_pk(account))}
        if newer:
            condition, values[":sk"] = "sk > :sk", _s(image_sk(start or ""))
        elif start:
            condition, values[":sk"] = "sk <= :sk", _s(image_sk(start))
        else:
            condition, values[":sk"] = "begins_with(sk, :sk)", _s(image_sk(""))
        params: dict[str, Any] = {
            "KeyConditionExpression": f"pk = :pk AND {condition}",
            "ExpressionAttributeValues": values, "ScanIndexForward": newer,
            "ConsistentRead": True,
        }
        found: list[ImageRecord] = []
        while len(found) < take:  # expired items are skipped, so a page may need more reads
            out = self._call("query", Limit=take - len(found) + 1, **params)
            found.extend(r for r in map(self._image, out.get("Items", [])) if r is not None)
            if "LastEvaluatedKey" not in out:
                break
            params["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return found[:take]

    def delete_image(self, account: str, image_id: str) -> ImageRecord | None:
        out = self._call("delete_item", Key={"pk": _s(images_pk(account)),
                                             "sk": _s(image_sk(image_id))},
                         ReturnValues="ALL_OLD")
        item = out.get("Attributes")
        if item and "token" in item:
            self._call("delete_item", Key={"pk": _s(public_pk(item["token"]["S"])), "sk": _s(META)})
        if item:
            item.pop(TTL_ATTRIBUTE, None)
        return self._image(item)

    def set_image_token(self, account: str, image_id: str, token: str | None) -> ImageRecord | None:
        record = self.get_image(account, image_id)
        if record is None:
            return None
        if token:  # the pointer first: a published URL never names a record that lacks it
            pointer = {"pk": _s(public_pk(token)), "sk": _s(META), "account": _s(account),
                       "image_id": _s(image_id)}
            if record.expires is not None:
                pointer[TTL_ATTRIBUTE] = _num(record.expires)
            self._call("put_item", Item=pointer)
        updated = replace(record, token=token)
        try:
            self._call("put_item", Item=self._image_item(updated),
                       ConditionExpression="attribute_exists(pk)")
        except ConditionFailed:  # deleted meanwhile
            return None
        if record.token and record.token != token:
            self._call("delete_item", Key={"pk": _s(public_pk(record.token)), "sk": _s(META)})
        return updated

    def find_public(self, token: str) -> ImageRecord | None:
        pointer = self._get(public_pk(token), META)
        if not pointer:
            return None
        record = self.get_image(pointer["account"]["S"], pointer["image_id"]["S"])
        return record if record is not None and record.token == token else None
    # --- job records (JobStore; see stores/__init__.py) ----------------------------

    @staticmethod
    def _job_item(item: dict[str, Any]) -> JobItem:
        return JobItem(
            job_id=item["pk"]["S"].removeprefix("JOB#"), status=item["status"]["S"],
            version=int(_read_num(item, "version")), lease_until=int(_read_num(item, "lease_until")),
            expires=int(_read_num(item, TTL_ATTRIBUTE)), doc=json.loads(item["doc"]["S"]),
        )

    @staticmethod
    def _job_put(item: JobItem) -> dict[str, Any]:
        return {
            "pk": _s(job_pk(item.job_id)), "sk": _s(META), "status": _s(item.status),
            "version": _num(item.version), "lease_until": _num(item.lease_until),
            TTL_ATTRIBUTE: _num(item.expires), "doc": _s(json.dumps(item.doc, sort_keys=True)),
        }

    def create_job(self, item: JobItem) -> None:
        try:
            self._call("put_item", Item=self._job_put(item),
                       ConditionExpression="attribute_not_exists(pk)")
        except ConditionFailed:
            raise JobExists(item.job_id) from None

    def get_job(self, job_id: str) -> JobItem | None:
        item = self._get(job_pk(job_id), META)
        return self._job_item(item) if item else None

    def swap_job(self, item: JobItem, expected_version: int) -> bool:
        try:
            self._call("put_item", Item=self._job_put(item),
                       ConditionExpression="version = :expected",
                       ExpressionAttributeValues={":expected": _num(expected_version)})
        except ConditionFailed:
            return False
        return True

    def unfinished_jobs(self, limit: int = 1000) -> list[JobItem]:
        found: list[JobItem] = []
        params: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :job) AND #status IN (:pending, :running)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":job": _s("JOB#"), ":pending": _s("pending"),
                                          ":running": _s("running")},
        }
        while len(found) < limit:
            out = self._call("scan", **params)
            found.extend(self._job_item(item) for item in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                break
            params["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        found.sort(key=lambda item: item.doc.get("created", ""))
        return found[:limit]

    def claim_idempotency(self, scope: str, job_id: str, expires: int) -> str:
        """Bind `scope` to `job_id` unless a live binding exists; returns the bound job id.

        A binding seen by the conditional write but gone when read (expired and
        deleted in between) is claimed again, at most CLAIM_ATTEMPTS times in all;
        then StoreUnavailable."""
        key = {"pk": _s(job_key_pk(scope)), "sk": _s(META)}
        for _attempt in range(CLAIM_ATTEMPTS):
            try:
                self._call("put_item", Item=key | {"job_id": _s(job_id), TTL_ATTRIBUTE: _num(expires)},
                           ConditionExpression="attribute_not_exists(pk) OR #ttl < :now",
                           ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                           ExpressionAttributeValues={":now": _num(int(time.time()))})
            except ConditionFailed:
                bound = self._get(job_key_pk(scope), META)
                if bound is not None:
                    return str(bound["job_id"]["S"])
                continue  # expired and deleted in between: claim it again
            return job_id
        raise StoreUnavailable(f"DynamoDB table {self.table}: idempotency key {scope!r} "
                               f"changed under {CLAIM_ATTEMPTS} claims in a row")
