"""The operator's commands: `cutout table create`, `cutout keys create|list|revoke|usage` and
`cutout reconcile`.

They talk to the same store the service uses (CUTOUT_TABLE for DynamoDB,
else SQLite under CUTOUT_DATA_DIR), so a key made here works at once. Only
`keys create` ever shows a key, once, alone on its last line.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..accounts.keys import ANONYMOUS_ID, RAPIDAPI_PREFIX, Accounts, minute_of, month_of
from ..accounts.plans import Plan, load_plans
from ..accounts.ratelimit import shards_for
from ..config import Settings, settings
from ..stores import KeyRecord, StoreUnavailable, open_store, store_label


def _accounts(cfg: Settings) -> Accounts:
    return Accounts(open_store(cfg), load_plans(cfg.plans_file), cache_seconds=0,
                    sandbox_mp_per_minute=cfg.sandbox_mp_per_minute)


def _month(raw: str) -> str:
    """A calendar month as the store keys usage by it: YYYY-MM, month 01-12."""
    year, _, month = raw.partition("-")
    if not (len(year) == 4 and year.isascii() and year.isdigit() and len(month) == 2
            and month.isascii() and month.isdigit() and 1 <= int(month) <= 12):
        raise argparse.ArgumentTypeError(f"a month as YYYY-MM (e.g. 2026-01), not {raw!r}")
    return raw


def _fail(message: str, code: int = 1) -> int:
    print(f"cutout: {message}", file=sys.stderr)
    return code


def _quota(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:g}"


def table_create(args: argparse.Namespace) -> int:
    cfg = settings()
    if not cfg.table:
        return _fail(
            "CUTOUT_TABLE is not set. The local SQLite store needs no table; it lives at "
            f"{cfg.data_dir}/cutout.sqlite3. Set CUTOUT_TABLE (and AWS_ENDPOINT_URL_DYNAMODB "
            "for dynalite) to create a DynamoDB table.", 2)
    try:
        print(open_store(cfg).create_table())
    except StoreUnavailable as exc:
        return _fail(str(exc))
    return 0


def keys_create(args: argparse.Namespace) -> int:
    cfg = settings()
    accounts = _accounts(cfg)
    try:
        api_key, record = accounts.create_key(
            args.plan, owner=args.owner, mp_per_minute=args.mp_per_minute,
            monthly_credits=args.monthly_credits, sandbox=args.sandbox,
        )
    except ValueError as exc:
        return _fail(str(exc), 2)
    except StoreUnavailable as exc:
        return _fail(str(exc))
    account = accounts.account_for(record)
    print(f"key id   {record.key_id}")
    print(f"owner    {record.owner or '-'}")
    print(f"store    {store_label(cfg)}" + ("" if cfg.table else
          "  (CUTOUT_TABLE unset: this machine's store, not a deployed stack's)"))
    if args.sandbox:
        print(f"sandbox  at most {cfg.sandbox_mp_per_minute} megapixels/minute; outputs watermarked")
    print(f"plan     {record.plan}: {account.mp_per_minute} megapixels/minute, "
          f"{_quota(account.monthly_credits)} credits/month")
    print("The key is shown only now; keep it safe:")
    print(api_key)
    return 0


def _row(accounts: Accounts, record: KeyRecord) -> list[str]:
    try:
        account = accounts.account_for(record)  # a sandbox key's limits are the sandbox's
        limits = [str(account.mp_per_minute), _quota(account.monthly_credits)]
    except ValueError:
        limits = ["?", "?"]  # a plan removed from the configuration
    kind = "sandbox" if record.sandbox else "live"
    return [record.key_id, record.status, kind, record.plan, *limits, record.created, record.owner]


def keys_list(args: argparse.Namespace) -> int:
    accounts = _accounts(settings())
    try:
        records = accounts.list_keys()
    except StoreUnavailable as exc:
        return _fail(str(exc))
    rows = [["KEY ID", "STATUS", "KIND", "PLAN", "MP/MIN", "CREDITS/MONTH", "CREATED", "OWNER"]]
    rows += [_row(accounts, r) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    accounts = _accounts(settings())
    try:
        record = accounts.revoke(args.key_id)
    except KeyError as exc:
        return _fail(str(exc.args[0]))
    except StoreUnavailable as exc:
        return _fail(str(exc))
    print(f"Revoked key {record.key_id} ({record.owner or 'no owner'}); status {record.status}.")
    return 0


def _limits_of(accounts: Accounts, cfg: Settings, account_id: str) -> tuple[Plan | None, str]:
    """(the limits that apply, or None; a note) for any account the service meters.

    A key id names its key's limits; `anonymous` and the S3 trigger's account
    (CUTOUT_S3_ACCOUNT) have their configured plans; `rapidapi:<user>` accounts
    take their plan from each request's subscription header, and other ids (the
    accounts of other entry points) have usage but no stored plan.
    """
    if account_id == ANONYMOUS_ID:
        return accounts.plans.get(cfg.anonymous_plan), "the key-less account (CUTOUT_ANONYMOUS_PLAN)"
    if account_id == cfg.s3_account:
        return accounts.plans.get(cfg.s3_plan), "the S3 upload trigger's account (CUTOUT_S3_ACCOUNT, CUTOUT_S3_PLAN)"
    if account_id.startswith(RAPIDAPI_PREFIX):
        return None, "a RapidAPI consumer (plan from X-RapidAPI-Subscription)"
    try:
        found = accounts.account_for(accounts.find_key(account_id))
        return Plan(found.plan, found.mp_per_minute, found.monthly_credits), ""
    except KeyError:
        return None, "no key has this id; the account's metered usage"


def keys_usage(args: argparse.Namespace) -> int:
    cfg = settings()
    accounts = _accounts(cfg)
    now = time.time()
    month = args.month or month_of(now)
    account_id = args.key_id
    try:
        limits, note = _limits_of(accounts, cfg, account_id)
        # a busy account's counters are split over shards (accounts/ratelimit.py): read over
        # every shard the month used (its plan's now, or more if it once had more); an
        # account without stored limits, over as many as any plan has
        shards = max(shards_for(plan.mp_per_minute, plan.monthly_credits)
                     for plan in ([limits] if limits else accounts.plans.plans.values()))
        usage = accounts.store.usage(account_id, month,
                                     max(shards, accounts.store.record_shards(account_id, month, 0)))
        window = accounts.store.window(account_id, minute_of(now), shards).used
    except (StoreUnavailable, ValueError) as exc:
        return _fail(str(exc))
    print(f"account     {account_id}" + (f"  ({note})" if note else ""))
    if limits is not None:
        print(f"plan        {limits.name}")
    print(f"month       {month}")
    print(f"calls       {usage.calls}")
    print(f"megapixels  {usage.megapixels:g}")
    quota = f" of {_quota(limits.monthly_credits)}" if limits is not None else ""
    print(f"credits     {usage.credits:g}{quota}")
    if limits is not None:
        print(f"this minute {window} of {limits.mp_per_minute} megapixels")
    return 0


def reconcile_now(args: argparse.Namespace) -> int:
    """Refund overdue pending charges now (the server does it on a timer too)."""
    from ..reconcile import reconcile

    try:
        done = reconcile(open_store(settings()), limit=args.limit)
    except StoreUnavailable as exc:
        return _fail(str(exc))
    print(f"refunded {done.refunded}, settled {done.settled}, still pending {done.pending}")
    return 0


def add_commands(commands: Any) -> None:
    """Register `table`, `keys` and `reconcile` on the `cutout` command's subparsers."""
    table = commands.add_parser("table", help="set up the DynamoDB table (CUTOUT_TABLE)")
    sub = table.add_subparsers(dest="table_command", required=True)
    p = sub.add_parser("create", help="create the table with TTL at the configured endpoint")
    p.set_defaults(run=table_create)

    keys = commands.add_parser("keys", help="API keys: create, list, revoke, usage")
    sub = keys.add_subparsers(dest="keys_command", required=True)
    p = sub.add_parser("create", help="make a key; it is printed once, on the last line")
    p.add_argument("--plan", required=True, help="a plan from plans.json (free, basic, pro, ...)")
    p.add_argument("--owner", default="", help="who the key is for (free text)")
    p.add_argument("--mp-per-minute", type=int, help="override the plan's megapixels per minute")
    p.add_argument("--monthly-credits", type=float, help="override the plan's monthly credits")
    p.add_argument("--sandbox", action="store_true",
                   help="a test_ key: lower limit (CUTOUT_SANDBOX_MP_PER_MINUTE), watermarked outputs")
    p.set_defaults(run=keys_create)
    p = sub.add_parser("list", help="list keys (ids, plans, status; never the keys)")
    p.set_defaults(run=keys_list)
    p = sub.add_parser("revoke", help="revoke a key by its id")
    p.add_argument("key_id")
    p.set_defaults(run=keys_revoke)
    p = sub.add_parser("usage", help="an account's usage this month: a key id, 'anonymous', "
                       "'rapidapi:USER', the S3 account ('s3') or any metered account id")
    p.add_argument("key_id", metavar="account")
    p.add_argument("--month", type=_month, help="YYYY-MM (default: this month, UTC)")
    p.set_defaults(run=keys_usage)

    p = commands.add_parser("reconcile", help="refund charges whose request never ended "
                            "(overdue pending charges); settle those whose job succeeded")
    p.add_argument("--limit", type=int, default=1000, help="charges to look at, oldest first")
    p.set_defaults(run=reconcile_now)
