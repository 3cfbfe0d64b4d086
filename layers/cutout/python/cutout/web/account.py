"""GET /v1/account: the caller's plan, limits and usage this month (the API4AI side)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from .auth import Caller, account_report, authenticate

router = APIRouter(prefix="/v1", tags=["account"])


@router.get("/account")
async def account(caller: Caller = Depends(authenticate)) -> dict[str, Any]:
    """Plan, megapixels per minute, monthly credits, and what this month has used."""
    return (await account_report(caller)).as_dict()
