"""Where a web request turns into pixel work: the metering door, off the event loop.

`cut` and `run` resolve the caller (the one `auth.authenticate` bound, or the
anonymous account), then run `metering.Meter.cut` / `Meter.run` (header ->
preflight -> admit -> the pixels in a workload slot -> refund on failure) in a
worker thread so the event loop stays free. The charge is put on the caller as
soon as it is made, so the MeteringHeaders middleware reports it and refunds it
if the response turns out to be an error.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ..accounts.keys import MISSING_KEY, MissingKey
from ..accounts.ratelimit import Ticket
from ..engine import images, pipeline
from ..errors import AccessError
from ..services import Services
from .auth import Access, Caller, bind, current_caller

T = TypeVar("T")

UNCERTAINTY_HEADER = "X-Uncertainty-Score"


def services(request: Request) -> Services:
    """The app's composition root (web/app.py builds it once)."""
    found: Services = request.app.state.services
    return found


def uncertainty_header(result: pipeline.Result) -> dict[str, str]:
    """The result's confidence for every dialect's response: 0 (sure) .. 1 (doubtful), 4 decimals."""
    return {UNCERTAINTY_HEADER: f"{result.uncertainty:.4f}"}


async def cut(request: Request, data: bytes, options: pipeline.Options, *, credits: float = 1.0,
              header: images.Header | None = None) -> pipeline.Result:
    """Header, then charge the caller, then pixels; any failure after the charge refunds it.

    `data`: the encoded image. `credits`: what the request costs against the month.
    `header`: what `images.read_header(data, limits)` gave the route when it read it
    first (to price the request), so it is not read twice. Raises what `Meter.cut`
    raises (InputError, AccessError, Unavailable); an AccessError's headers are
    kept on the caller.
    """
    meter = services(request).meter
    metered = await _metered(request, meter.cut, data, options, credits=credits, header=header,
                             bounded_wait=True)
    return metered.result


async def run(request: Request, header: images.Header, work: Callable[[], T], *,
              credits: float = 1.0) -> T:
    """`Meter.run` off the event loop: charge for `header` and `credits`, run `work()` in a
    workload slot, refund if it raises (the stored-images operations)."""
    return await _metered(request, services(request).meter.run, header, work, credits=credits,
                          bounded_wait=True)


async def admit(request: Request, megapixels: float, credits: float = 1.0, *,
                job: str) -> Ticket | None:
    """Charge the caller now for a job done later: `Meter.admit` off the event loop, the
    ticket put on the caller so that an error answered after it (the job not stored or
    queued) is refunded by MeteringHeaders; the job's end settles or refunds it (the
    worker, or the reconciler). None when nothing meters.

    Raises AccessError (RateLimited, QuotaExceeded) or LimiterUnavailable; nothing charged.
    """
    caller = _caller(request)
    try:
        ticket = await run_in_threadpool(services(request).meter.admit, caller.account,
                                         megapixels, credits, job)
    except AccessError as exc:
        caller.headers = dict(exc.headers)
        raise
    caller.ticket = ticket
    return ticket


async def refund(request: Request) -> None:
    """Take the caller's charge back (work it will not get, such as a job that already existed)."""
    caller = current_caller()
    if caller is not None and caller.ticket is not None:
        await run_in_threadpool(caller.limiter.refund, caller.ticket)


async def _metered(request: Request, door: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a metering door in a worker thread with the caller's account; the charge goes on
    the caller at once, a refusal's headers too."""
    caller = _caller(request)

    def admitted(ticket: Ticket) -> None:
        caller.ticket = ticket

    try:
        return await run_in_threadpool(door, *args, account=caller.account, admitted=admitted,
                                       **kwargs)
    except AccessError as exc:
        caller.headers = dict(exc.headers)
        raise


def _caller(request: Request) -> Caller:
    """The bound caller; a route that did not authenticate is metered as the anonymous
    account, or refused with MissingKey when anonymous use is off."""
    caller = current_caller()
    if caller is None:
        access: Access = request.app.state.access
        if access.anonymous is None:
            raise MissingKey(MISSING_KEY)
        caller = Caller(access.anonymous, services(request).limiter)
        bind(caller)
    return caller
