"""Settings from the environment, read once per process.

Every knob is a `CUTOUT_*` variable with a default that suits `make run`; the
SAM template sets the deployed values. Call `settings()`; tests that change the
environment call `settings.cache_clear()`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

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


@dataclass(frozen=True)
class Settings:
    """The whole configuration; see the README's table for meanings."""

    model_name: str = "u2netp"
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


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Read the environment once; the result is immutable."""
    max_bytes = int(_env("CUTOUT_MAX_BYTES", str(16 * MIB)))
    return Settings(
        model_name=_env("CUTOUT_MODEL", "u2netp"),
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
    )


def data_dir() -> Path:
    """Where local backends (SQLite, result files) keep their state."""
    return Path(_env("CUTOUT_DATA_DIR", ".cutout"))
