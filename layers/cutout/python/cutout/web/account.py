"""GET /v1/account: the caller's plan, limits and usage this month (the API4AI side)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from . import openapi as oa
from .auth import Caller, account_report, authenticate

router = APIRouter(prefix="/v1", tags=["account"])

_NUMBER = {"type": "number"}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
REPORT = oa.schema("AccountReport", oa.obj(
    ["account", "kind", "plan", "limits", "rate_limit", "usage"],
    account={"type": "string", "description": "`key:<id>`, `anonymous`, `rapidapi:<user>`, ..."},
    kind=oa.STRING, owner={"type": ["string", "null"]}, plan=oa.STRING,
    limits=oa.obj(["megapixels_per_minute", "monthly_credits"],
                  megapixels_per_minute=oa.INTEGER,
                  monthly_credits={**_NULLABLE_NUMBER, "description": "null: no monthly quota"}),
    rate_limit=oa.obj(["limit", "remaining", "reset"], limit=oa.INTEGER, remaining=oa.INTEGER,
                      reset={"type": "integer", "description": "Unix time the window ends"}),
    usage=oa.obj(["month", "calls", "megapixels", "credits", "credits_remaining"],
                 month={"type": "string", "example": "2026-11"}, calls=oa.INTEGER,
                 megapixels=_NUMBER, credits=_NUMBER, credits_remaining=_NULLABLE_NUMBER),
))


@router.get("/account", response_model=None, **oa.operation(
    "The caller's plan, limits and usage this month",
    security=oa.KEYED,
    responses={200: oa.json(REPORT, "The account report.", headers=oa.RATE_LIMIT),
               **oa.refusals(oa.DETAIL, 401, 403, 503)},
))
async def account(caller: Caller = Depends(authenticate)) -> dict[str, Any]:
    """Plan, megapixels per minute, monthly credits, and what this month has used."""
    return (await account_report(caller)).as_dict()
