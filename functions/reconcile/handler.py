"""Lambda entry point of the reconcile function: every few minutes (an EventBridge schedule),
refund the charges whose request never ended and settle those whose job succeeded.

See cutout/reconcile.py. It needs only the store: no model is loaded, so it is quick
and small.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from cutout.config import settings
from cutout.reconcile import reconcile
from cutout.stores import open_store

logger = Logger(service="cutout-reconcile")
store = open_store(settings())


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, int]:
    """One run over the pending charges; raises StoreUnavailable (the next run tries again)."""
    done = reconcile(store)
    return {"refunded": done.refunded, "settled": done.settled, "pending": done.pending}
