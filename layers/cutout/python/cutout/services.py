"""The composition root: what one process shares, built once from the settings.

The API (`web/app.py`), the jobs function (`functions/jobs/handler.py`) and the
command line get their parts here, so each exists once per process: one store
(three record families over one table), one blob store, the accounts, one
`Meter` (the limiter, and the workload bound every cut waits for, synchronous or
a job's), the jobs and the stored images. Everything below is handed what it
needs; only entry points read the settings.
"""
from __future__ import annotations

from dataclasses import dataclass

from .accounts.keys import Accounts
from .accounts.plans import load_plans
from .accounts.ratelimit import Limiter
from .accounts.secrets import ProxySecret
from .blobs import BlobStore, open_blobs
from .config import Settings
from .engine import images, tiers
from .engine.model import Segmenter
from .engine.workload import Workload
from .imagelib import ImageLibrary
from .jobs.submit import Jobs, open_jobs
from .jobs.webhook import Webhooks
from .jobs.worker import Worker
from .metering import Meter
from .queues import JobQueue, open_webhook_queue
from .stores import Store, open_store


@dataclass(frozen=True)
class Services:
    """Everything a process shares between requests and jobs; see `build`."""

    settings: Settings
    store: Store  # keys and metering, jobs, stored images
    blobs: BlobStore  # results, uploads, stored images' bytes
    accounts: Accounts
    proxy_secret: ProxySecret  # the RapidAPI proxy secret (a value, or read from Secrets Manager)
    meter: Meter  # the one metering door: model, limits, limiter, workload, PNG level
    jobs: Jobs  # submit and look up jobs (SQS, or the in-process pool running `worker`)
    worker: Worker  # runs one job message, with `meter`
    webhooks: JobQueue  # finished jobs' webhooks (SQS, or the in-process pool delivering them)
    images: ImageLibrary  # the stored-images API's records and bytes

    @property
    def limiter(self) -> Limiter:
        """The megapixel limiter every charge goes through (the meter's)."""
        assert self.meter.limiter is not None  # build() always gives the meter one
        return self.meter.limiter

    @classmethod
    def build(cls, cfg: Settings, segmenter: Segmenter) -> "Services":
        """Open the store and the blob store the settings name and wire the rest over them.

        Nothing is read from the network here except what the adapters do lazily
        (the store's client, Secrets Manager on first use). Raises SettingError
        (settings.py) for a bad plans file or plan name.
        """
        store = open_store(cfg)
        blobs = open_blobs(cfg)
        quality = tiers.quality_segmenter(cfg, segmenter)
        meter = Meter(segmenter, images.Limits(cfg.max_megapixels, cfg.max_bytes),
                      Limiter(store, fail_open=cfg.limiter_fail_open), quality=quality,
                      workload=Workload(cfg.max_concurrent_cuts, cfg.trim_idle_seconds,
                                        release=tiers.idle_release(segmenter, quality),
                                        max_queue_seconds=cfg.max_queue_seconds),
                      png_level=cfg.png_compress_level)
        webhooks = open_webhook_queue(cfg, Webhooks(store, blobs, cfg).run)
        worker = Worker(store, blobs, meter, cfg, webhooks=webhooks)
        return cls(
            settings=cfg, store=store, blobs=blobs,
            accounts=Accounts(store, load_plans(cfg.plans_file), cfg.key_cache_seconds,
                              cfg.sandbox_mp_per_minute),
            proxy_secret=ProxySecret(cfg.rapidapi_proxy_secret, cfg.rapidapi_proxy_secret_id,
                                     cfg.store_timeout),
            meter=meter, jobs=open_jobs(cfg, store, blobs, worker), worker=worker,
            webhooks=webhooks,
            images=ImageLibrary(store, blobs, cfg.image_ttl_days),
        )


def webhook_deliveries(cfg: Settings) -> Webhooks:
    """The webhook function's part (functions/webhooks): the job store and the blob store
    the settings name, and nothing else (no model, no metering)."""
    return Webhooks(open_store(cfg), open_blobs(cfg), cfg)
