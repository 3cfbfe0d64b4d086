"""Settings from the environment, read once per process.

Every knob is a `CUTOUT_*` variable with a default that suits `make run`; the
SAM template sets the deployed values. Call `settings()`; tests that change the
environment call `settings.cache_clear()`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

MIB = 1024 * 1024


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _list(name: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in _env(name, "").split(",") if part.strip())


def _origins(name: str) -> tuple[str, ...]:
    """Comma-separated origins (`https://a.example,https://b.example`); empty or unset: `*`."""
    found = tuple(part.strip().rstrip("/") for part in _env(name, "").split(",") if part.strip())
    return found or ("*",)


@dataclass(frozen=True)
class Settings:
    """The whole configuration; see the README's table for meanings."""

    model_name: str = "u2netp-int8"
    model_path: str = ""  # explicit ONNX file; overrides model_name's default location
    model_dir: str = ""  # folder holding <model_name>.onnx; defaults to the layer paths
    threads: int = 0  # 0: the CPUs this process may actually use
    max_megapixels: float = 25.0
    max_bytes: int = 16 * MIB
    max_request_bytes: int = 16 * MIB * 4 // 3 + MIB  # room for base64 or multipart overhead
    png_compress_level: int = 1
    fetch_timeout: float = 10.0
    fetch_max_redirects: int = 3
    fetch_allow_hosts: tuple[str, ...] = field(default_factory=tuple)
    log_level: str = "INFO"
    # Accounts, rate limits and metering (see accounts.py, ratelimit.py, stores/).
    table: str = ""  # DynamoDB table; empty: SQLite under data_dir
    data_dir: str = ".cutout"
    allow_anonymous: bool = False  # key-less requests use the anonymous account
    anonymous_plan: str = "free"
    rapidapi_proxy_secret: str = ""  # X-RapidAPI-Proxy-Secret to expect
    rapidapi_proxy_secret_id: str = ""  # or: the Secrets Manager secret holding it
    limiter_fail_open: bool = False  # store unreachable: admit (True) or answer 503
    plans_file: str = ""  # JSON overriding the packaged plans.json
    key_cache_seconds: float = 30.0  # how long a looked-up key is trusted in-process
    store_timeout: float = 2.0  # seconds to connect to / read from the store
    # Result storage (blobs.py) and the synchronous response limit (web/large_results.py).
    bucket: str = ""  # S3 bucket for results too large to answer inline; empty: local folder
    result_url_ttl: int = 3600  # seconds a result URL stays valid
    max_response_bytes: int = 0  # largest inline response; 0: no limit (the Lambda handler sets 6 MB)
    blob_secret: str = ""  # signs local result URLs; empty: a random secret per process
    # The S3 upload trigger (s3trigger.py).
    s3_account: str = "s3"  # the account its usage is metered to
    s3_plan: str = "mega"  # the plan whose limits that account has
    # Browsers (web/cors.py): origins allowed to call the API; ("*",) is any origin.
    cors_origins: tuple[str, ...] = ("*",)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Read the environment once; the result is immutable."""
    max_bytes = int(_env("CUTOUT_MAX_BYTES", str(16 * MIB)))
    return Settings(
        model_name=_env("CUTOUT_MODEL", "u2netp-int8"),
        model_path=_env("CUTOUT_MODEL_PATH", ""),
        model_dir=_env("CUTOUT_MODEL_DIR", ""),
        threads=int(_env("CUTOUT_THREADS", "0")),
        max_megapixels=float(_env("CUTOUT_MAX_MEGAPIXELS", "25")),
        max_bytes=max_bytes,
        max_request_bytes=int(_env("CUTOUT_MAX_REQUEST_BYTES", str(max_bytes * 4 // 3 + MIB))),
        png_compress_level=int(_env("CUTOUT_PNG_COMPRESS_LEVEL", "1")),
        fetch_timeout=float(_env("CUTOUT_FETCH_TIMEOUT", "10")),
        fetch_max_redirects=int(_env("CUTOUT_FETCH_MAX_REDIRECTS", "3")),
        fetch_allow_hosts=_list("CUTOUT_FETCH_ALLOW_HOSTS"),
        log_level=_env("CUTOUT_LOG_LEVEL", "INFO").upper(),
        table=_env("CUTOUT_TABLE", ""),
        data_dir=_env("CUTOUT_DATA_DIR", ".cutout"),
        allow_anonymous=_flag("CUTOUT_ALLOW_ANONYMOUS", False),
        anonymous_plan=_env("CUTOUT_ANONYMOUS_PLAN", "free"),
        rapidapi_proxy_secret=_env("CUTOUT_RAPIDAPI_PROXY_SECRET", ""),
        rapidapi_proxy_secret_id=_env("CUTOUT_RAPIDAPI_PROXY_SECRET_ID", ""),
        limiter_fail_open=_flag("CUTOUT_LIMITER_FAIL_OPEN", False),
        plans_file=_env("CUTOUT_PLANS_FILE", ""),
        key_cache_seconds=float(_env("CUTOUT_KEY_CACHE_SECONDS", "30")),
        store_timeout=float(_env("CUTOUT_STORE_TIMEOUT", "2")),
        bucket=_env("CUTOUT_BUCKET", ""),
        result_url_ttl=int(_env("CUTOUT_RESULT_URL_TTL", "3600")),
        max_response_bytes=int(_env("CUTOUT_MAX_RESPONSE_BYTES", "0")),
        blob_secret=_env("CUTOUT_BLOB_SECRET", ""),
        s3_account=_env("CUTOUT_S3_ACCOUNT", "s3"),
        s3_plan=_env("CUTOUT_S3_PLAN", "mega"),
        cors_origins=_origins("CUTOUT_CORS_ORIGINS"),
    )

