"""The one place a web request turns into pipeline work: the metering door, off the event loop.

`Engine.cut` resolves the caller, then runs `metering.Meter.cut` (header ->
preflight -> admit -> cut -> refund on failure) in a worker thread so the event
loop stays free. The charge is put on the caller as soon as it is made, so the
MeteringHeaders middleware reports it and refunds it if the response turns out
to be a server error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from starlette.concurrency import run_in_threadpool

from ..accounts.keys import MISSING_KEY, MissingKey
from ..accounts.ratelimit import Ticket
from ..config import Settings
from ..engine import images, pipeline
from ..engine.model import Segmenter
from ..engine.tiers import LazySegmenter
from ..engine.workload import Workload
from ..errors import AccessError
from ..metering import Meter
from .auth import Access, Caller, bind, current_caller

T = TypeVar("T")


UNCERTAINTY_HEADER = "X-Uncertainty-Score"


def uncertainty_header(result: pipeline.Result) -> dict[str, str]:
    """The result's confidence for every dialect's response: 0 (sure) .. 1 (doubtful), 4 decimals."""
    return {UNCERTAINTY_HEADER: f"{result.uncertainty:.4f}"}


@dataclass(frozen=True)
class Engine:
    """What a request needs to be processed: the model and the limits.

    `meter` (the metering door) is built once, with the engine: a `Meter` holds
    only what the process shares (model, limits, limiter, quality model), nothing
    of one request, so every request and thread goes through the same one.
    """

    segmenter: Segmenter
    settings: Settings
    access: Access | None = None  # accounts and limiter; None: no metering (library use)
    workload: Workload | None = None  # cut-outs at once, idle trims; None: unbounded
    quality: LazySegmenter | None = None  # the quality tiers' model, loaded when first asked for
    meter: Meter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        limits = images.Limits(self.settings.max_megapixels, self.settings.max_bytes)
        limiter = self.access.limiter if self.access is not None else None
        object.__setattr__(self, "meter", Meter(self.segmenter, limits, limiter, self.quality))

    @property
    def limits(self) -> images.Limits:
        """The image limits every request is checked against (the meter's)."""
        return self.meter.limits

    async def cut(
        self,
        data: bytes,
        options: pipeline.Options,
        *,
        caller: Caller | None = None,
        credits: float = 1.0,
        header: images.Header | None = None,
    ) -> pipeline.Result:
        """Header, then charge the caller, then pixels; any failure after the charge refunds it.

        `caller` defaults to the one the `authenticate` dependency resolved; a
        route without that dependency is metered as the anonymous account, or
        refused with MissingKey when anonymous use is off. `header` is the one
        `images.read_header(data, self.limits)` gave the route, when it read it
        first (to price the request), so it is not read twice. Raises what
        `Meter.cut` raises; an AccessError's headers are kept on the caller.
        """
        metered = await self._metered(self.meter.cut, caller, data, options, credits=credits,
                                      header=header)
        return metered.result

    async def run(
        self,
        header: images.Header,
        work: Callable[[], T],
        *,
        caller: Caller | None = None,
        credits: float = 1.0,
    ) -> T:
        """`Meter.run` off the event loop: charge for `header` and `credits`, run `work()`,
        refund if it raises (the stored-images operations)."""
        return await self._metered(self.meter.run, caller, header, work, credits=credits)

    async def _metered(self, door: Callable[..., T], caller: Caller | None, *args: Any,
                       **kwargs: Any) -> T:
        """Run a metering door in a worker thread with the caller's account; the charge goes
        on the caller at once, a refusal's headers too."""
        caller = self._caller(caller)

        def admitted(ticket: Ticket) -> None:
            if caller is not None:
                caller.ticket = ticket

        # At most workload.max_concurrent requests work on pixels at once (peak memory);
        # the door charges first, so a refused request (429, 402) never waits for a slot.
        slot = self.workload.run if self.workload is not None else None
        try:
            return await run_in_threadpool(
                door, *args, account=caller.account if caller else None, admitted=admitted,
                slot=slot, **kwargs)
        except AccessError as exc:
            if caller is not None:
                caller.headers = dict(exc.headers)
            raise

    def _caller(self, caller: Caller | None) -> Caller | None:
        access = self.access
        if access is None:
            return None
        caller = caller or current_caller()
        if caller is None:
            if not access.settings.allow_anonymous:
                raise MissingKey(MISSING_KEY)
            caller = access.caller(access.anonymous)
            bind(caller)
        return caller
