"""The API function's settings: what Lambda imposes on top of the environment's."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from cutout.config import settings

ROOT = Path(__file__).resolve().parents[2]
HANDLER = ROOT / "functions" / "api" / "handler.py"
EVENTS = ROOT / "events"


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
    assert handler.app.state.services.meter.workload.trim_idle_seconds == expected


@pytest.mark.filterwarnings("error::aws_lambda_powertools.warnings.PowertoolsUserWarning")
def test_each_invocation_counts_its_own_request_once(monkeypatch, capsys):
    """Two copies of the module (as the tests load it) and a request served outside Lambda:
    each invocation still flushes its one request, its dimensions added once."""
    from fastapi.testclient import TestClient

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    first, second = load_handler("api_handler_metrics_a"), load_handler("api_handler_metrics_b")
    spec = importlib.util.spec_from_file_location("api_metrics_invoke", EVENTS / "invoke.py")
    invoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(invoke)
    event = json.loads((EVENTS / "api-get-modes.json").read_text())
    capsys.readouterr()
    for handler in (first, second):
        assert TestClient(first.app).get("/v1/modes").status_code == 200  # no invocation: no metrics
        assert handler.handler(event, invoke.Context())["statusCode"] == 200
        emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith("{") and '"_aws"' in line]
        (requests,) = [line for line in emf if "Requests" in line]
        assert requests["Requests"] == [1.0] and requests["dialect"] == "api4ai"
        assert (requests["tier"], requests["outcome"]) == ("none", "ok")  # no cut-out: no tier
