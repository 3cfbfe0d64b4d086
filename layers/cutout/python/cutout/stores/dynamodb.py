"""The DynamoDB adapter: the one table of ARCHITECTURE.md, through boto3.

Admission is one conditional `UpdateItem` on the minute's window item
(`ADD mp :w` if `mp <= limit - w`), then one conditional `UpdateItem` on the
month's usage item (`ADD credits :c` if `credits <= quota - c`); a refused
quota takes the window charge back. Each write is atomic, so racing requests
can never pass either limit.

Every write is safe to retry, because the answer to any write can be lost after
the write happened (a timeout, a dropped connection) and then it is sent again:
- the window write records the pending charge in its own attribute (`c_<id>`,
  the charge as JSON) under the condition that it is not there yet, so a resent
  admission finds its own earlier write; settling removes the attribute, and a
  refund takes the megapixels back only while it is there (exactly once);
- the usage write carries the charge's token and keeps the last RING tokens
  written to the item (`t0`..`t15`, shifted by each write: DynamoDB evaluates
  every action of an update against the item as it was before it, Developer
  Guide, "Using update expressions"); a resent write whose token is among them
  was applied. Bound: a write resent after more than RING other writes to the
  same month's item is not recognised (a key with 16 calls in flight at once);
- conditional puts of job records, idempotency bindings and publish pointers
  carry a writer token and recognise their own earlier write by it.
So `_call` resends every call whose connection dropped or timed out, once, and
throttled calls with jittered exponential backoff; botocore's own retries are
off. Anything else that stops a call becomes `StoreUnavailable`.
"""
from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from dataclasses import asdict, replace
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
RING = 16  # tokens of the last writes kept on a counter item, to recognise a resent write
WRITER = "w"  # the attribute holding a conditional write's writer token
# A charge's ledger states; a refused admission's item is kept as refused.
PENDING, SETTLED, REFUNDING, REFUNDED, REFUSED = "pending", "settled", "refunding", "refunded", "refused"
LEDGER_KEPT_SECONDS = 7 * 24 * 3600  # a closed charge's item, to refuse a late refund


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


def _charge_json(charge: Charge) -> str:
    return json.dumps(asdict(charge), separators=(",", ":"), sort_keys=True)


def _charge_of(text: str) -> Charge:
    return Charge(**json.loads(text))


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

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One API call on the table; throttling retried with backoff, a dropped or timed-out
        connection resent once (every write here is safe to resend), failures as
        StoreUnavailable."""
        return self._call_untabled(operation, TableName=self.table, **params)

    def _call_untabled(self, operation: str, **params: Any) -> dict[str, Any]:
        """`_call` for operations that name their tables in their parameters (BatchGetItem)."""
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
                answer: dict[str, Any] = getattr(client, operation)(**params)
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
                lost = isinstance(exc, (NotSent, ConnectionClosedError, ReadTimeoutError))
                if lost and attempt < CONNECTION_ATTEMPTS:
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
        item: dict[str, Any] = {
            "pk": _s(key_pk(record.digest)), "sk": _s(META),
            "key_id": _s(record.key_id), "owner": _s(record.owner), "plan": _s(record.plan),
            "status": _s(record.status), "created": _s(record.created),
        }
        if record.mp_per_minute is not None:
            item["mp_per_minute"] = _num(record.mp_per_minute)
        if record.monthly_credits is not None:
            item["monthly_credits"] = _num(record.monthly_credits)
        if record.sandbox:
            item["sandbox"] = {"BOOL": True}
        self._call("put_item", Item=item)

    @staticmethod
    def _record(item: dict[str, Any]) -> KeyRecord:
        return KeyRecord(
            digest=item["pk"]["S"].removeprefix("KEY#"), key_id=item["key_id"]["S"],
            owner=item["owner"]["S"], plan=item["plan"]["S"], status=item["status"]["S"],
            created=item["created"]["S"],
            mp_per_minute=int(_read_num(item, "mp_per_minute")) if "mp_per_minute" in item else None,
            monthly_credits=_read_num(item, "monthly_credits") if "monthly_credits" in item else None,
            sandbox=bool(item.get("sandbox", {}).get("BOOL", False)),
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
        if charge.weight > limit:
            raise WindowFull(self.window(charge.account, charge.window).used)
        # The ledger item first: a charge is never on the counters without it. Dying after
        # it and before the counters leaves a pending charge whose refund gives back what
        # was never taken: the one way Cutout may err.
        self._call("put_item", Item=self._ledger_item(charge, PENDING))
        try:
            used = self._count(charge, "window", "a", +1, room=limit - charge.weight)
        except ConditionFailed as refused:
            self._close_ledger(charge, REFUSED)
            raise WindowFull(int(_read_num(refused.item, "mp"))) from None
        try:
            self._count(charge, "usage", "a", +1,
                        room=None if quota is None else float(quota) - float(charge.credits))
        except ConditionFailed as refused:
            self._count(charge, "window", "x", -1)  # the window's share goes back
            self._close_ledger(charge, REFUSED)
            raise QuotaFull(_read_num(refused.item, "credits"), used - charge.weight) from None
        except StoreUnavailable:
            # Whether the month was charged is unknown: the charge stays pending, and the
            # reconciler refunds it (window and month) once it is overdue. At worst the
            # account gets back credits it was never charged: never the other way round.
            log.error("usage write failed; the charge is left pending for the reconciler",
                      extra={"account": charge.account, "charge": charge.id})
            raise
        return used

    def _count(self, charge: Charge, counter: str, kind: str, sign: int,
               room: float | None = None) -> int:
        """Add (sign +1) or take back (-1) the charge on one counter item of its shard: the
        minute's window (`mp`) or the month's usage (calls, megapixels, credits). Once per
        (`kind`, charge id): the item keeps the tokens of its last RING writes, and a resend
        whose token is among them is not applied again. `room`: the condition that the
        counter (mp, or credits) is at most this before the write. Returns the window's
        megapixels after the write (0 for usage). Raises ConditionFailed (with the item as
        it was) when `room` refuses it, never for a resend."""
        token = f"{kind}{charge.id}"
        ring = [f"t{i}" for i in range(RING)]
        shifts = ", ".join(f"{ring[i]} = if_not_exists({ring[i - 1]}, :none)"
                           for i in range(RING - 1, 0, -1))
        values: dict[str, Any] = {":token": _s(token), ":none": _s("-")}
        if counter == "window":
            sk, counted = rate_sk(charge.window), "mp"
            update = f"SET {shifts}, t0 = :token, #ttl = :ttl ADD mp :w"
            values |= {":w": _num(sign * charge.weight), ":ttl": _num(charge.expires)}
        else:
            sk, counted = usage_sk(charge.month), "credits"
            update = f"SET {shifts}, t0 = :token ADD calls :calls, megapixels :mp, credits :credits"
            values |= {":calls": _num(sign * charge.calls), ":credits": _num(sign * float(charge.credits)),
                       ":mp": _num(sign * float(charge.megapixels))}
        condition = "NOT (" + " OR ".join(f"{name} = :token" for name in ring) + ")"
        if room is not None:
            condition += f" AND (attribute_not_exists({counted}) OR {counted} <= :room)"
            values[":room"] = _num(room)
        key = {"pk": _s(account_pk(charge.account, charge.shard)), "sk": _s(sk)}
        names = {"#ttl": TTL_ATTRIBUTE} if counter == "window" else None
        try:
            out = self._call("update_item", Key=key, UpdateExpression=update,
                             ConditionExpression=condition, ExpressionAttributeValues=values,
                             **({"ExpressionAttributeNames": names} if names else {}),
                             ReturnValues="UPDATED_NEW",
                             ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return int(_read_num(out.get("Attributes"), "mp"))
        except ConditionFailed as refused:
            item = refused.item or self._get(key["pk"]["S"], key["sk"]["S"]) or {}
            if any(item.get(name, {}).get("S") == token for name in ring):
                return int(_read_num(item, "mp"))  # our own earlier write: its answer was lost
            raise ConditionFailed(item) from None

    # --- the charge ledger: CHARGE#<id> items, pending -> settled | refunding -> refunded ---

    @staticmethod
    def _ledger_item(charge: Charge, state: str) -> dict[str, Any]:
        return {"pk": _s(charge_pk(charge.id)), "sk": _s(META), "state": _s(state),
                "charge": _s(_charge_json(charge)),
                TTL_ATTRIBUTE: _num((charge.settle_by or charge.expires) + LEDGER_KEPT_SECONDS)}

    def _close_ledger(self, charge: Charge, state: str, writer: str = "") -> bool:
        """Move the charge's ledger item from pending (or refunding, when `writer` is the
        one that started refunding it) to `state`; False when it was not there to move."""
        condition = "#state = :pending" + (" OR (#state = :refunding AND #w = :writer)" if writer else "")
        values = {":pending": _s(PENDING), ":state": _s(state)}
        if writer:
            values |= {":refunding": _s(REFUNDING), ":writer": _s(writer)}
        try:
            self._call("update_item", Key={"pk": _s(charge_pk(charge.id)), "sk": _s(META)},
                       UpdateExpression="SET #state = :state" + (", #w = :writer" if writer else ""),
                       ConditionExpression=condition,
                       ExpressionAttributeNames={"#state": "state", **({"#w": WRITER} if writer else {})},
                       ExpressionAttributeValues=values)
        except ConditionFailed:
            stored = self._get(charge_pk(charge.id), META) or {}
            return bool(stored.get("state", {}).get("S") == state and writer
                        and stored.get(WRITER, {}).get("S") == writer)  # our own resend
        return True

    def settle(self, charge: Charge) -> None:
        self._close_ledger(charge, SETTLED)

    def refund(self, charge: Charge) -> bool:
        # pending -> refunding (one refunder wins), the counters back, -> refunded. A refund
        # that dies in between is finished by the reconciler (`unsettled` lists it).
        writer = secrets.token_hex(8)
        if not self._close_ledger(charge, REFUNDING, writer):
            stored = self._get(charge_pk(charge.id), META) or {}
            if stored.get("state", {}).get("S") != REFUNDING:
                return False
            writer = stored.get(WRITER, {}).get("S", "")  # finish a refund that died midway
        self._count(charge, "window", "r", -1)
        self._count(charge, "usage", "r", -1)
        return self._close_ledger_refunded(charge, writer)

    def _close_ledger_refunded(self, charge: Charge, writer: str) -> bool:
        try:
            self._call("update_item", Key={"pk": _s(charge_pk(charge.id)), "sk": _s(META)},
                       UpdateExpression="SET #state = :refunded",
                       ConditionExpression="#state = :refunding AND #w = :writer",
                       ExpressionAttributeNames={"#state": "state", "#w": WRITER},
                       ExpressionAttributeValues={":refunded": _s(REFUNDED), ":refunding": _s(REFUNDING),
                                                  ":writer": _s(writer)})
        except ConditionFailed:
            stored = self._get(charge_pk(charge.id), META) or {}
            return bool(stored.get("state", {}).get("S") == REFUNDED)  # our own resend
        return True

    def unsettled(self, limit: int = 1000) -> list[Charge]:
        found: list[Charge] = []
        params: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :charge) AND #state IN (:pending, :refunding)",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {":charge": _s("CHARGE#"), ":pending": _s(PENDING),
                                          ":refunding": _s(REFUNDING)},
        }
        while True:
            out = self._call("scan", **params)
            found.extend(_charge_of(item["charge"]["S"]) for item in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                break
            params["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        found.sort(key=lambda c: (c.settle_by or c.expires, c.id))
        return found[:limit]

    def _shards(self, account: str, sk: str, shards: int) -> list[dict[str, Any]]:
        """The account's items under `sk` in each of its counter shards (one strongly
        consistent read each: BatchGetItem takes 100 keys at once)."""
        found: list[dict[str, Any]] = []
        keys = [{"pk": _s(account_pk(account, shard)), "sk": _s(sk)} for shard in range(shards)]
        for start in range(0, len(keys), 100):
            wanted: dict[str, Any] = {self.table: {"Keys": keys[start:start + 100],
                                                   "ConsistentRead": True}}
            while wanted:
                out = self._call_untabled("batch_get_item", RequestItems=wanted)
                found.extend(out.get("Responses", {}).get(self.table, []))
                wanted = out.get("UnprocessedKeys") or {}
        return found

    def window(self, account: str, window: int, shards: int = 1) -> Window:
        if shards == 1:
            item = self._get(account_pk(account), rate_sk(window))
            items = [item] if item else []
        else:
            items = self._shards(account, rate_sk(window), shards)
        if not items:
            return Window()
        expires = max(_read_num(item, TTL_ATTRIBUTE, -1) for item in items)
        return Window(used=int(sum(_read_num(item, "mp") for item in items)),
                      expires=int(expires) if expires >= 0 else None)

    def record_shards(self, account: str, month: str, shards: int) -> int:
        key = {"pk": _s(account_pk(account)), "sk": _s(shards_sk(month))}
        if shards < 1:  # only asking
            return int(_read_num(self._get(key["pk"]["S"], key["sk"]["S"]), "shards"))
        try:  # a maximum, so a resent write whose answer was lost changes nothing
            self._call("update_item", Key=key, UpdateExpression="SET shards = :n",
                       ConditionExpression="attribute_not_exists(shards) OR shards < :n",
                       ExpressionAttributeValues={":n": _num(shards)},
                       ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return shards
        except ConditionFailed as larger:
            item = larger.item or self._get(key["pk"]["S"], key["sk"]["S"]) or {}
            return max(shards, int(_read_num(item, "shards")))

    def usage(self, account: str, month: str, shards: int = 1) -> Usage:
        if shards == 1:
            item = self._get(account_pk(account), usage_sk(month))
            items = [item] if item else []
        else:
            items = self._shards(account, usage_sk(month), shards)
        return Usage(
            calls=int(sum(_read_num(item, "calls") for item in items)),
            megapixels=round(float(sum(_read_num(item, "megapixels") for item in items)), 6),
            credits=round(float(sum(_read_num(item, "credits") for item in items)), 6),
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
        if token and record.token:
            return record  # published already: that URL stands
        if token:  # the pointer first: a published URL never names a record that lacks it
            pointer = {"pk": _s(public_pk(token)), "sk": _s(META), "account": _s(account),
                       "image_id": _s(image_id)}
            if record.expires is not None:
                pointer[TTL_ATTRIBUTE] = _num(record.expires)
            self._call("put_item", Item=pointer)
        updated = replace(record, token=token)
        # Publishing wins only over an unpublished record (racing publishes agree on the
        # first token); unpublishing only removes the token it read. A resent write finds
        # its own token (or its removal) in place.
        condition = "attribute_exists(pk) AND " + (
            "attribute_not_exists(#token)" if token else "#token = :old")
        values = {":old": _s(record.token)} if not token and record.token else None
        try:
            if token or record.token:
                self._call("put_item", Item=self._image_item(updated), ConditionExpression=condition,
                           ExpressionAttributeNames={"#token": "token"},
                           **({"ExpressionAttributeValues": values} if values else {}))
        except ConditionFailed:
            stored = self.get_image(account, image_id)
            if stored is not None and stored.token == token:
                updated = stored  # our own earlier write: its answer was lost
            else:
                if token:  # another publish won, or the image is gone: our pointer goes
                    self._call("delete_item", Key={"pk": _s(public_pk(token)), "sk": _s(META)})
                return stored
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
    def _job_put(item: JobItem, writer: str) -> dict[str, Any]:
        return {
            "pk": _s(job_pk(item.job_id)), "sk": _s(META), "status": _s(item.status),
            "version": _num(item.version), "lease_until": _num(item.lease_until),
            TTL_ATTRIBUTE: _num(item.expires), "doc": _s(json.dumps(item.doc, sort_keys=True)),
            WRITER: _s(writer),
        }

    def _own_write(self, job_id: str, writer: str) -> bool:
        """Whether the stored job was written by the write carrying `writer` (its answer lost)."""
        stored = self._get(job_pk(job_id), META)
        return stored is not None and stored.get(WRITER, {}).get("S") == writer

    def create_job(self, item: JobItem) -> None:
        writer = secrets.token_hex(8)
        try:
            self._call("put_item", Item=self._job_put(item, writer),
                       ConditionExpression="attribute_not_exists(pk)")
        except ConditionFailed:
            if not self._own_write(item.job_id, writer):
                raise JobExists(item.job_id) from None

    def get_job(self, job_id: str) -> JobItem | None:
        item = self._get(job_pk(job_id), META)
        return self._job_item(item) if item else None

    def swap_job(self, item: JobItem, expected_version: int) -> bool:
        writer = secrets.token_hex(8)
        try:
            self._call("put_item", Item=self._job_put(item, writer),
                       ConditionExpression="version = :expected",
                       ExpressionAttributeValues={":expected": _num(expected_version)})
        except ConditionFailed:
            return self._own_write(item.job_id, writer)
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
