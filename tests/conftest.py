"""Shared fixtures: the real model, the app, and real photographs.

The photos are scikit-image's bundled samples (a person, a cat, a cup of
coffee), re-encoded here; the evaluation sets in ../shared are not available
on a user's machine, so the suite never needs them.
"""
from __future__ import annotations

import io
import os
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from skimage import data as samples

# Keep tests away from any real AWS account or developer credentials.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

pytest_plugins = ["fixtures_aws"]  # dynalite and moto servers; the suite's metering defaults

from cutout.config import Settings, settings  # noqa: E402
from cutout.engine import model  # noqa: E402


@pytest.fixture(autouse=True)
def restore_environment():
    """Every test starts from the suite's environment and fresh settings, whatever the last one set.

    The variables of servers started during the test (SESSION_ENV) stay: they
    run for the whole session.
    """
    from fixtures_aws import SESSION_ENV  # the plugin, imported by pytest by now

    saved = dict(os.environ)
    settings.cache_clear()
    yield
    os.environ.clear()
    os.environ.update(saved)
    os.environ.update(SESSION_ENV)
    settings.cache_clear()


@pytest.fixture(scope="session")
def segmenter() -> model.Segmenter:
    return model.load(settings())


def encode(array: np.ndarray, fmt: str = "JPEG", **params) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt, **params)
    return out.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A portrait: the person fills the lower middle, plain backdrop at the top corners."""
    return samples.astronaut()


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """A cup on a saucer, seen from above, on a plain table."""
    return samples.coffee()


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: np.ndarray) -> bytes:
    return encode(astronaut, "JPEG", quality=92)


@pytest.fixture(scope="session")
def coffee_jpeg(coffee: np.ndarray) -> bytes:
    return encode(coffee, "JPEG", quality=92)


@pytest.fixture(scope="session")
def big_jpeg(astronaut: np.ndarray) -> bytes:
    """The astronaut resized to 1600x1600: 2.56 megapixels, which weigh 3 in a rate window."""
    from PIL import Image

    return encode(np.asarray(Image.fromarray(astronaut).resize((1600, 1600))), "JPEG", quality=90)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """The defaults, with TestClient's Host (`testserver`) allowed in absolute URLs."""
    found = settings()
    return replace(found, fetch_allow_hosts=(), allowed_hosts=(*found.allowed_hosts, "testserver"))


@pytest.fixture(scope="session")
def client(base_settings: Settings, segmenter: model.Segmenter) -> TestClient:
    from cutout.web import create_app

    return TestClient(create_app(base_settings, segmenter))


@pytest.fixture
def web_server():
    """A real HTTP server on 127.0.0.1 with settable routes (see local_http.py)."""
    from local_http import LocalServer

    server = LocalServer()
    yield server
    server.close()


def keyed_app(base_settings: Settings, segmenter: model.Segmenter, data_dir: str):
    """An app that demands API keys (SQLite store in data_dir) and may fetch from 127.0.0.1."""
    from cutout.web import create_app

    cfg = replace(base_settings, table="", data_dir=data_dir, allow_anonymous=False,
                  fetch_allow_hosts=("127.0.0.1",))
    return create_app(cfg, segmenter)


def new_key(app, owner: str = "tests", **limits) -> str:
    """A fresh key on the top plan with limits no test reaches unless it asks to."""
    limits = {"mp_per_minute": 100_000, "monthly_credits": 100_000, **limits}
    return app.state.services.accounts.create_key("mega", owner=owner, **limits)[0]


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """`cutout ARGV...` in this process, settings read afresh: (exit code, stdout, stderr)."""
    from cutout.cli import main as cli

    settings.cache_clear()
    try:
        code = cli.main(list(argv))
    finally:
        settings.cache_clear()
    out, err = capsys.readouterr()
    return code, out, err
