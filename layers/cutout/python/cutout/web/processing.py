"""The one place a web request turns into pipeline work.

Header first (cheap, and the limits are enforced there), then the pipeline in
a worker thread so the event loop stays free. Metering hooks in here, between
the header and the pixels, so that bad input is never charged.
"""
from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from .. import images, pipeline
from ..config import Settings
from ..model import Segmenter


@dataclass(frozen=True)
class Engine:
    """What a request needs to be processed: the model and the limits."""

    segmenter: Segmenter
    settings: Settings

    @property
    def limits(self) -> images.Limits:
        return images.Limits(self.settings.max_megapixels, self.settings.max_bytes)

    async def cut(self, data: bytes, options: pipeline.Options) -> pipeline.Result:
        header = images.read_header(data, self.limits)
        return await run_in_threadpool(
            pipeline.cut, data, options, segmenter=self.segmenter, limits=self.limits, header=header
        )
