"""Settings from the environment, declared once and read once per process.

Every knob is one field of `Settings`, declared with `setting(default, env,
group)`: its default, its `CUTOUT_*` variable and its group sit together, and
`settings()` reads them all in one loop. A value that does not parse fails at
start with a message naming the variable (`SettingError`). Defaults suit
`make run`; the SAM template sets the deployed values. Groups (limits, model,
fetch, accounts, results, s3, images, jobs) order the declaration and the README's table;
new settings carry their unit in their name (`..._seconds`, `..._bytes`).

Only entry points call `settings()` (the app factory, the Lambda handlers, the
CLI); everything else is handed the `Settings` (or the values) it needs.
Tests build variants with `dataclasses.replace` and, after changing the
environment, call `settings.cache_clear()`.
"""
from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from typing import Any, Callable

from . import numerals

MIB = 1024 * 1024
GROUPS = ("model", "limits", "fetch", "logs", "serving", "accounts", "results", "s3", "images", "jobs", "web")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


class SettingError(ValueError):
    """An environment variable whose value cannot be used; the message names it."""


def setting(default: Any, env: str, group: str,
            derive: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """A `Settings` field: its default, its environment variable and its group.

    `derive` computes the default from the settings read before it, when the
    variable is unset (e.g. the request limit from the image limit).
    """
    assert group in GROUPS, group
    metadata = {"env": env, "group": group, "derive": derive}
    if isinstance(default, tuple):
        return field(default_factory=lambda: default, metadata=metadata)
    return field(default=default, metadata=metadata)


def _text(raw: str) -> str:
    return raw


def _number(kind: type) -> Callable[[str], Any]:
    """int or float from ASCII digits only (numerals.py), as every other number Cutout reads."""
    def parse(raw: str) -> Any:
        return numerals.integer(raw.strip(), signed=True) if kind is int else numerals.decimal(raw.strip())
    parse.__name__ = kind.__name__
    return parse


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"expected one of {', '.join(TRUE)} or {', '.join(FALSE[:-1])}")


def _names(raw: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


# How each field type is read from its variable (field types are strings: postponed annotations).
PARSERS: dict[str, Callable[[str], Any]] = {
    "str": _text, "int": _number(int), "float": _number(float), "bool": _flag,
    "tuple[str, ...]": _names,
}
KINDS = {"str": "text", "int": "whole number", "float": "number", "bool": "flag",
         "tuple[str, ...]": "comma-separated list"}


@dataclass(frozen=True)
class Settings:
    """The whole configuration; see the README's settings table for meanings."""

    # --- model ------------------------------------------------------------------------
    model_name: str = setting("u2netp-int8", "CUTOUT_MODEL", "model")
    model_path: str = setting("", "CUTOUT_MODEL_PATH", "model")  # explicit ONNX file; overrides model_name's location
    model_dir: str = setting("", "CUTOUT_MODEL_DIR", "model")  # folder holding <model_name>.onnx; default: the layer paths
    quality_model: str = setting("u2net-int8", "CUTOUT_QUALITY_MODEL", "model")  # the `quality` tier's; empty: no tier
    threads: int = setting(0, "CUTOUT_THREADS", "model")  # 0: the CPUs this process may actually use
    # --- limits -------------------------------------------------------------------------
    max_megapixels: float = setting(25.0, "CUTOUT_MAX_MEGAPIXELS", "limits")
    max_bytes: int = setting(16 * MIB, "CUTOUT_MAX_BYTES", "limits")
    max_request_bytes: int = setting(  # room for base64 or multipart overhead
        16 * MIB * 4 // 3 + MIB, "CUTOUT_MAX_REQUEST_BYTES", "limits",
        derive=lambda read: read["max_bytes"] * 4 // 3 + MIB)
    png_compress_level: int = setting(1, "CUTOUT_PNG_COMPRESS_LEVEL", "limits")
    # --- fetching image URLs (fetch.py) -------------------------------------------------
    fetch_timeout: float = setting(10.0, "CUTOUT_FETCH_TIMEOUT", "fetch")  # seconds
    fetch_max_redirects: int = setting(3, "CUTOUT_FETCH_MAX_REDIRECTS", "fetch")
    fetch_allow_hosts: tuple[str, ...] = setting((), "CUTOUT_FETCH_ALLOW_HOSTS", "fetch")
    fetch_downloads_per_key: int = setting(4, "CUTOUT_FETCH_DOWNLOADS_PER_KEY", "fetch")  # at once; more: 429
    # --- logs -------------------------------------------------------------------------
    log_level: str = setting("INFO", "CUTOUT_LOG_LEVEL", "logs")
    # --- serving: `cutout serve` receive deadlines (web/serve.py), memory (engine/workload.py) --
    headers_timeout_seconds: float = setting(10.0, "CUTOUT_HEADERS_TIMEOUT_SECONDS", "serving")  # first byte -> headers
    request_timeout_seconds: float = setting(60.0, "CUTOUT_REQUEST_TIMEOUT_SECONDS", "serving")  # first byte -> body
    max_concurrent_cuts: int = setting(2, "CUTOUT_MAX_CONCURRENT_CUTS", "serving")  # cut-outs at once per process
    max_queue_seconds: float = setting(  # estimated wait for a cut slot over this: 503 at once; <0: never
        10.0, "CUTOUT_MAX_QUEUE_SECONDS", "serving")
    trim_idle_seconds: float = setting(2.0, "CUTOUT_TRIM_IDLE_SECONDS", "serving")  # idle -> memory back; -1: never
    backend_deadline_seconds: float = setting(  # a request's calls to AWS end by then (deadline.py); 0: none
        25.0, "CUTOUT_BACKEND_DEADLINE_SECONDS", "serving")
    # --- accounts, rate limits and metering (accounts/, stores/) ----------------------------
    table: str = setting("", "CUTOUT_TABLE", "accounts")  # DynamoDB table; empty: SQLite under data_dir
    data_dir: str = setting(".cutout", "CUTOUT_DATA_DIR", "accounts")  # also holds local results
    allow_anonymous: bool = setting(False, "CUTOUT_ALLOW_ANONYMOUS", "accounts")  # key-less requests allowed
    anonymous_plan: str = setting("free", "CUTOUT_ANONYMOUS_PLAN", "accounts")
    rapidapi_proxy_secret: str = setting("", "CUTOUT_RAPIDAPI_PROXY_SECRET", "accounts")
    rapidapi_proxy_secret_id: str = setting("", "CUTOUT_RAPIDAPI_PROXY_SECRET_ID", "accounts")  # Secrets Manager
    limiter_fail_open: bool = setting(False, "CUTOUT_LIMITER_FAIL_OPEN", "accounts")  # store down: admit, or 503
    plans_file: str = setting("", "CUTOUT_PLANS_FILE", "accounts")  # JSON overriding the packaged plans.json
    key_cache_seconds: float = setting(30.0, "CUTOUT_KEY_CACHE_SECONDS", "accounts")
    store_timeout: float = setting(2.0, "CUTOUT_STORE_TIMEOUT", "accounts")  # seconds to connect / read
    reconcile_seconds: float = setting(60.0, "CUTOUT_RECONCILE_SECONDS", "accounts")  # overdue charges refunded; 0: never
    # --- results: storage (blobs/) and the inline response limit (web/large_results.py) -------
    bucket: str = setting("", "CUTOUT_BUCKET", "results")  # S3 bucket; empty: a local folder
    result_url_ttl: int = setting(3600, "CUTOUT_RESULT_URL_TTL", "results")  # seconds a result URL is valid
    max_response_bytes: int = setting(0, "CUTOUT_MAX_RESPONSE_BYTES", "results")  # 0: no limit (Lambda: 6 MB)
    blob_secret: str = setting("", "CUTOUT_BLOB_SECRET", "results")  # signs local result URLs; empty: random
    # --- the S3 uploads trigger (jobs/s3_uploads.py) -----------------------------------
    s3_account: str = setting("s3", "CUTOUT_S3_ACCOUNT", "s3")  # the account its usage is metered to
    s3_plan: str = setting("mega", "CUTOUT_S3_PLAN", "s3")  # the plan whose limits that account has
    # --- stored images: the IMG Processing dialect (imagelib.py, web/dialects/imgproc*.py) ---
    image_ttl_days: int = setting(0, "CUTOUT_IMAGE_TTL_DAYS", "images")  # 0: kept until deleted
    image_source_hosts: tuple[str, ...] = setting((), "CUTOUT_IMAGE_SOURCE_HOSTS", "images")  # POST /v1/images url hosts
    sandbox_mp_per_minute: int = setting(10, "CUTOUT_SANDBOX_MP_PER_MINUTE", "images")  # test_ keys
    # --- asynchronous jobs (jobs/, queues/, web/dialects/adobe.py) -------------------------
    job_queue_url: str = setting("", "CUTOUT_JOB_QUEUE_URL", "jobs")  # SQS; empty: an in-process pool
    job_workers: int = setting(1, "CUTOUT_JOB_WORKERS", "jobs")  # threads of the in-process pool
    job_queue_capacity: int = setting(256, "CUTOUT_JOB_QUEUE_CAPACITY", "jobs")  # waiting jobs before 503
    job_ttl_seconds: int = setting(7 * 24 * 3600, "CUTOUT_JOB_TTL_SECONDS", "jobs")  # record kept
    job_lease_seconds: int = setting(900, "CUTOUT_JOB_LEASE_SECONDS", "jobs")  # a running job's claim
    job_max_attempts: int = setting(3, "CUTOUT_JOB_MAX_ATTEMPTS", "jobs")  # server failures before failed
    webhook_secret: str = setting("", "CUTOUT_WEBHOOK_SECRET", "jobs")  # signs webhooks; needed for callbacks
    webhook_queue_url: str = setting("", "CUTOUT_WEBHOOK_QUEUE_URL", "jobs")  # SQS; empty: an in-process pool
    webhook_workers: int = setting(2, "CUTOUT_WEBHOOK_WORKERS", "jobs")  # threads of the in-process pool
    webhook_attempts: int = setting(4, "CUTOUT_WEBHOOK_ATTEMPTS", "jobs")  # in-process pool; SQS: maxReceiveCount
    webhook_backoff: float = setting(1.0, "CUTOUT_WEBHOOK_BACKOFF", "jobs")  # seconds, doubled each retry
    # --- browsers (web/cors.py) ---------------------------------------------------------
    cors_origins: tuple[str, ...] = setting(("*",), "CUTOUT_CORS_ORIGINS", "web")  # "*": any origin


def from_environment(environ: dict[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: os.environ): each field's variable, else its default.

    Raises SettingError naming the variable when a value does not parse.
    """
    environ = dict(os.environ) if environ is None else environ
    read: dict[str, Any] = {}
    for spec in fields(Settings):
        env, derive = spec.metadata["env"], spec.metadata["derive"]
        raw = environ.get(env)
        if raw is None or (raw == "" and spec.type != "str"):  # unset, or set to nothing
            if derive is not None:
                read[spec.name] = derive(read)
            elif spec.default_factory is not MISSING:
                read[spec.name] = spec.default_factory()
            else:
                read[spec.name] = spec.default
            continue
        try:
            read[spec.name] = PARSERS[str(spec.type)](raw)
        except ValueError as exc:
            raise SettingError(f"{env}={raw!r} is not a valid {KINDS[str(spec.type)]} ({exc}).") from None
    read["log_level"] = str(read["log_level"]).upper()
    return Settings(**read)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings, read from the environment once; the result is immutable.

    Raises SettingError naming the variable when a value does not parse.
    """
    return from_environment()
