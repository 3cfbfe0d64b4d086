"""The API function's settings: what Lambda imposes on top of the environment's."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cutout.config import settings

HANDLER = Path(__file__).resolve().parents[2] / "functions" / "api" / "handler.py"


def load_handler(name: str):
    settings.cache_clear()
    spec = importlib.util.spec_from_file_location(name, HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("env", "expected"), [(None, -1.0), ("3", 3.0)])
def test_the_idle_trim_is_off_on_lambda_unless_set(monkeypatch, env, expected):
    """One request at a time in reserved memory: trimming while frozen would only slow the next one."""
    if env is None:
        monkeypatch.delenv("CUTOUT_TRIM_IDLE_SECONDS", raising=False)
    else:
        monkeypatch.setenv("CUTOUT_TRIM_IDLE_SECONDS", env)
    handler = load_handler(f"api_handler_trim_{env}")
    assert handler.CONFIG.trim_idle_seconds == expected
    assert handler.app.state.engine.workload.trim_idle_seconds == expected
