"""Settings from the environment, declared once and read once per process.

Every knob is one field of `Settings`, declared with `setting(default, env,
group)`: its default, its `CUTOUT_*` variable and its group sit together, and
`settings()` reads them all in one loop. A value that does not parse fails at
start with a message naming the variable (`SettingError`). Defaults suit
`make run`; the SAM template sets the deployed values. Each declaration also
carries the setting's meaning and unit, from which docs/configuration.md's
table is written (docs/hooks/settings.py). Groups (limits, model, fetch,
accounts, results, s3, images, jobs) order the declaration and that table;
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
            derive: Callable[[dict[str, Any]], Any] | None = None, *,
            doc: str = "", unit: str = "", shown: str = "", least: float | None = None) -> Any:
    """A `Settings` field: its default, its environment variable, its group and its meaning.

    `derive` computes the default from the settings read before it, when the
    variable is unset (e.g. the request limit from the image limit). `doc` says
    what the setting does, `unit` what its number counts (seconds, bytes, ...)
    and `shown` how to write a default that the value alone does not explain;
    `least`, the smallest value a variable may set (a smaller one stops the start);
    the documentation's settings table (docs/configuration.md) is made from
    these, so every setting is described here and nowhere else.
    """
    assert group in GROUPS, group
    metadata = {"env": env, "group": group, "derive": derive, "doc": doc, "unit": unit,
                "shown": shown, "least": least}
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
    """The whole configuration; each field's `doc` says what it does (docs/configuration.md)."""

    # --- model ------------------------------------------------------------------------
    model_name: str = setting(
        "u2netp-int8", "CUTOUT_MODEL", "model",
        doc="The model of the `fast` tier, by its name in `cutout/engine/models.json`: `u2netp-int8` "
            "(INT8; served as `u2netp` on x86 CPUs without VNNI), `u2netp` (fp32), `u2net`, `u2net-int8`.")
    model_path: str = setting(
        "", "CUTOUT_MODEL_PATH", "model", unit="path",
        doc="Any compatible ONNX file (1x3x320x320 in, mask out); overrides `CUTOUT_MODEL`'s location.")
    model_dir: str = setting(
        "", "CUTOUT_MODEL_DIR", "model", unit="path", shown="`/opt/models`, then `layers/model/build/models`",
        doc="The folder holding `<model>.onnx`.")
    quality_model: str = setting(
        "u2net-int8", "CUTOUT_QUALITY_MODEL", "model",
        doc="The model of the `quality` and `quality-tta` tiers, loaded by the first request that asks for "
            "one. Empty, or its file not installed: those tiers are refused (`invalid_model`).")
    threads: int = setting(
        0, "CUTOUT_THREADS", "model", unit="threads", shown="`0`: the CPUs this process may use",
        doc="onnxruntime's intra-op threads, and the threads of the banded steps of large images. "
            "The default counts CPU affinity and the cgroup quota, not the host's cores.")
    # --- limits -------------------------------------------------------------------------
    max_megapixels: float = setting(
        25.0, "CUTOUT_MAX_MEGAPIXELS", "limits", unit="megapixels", least=0.01,
        doc="The largest image accepted (width x height), checked from the file's header before decoding.")
    max_bytes: int = setting(
        16 * MIB, "CUTOUT_MAX_BYTES", "limits", unit="bytes", least=1, shown="`16777216` (16 MiB)",
        doc="The largest image file accepted.")
    max_request_bytes: int = setting(  # room for base64 or multipart overhead
        16 * MIB * 4 // 3 + MIB, "CUTOUT_MAX_REQUEST_BYTES", "limits",
        derive=lambda read: read["max_bytes"] * 4 // 3 + MIB, unit="bytes", least=1,
        shown="4/3 of `CUTOUT_MAX_BYTES` + 1 MiB",
        doc="The largest request body (room for base64); a larger one is answered 413.")
    png_compress_level: int = setting(
        1, "CUTOUT_PNG_COMPRESS_LEVEL", "limits", unit="0-3", least=0,
        doc="The deflate level of PNG output (ISA-L's 0-3; higher: smaller files, slower; above 3 "
            "counts as 3).")
    # --- fetching image URLs (fetch.py) -------------------------------------------------
    fetch_timeout: float = setting(
        10.0, "CUTOUT_FETCH_TIMEOUT", "fetch", unit="seconds", least=0.1,
        doc="One deadline for a whole URL download (image inputs, job sources, webhook calls): "
            "connecting, headers and body, redirects included, however slowly the server sends.")
    fetch_max_redirects: int = setting(
        3, "CUTOUT_FETCH_MAX_REDIRECTS", "fetch", unit="redirects", least=0,
        doc="Redirects followed; each target is checked again by the SSRF guard.")
    fetch_allow_hosts: tuple[str, ...] = setting(
        (), "CUTOUT_FETCH_ALLOW_HOSTS", "fetch", unit="host names",
        doc="Comma-separated host names exempt from the public-address check (a private deployment's "
            "own image server; `localhost` to try URL inputs on your machine).")
    fetch_downloads_per_key: int = setting(
        4, "CUTOUT_FETCH_DOWNLOADS_PER_KEY", "fetch", unit="downloads", least=1,
        doc="Image URLs of one key (account) downloaded at once; one more is refused at once with the "
            "dialect's 429 and `Retry-After`, not charged. Downloads run in a pool of their own, so slow "
            "URLs never hold the threads other accounts' requests need.")
    # --- logs -------------------------------------------------------------------------
    log_level: str = setting(
        "INFO", "CUTOUT_LOG_LEVEL", "logs",
        doc="The log level (`DEBUG`, `INFO`, `WARNING`, `ERROR`); one JSON line per request.")
    # --- serving: `cutout serve` receive deadlines (web/serve.py), memory (engine/workload.py) --
    headers_timeout_seconds: float = setting(
        10.0, "CUTOUT_HEADERS_TIMEOUT_SECONDS", "serving", unit="seconds", least=0.1,
        doc="`cutout serve`: from a request's first byte to the end of its headers; later, 408 and the "
            "connection is closed.")
    request_timeout_seconds: float = setting(
        60.0, "CUTOUT_REQUEST_TIMEOUT_SECONDS", "serving", unit="seconds", least=0.1,
        doc="`cutout serve`: from a request's first byte to the end of its body; later, 408 and the "
            "connection is closed.")
    max_concurrent_cuts: int = setting(
        2, "CUTOUT_MAX_CONCURRENT_CUTS", "serving", unit="images", least=1,
        doc="Images processed at once per process; further requests wait their turn after being charged "
            "(this bounds peak memory).")
    max_queue_seconds: float = setting(
        10.0, "CUTOUT_MAX_QUEUE_SECONDS", "serving", unit="seconds",
        doc="Back-pressure: a request whose estimated wait for a cut slot (the requests ahead of it "
            "times the mean of recent cuts, over the slots) is over this is answered at once with the "
            "dialect's 503 and `Retry-After`, charged nothing; negative: never refuse. Jobs already "
            "accepted wait their turn.")
    trim_idle_seconds: float = setting(
        2.0, "CUTOUT_TRIM_IDLE_SECONDS", "serving", unit="seconds", shown="`2` (the API function: `-1`)",
        doc="Idle time after which freed memory is returned to the operating system; `-1`: never.")
    backend_deadline_seconds: float = setting(
        25.0, "CUTOUT_BACKEND_DEADLINE_SECONDS", "serving", unit="seconds",
        doc="From a request's arrival, the time by which all its calls to S3, DynamoDB, SQS and Secrets "
            "Manager have ended (under API Gateway's 30 s): each attempt gets only the time left, so a "
            "stalled backend is the dialect's 503 with `Retry-After` (refunded), never the gateway's 504; "
            "refunds are never cut; `0`: no deadline.")
    # --- accounts, rate limits and metering (accounts/, stores/) ----------------------------
    table: str = setting(
        "", "CUTOUT_TABLE", "accounts",
        doc="The DynamoDB table for keys, limits, usage, jobs and stored images (at "
            "`AWS_ENDPOINT_URL_DYNAMODB` when that is set); empty: SQLite in the data folder.")
    data_dir: str = setting(
        ".cutout", "CUTOUT_DATA_DIR", "accounts", unit="path",
        doc="Where the local backends keep their SQLite file, stored results and stored images.")
    allow_anonymous: bool = setting(
        False, "CUTOUT_ALLOW_ANONYMOUS", "accounts", shown="off (`make run`: on)",
        doc="Serve key-less requests, metered to the `anonymous` account.")
    anonymous_plan: str = setting(
        "free", "CUTOUT_ANONYMOUS_PLAN", "accounts", shown="`free` (`make run`: `unlimited`)",
        doc="The plan of the `anonymous` account.")
    rapidapi_proxy_secret: str = setting(
        "", "CUTOUT_RAPIDAPI_PROXY_SECRET", "accounts",
        doc="The `X-RapidAPI-Proxy-Secret` to expect from the RapidAPI proxy; empty: RapidAPI requests "
            "are not accepted.")
    rapidapi_proxy_secret_id: str = setting(
        "", "CUTOUT_RAPIDAPI_PROXY_SECRET_ID", "accounts",
        doc="Or: the Secrets Manager secret holding it.")
    limiter_fail_open: bool = setting(
        False, "CUTOUT_LIMITER_FAIL_OPEN", "accounts",
        doc="When the store is unreachable, serve recently seen keys unmetered instead of answering 503.")
    plans_file: str = setting(
        "", "CUTOUT_PLANS_FILE", "accounts", unit="path",
        doc="A JSON file overriding the packaged `plans.json`, plan by plan.")
    key_cache_seconds: float = setting(
        30.0, "CUTOUT_KEY_CACHE_SECONDS", "accounts", unit="seconds",
        doc="How long a process trusts a key it looked up (a revoked key may work that long).")
    store_timeout: float = setting(
        2.0, "CUTOUT_STORE_TIMEOUT", "accounts", unit="seconds",
        doc="Connect and read timeout of the store (DynamoDB).")
    reconcile_seconds: float = setting(
        60.0, "CUTOUT_RECONCILE_SECONDS", "accounts", unit="seconds", shown="`60` (the Lambda functions: `0`)",
        doc="Seconds between runs of the reconciler in the server process (refunds overdue pending "
            "charges); `0`: never.")
    # --- results: storage (blobs/) and the inline response limit (web/large_results.py) -------
    bucket: str = setting(
        "", "CUTOUT_BUCKET", "results",
        doc="The S3 bucket for results too large to answer inline, job results and stored images; "
            "empty: the data folder, served by signed local URLs.")
    result_url_ttl: int = setting(
        3600, "CUTOUT_RESULT_URL_TTL", "results", unit="seconds", least=1,
        doc="How long a result URL (presigned or signed) stays valid.")
    max_response_bytes: int = setting(
        0, "CUTOUT_MAX_RESPONSE_BYTES", "results", unit="bytes",
        shown="`0`: no limit (the Lambda handler sets 6 MB)",
        doc="The largest response, as Lambda counts it (binary bodies base64); over it `/v1/results` "
            "answers a download URL, `/v1/images/{id}/download` a 307, every other route its "
            "dialect's 413 `result_too_large` (not charged).")
    blob_secret: str = setting(
        "", "CUTOUT_BLOB_SECRET", "results", shown="random per process",
        doc="The key that signs local result URLs.")
    # --- the S3 uploads trigger (jobs/s3_uploads.py) -----------------------------------
    s3_account: str = setting(
        "s3", "CUTOUT_S3_ACCOUNT", "s3",
        doc="The account the S3 trigger's usage is metered to.")
    s3_plan: str = setting(
        "mega", "CUTOUT_S3_PLAN", "s3",
        doc="The plan whose limits that account has.")
    # --- stored images: the IMG Processing dialect (imagelib.py, web/dialects/imgproc*.py) ---
    image_ttl_days: int = setting(
        0, "CUTOUT_IMAGE_TTL_DAYS", "images", unit="days", shown="`0`: kept until deleted",
        doc="Days before a stored image (`/v1/images`) expires.")
    image_source_hosts: tuple[str, ...] = setting(
        (), "CUTOUT_IMAGE_SOURCE_HOSTS", "images", unit="host patterns", shown="empty: any public address",
        doc="Comma-separated host patterns `POST /v1/images` may download from (e.g. "
            "`*.s3.amazonaws.com,storage.googleapis.com`).")
    sandbox_mp_per_minute: int = setting(
        10, "CUTOUT_SANDBOX_MP_PER_MINUTE", "images", unit="megapixels a minute",
        doc="The rate limit of `test_` (sandbox) keys.")
    # --- asynchronous jobs (jobs/, queues/, web/dialects/adobe.py) -------------------------
    job_queue_url: str = setting(
        "", "CUTOUT_JOB_QUEUE_URL", "jobs",
        doc="The SQS queue of `/v2/remove-background` jobs; empty: a worker pool in the server process.")
    job_workers: int = setting(
        1, "CUTOUT_JOB_WORKERS", "jobs", unit="threads",
        doc="Threads of that local pool.")
    job_queue_capacity: int = setting(
        256, "CUTOUT_JOB_QUEUE_CAPACITY", "jobs", unit="jobs",
        doc="Jobs the local pool holds waiting; beyond it, 503 with `Retry-After`.")
    job_ttl_seconds: int = setting(
        7 * 24 * 3600, "CUTOUT_JOB_TTL_SECONDS", "jobs", unit="seconds", shown="`604800` (7 days)",
        doc="How long a job record and its `Idempotency-Key` are kept.")
    job_lease_seconds: int = setting(
        900, "CUTOUT_JOB_LEASE_SECONDS", "jobs", unit="seconds", shown="`900` (the template: 360)",
        doc="How long a running job belongs to its worker before another delivery may take it over.")
    job_max_attempts: int = setting(
        3, "CUTOUT_JOB_MAX_ATTEMPTS", "jobs", unit="runs", least=1,
        doc="Runs of a job that the server keeps failing before it is marked failed (and refunded).")
    webhook_secret: str = setting(
        "", "CUTOUT_WEBHOOK_SECRET", "jobs",
        doc="Signs webhook calls; without it a job's `callback.url` is refused.")
    webhook_queue_url: str = setting(
        "", "CUTOUT_WEBHOOK_QUEUE_URL", "jobs",
        doc="The SQS queue of job webhooks (the template's webhooks function delivers them); empty: a "
            "pool in the server process.")
    webhook_workers: int = setting(
        2, "CUTOUT_WEBHOOK_WORKERS", "jobs", unit="threads",
        doc="Threads of that local pool (it holds as many waiting as `CUTOUT_JOB_QUEUE_CAPACITY`).")
    webhook_attempts: int = setting(
        4, "CUTOUT_WEBHOOK_ATTEMPTS", "jobs", unit="calls", least=1,
        doc="The local pool's webhook tries in all; deployed, the webhook queue's `maxReceiveCount`.")
    webhook_backoff: float = setting(
        1.0, "CUTOUT_WEBHOOK_BACKOFF", "jobs", unit="seconds",
        doc="The local pool's wait before the second webhook try, doubled before each further one; "
            "deployed, the webhook queue's visibility timeout.")
    # --- browsers (web/cors.py) ---------------------------------------------------------
    cors_origins: tuple[str, ...] = setting(
        ("*",), "CUTOUT_CORS_ORIGINS", "web", unit="origins",
        doc="Comma-separated origins whose pages may call the API from a browser; `*`: any origin.")
    # --- absolute URLs the API hands out (web/origin.py) -----------------------------------
    public_base_url: str = setting(
        "", "CUTOUT_PUBLIC_BASE_URL", "web", unit="URL",
        shown="empty (deployed: the template's `PublicBaseUrl`)",
        doc="The base of every absolute URL the API hands out (status, upload, result and public "
            "image URLs, `links.next`, webhooks), e.g. `https://api.example.com`; empty: the "
            "request's Host, when `CUTOUT_ALLOWED_HOSTS` allows it.")
    allowed_hosts: tuple[str, ...] = setting(
        ("localhost", "127.0.0.1", "::1"), "CUTOUT_ALLOWED_HOSTS", "web", unit="host names",
        shown="`localhost,127.0.0.1,::1` (the API function: `*`, API Gateway routes by Host)",
        doc="Host names absolute URLs may be built from when `CUTOUT_PUBLIC_BASE_URL` is empty "
            "(`*.example.com` matches subdomains, `*` any); another Host is answered 400 "
            "`untrusted_host` where a URL would carry it.")
    trusted_proxies: tuple[str, ...] = setting(
        (), "CUTOUT_TRUSTED_PROXIES", "web", unit="addresses or networks",
        doc="Proxies (`10.0.0.0/8`, `127.0.0.1`) whose `X-Forwarded-Proto`, `-Host` and `-For` are "
            "believed; from any other peer they are ignored.")


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
        least = spec.metadata["least"]
        if least is not None and read[spec.name] < least:
            raise SettingError(f"{env}={raw!r} is out of range: at least {least:g} "
                               f"({spec.metadata['unit']}).")
    read["log_level"] = str(read["log_level"]).upper()
    return Settings(**read)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings, read from the environment once; the result is immutable.

    Raises SettingError naming the variable when a value does not parse.
    """
    return from_environment()
