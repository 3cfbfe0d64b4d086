"""The one place a web request turns into pipeline work.

Header first (cheap, and the limits are enforced there), then the pipeline in
a worker thread so the event loop stays free. Metering hooks in here, between
the header and the pixels, so that bad input is never charged.
"""
from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from ..engine import images, pipeline
from ..accounts.keys import MISSING_KEY, AccessError, MissingKey
from ..config import Settings
from ..engine.model import Segmenter
from ..accounts.ratelimit import Ticket
from .auth import Access, Caller, bind, current_caller


@dataclass(frozen=True)
class Engine:
    """What a request needs to be processed: the model and the limits."""

    segmenter: Segmenter
    settings: Settings
    access: Access | None = None  # accounts and limiter; None: no metering (library use)

    @property
    def limits(self) -> images.Limits:
        return images.Limits(self.settings.max_megapixels, self.settings.max_bytes)

    async def cut(
        self,
        data: bytes,
        options: pipeline.Options,
        *,
        caller: Caller | None = None,
        credits: float = 1.0,
    ) -> pipeline.Result:
        """Header, then charge the caller, then pixels; any failure after the charge refunds it.

        `caller` defaults to the one the `authenticate` dependency resolved; a
        route without that dependency is metered as the anonymous account, or
        refused with 401 when anonymous use is off.
        """
        header = images.read_header(data, self.limits)
        pipeline.preflight(options, header)  # size-dependent option checks, before charging
        ticket = await self._admit(header, credits, caller)
        try:
            return await run_in_threadpool(
                pipeline.cut, data, options, segmenter=self.segmenter, limits=self.limits,
                header=header,
            )
        except BaseException:
            if ticket is not None and self.access is not None:
                await run_in_threadpool(self.access.limiter.refund, ticket)
            raise

    async def _admit(self, header: images.Header, credits: float, caller: Caller | None) -> Ticket | None:
        access = self.access
        if access is None:
            return None
        caller = caller or current_caller()
        if caller is None:
            if not access.settings.allow_anonymous:
                raise MissingKey(MISSING_KEY)
            caller = access.caller(access.anonymous)
            bind(caller)
        try:
            ticket = await run_in_threadpool(
                access.limiter.admit, caller.account, header.megapixels, credits
            )
        except AccessError as exc:
            caller.headers = dict(exc.headers)
            raise
        caller.ticket = ticket
        return ticket
