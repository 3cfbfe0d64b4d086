"""The operator's commands from the installed package alone: no models, no Node, no source tree.

README's "Deploy" shows `pip install './[aws]'` and `cutout keys create` against a
deployed table. Here the package is built as the wheel pip would install, unpacked
on its own, and its `cutout` command creates a table and a key in dynalite
(standing in for DynamoDB) with no model folder and no Node on the PATH; the key
then authenticates through the service's own store code.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's wheel, unpacked into a folder of its own (what pip puts in site-packages)."""
    wheels = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "-q", "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    site = tmp_path_factory.mktemp("site")
    (wheel,) = wheels.glob("cutout-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
        metadata = next(n for n in archive.namelist() if n.endswith("METADATA"))
        assert "Provides-Extra: aws" in archive.read(metadata).decode()
        assert 'Requires-Dist: boto3; extra == "aws"' in archive.read(metadata).decode()
    return site


def cutout(site: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    """`cutout ARGV` from the unpacked wheel: PATH without Node, no model folder, no source tree."""
    code = ("import sys; from cutout.cli.main import main; import cutout; "
            f"assert cutout.__file__.startswith({str(site)!r}), cutout.__file__; "
            "sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          timeout=120, cwd=site, env=env)


def test_table_and_key_for_a_deployment_need_only_the_package(installed, dynalite) -> None:
    table = f"cutout-admin-{uuid.uuid4().hex[:8]}"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(installed), "HOME": str(installed),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_DYNAMODB": dynalite.endpoint,
           "CUTOUT_TABLE": table, "CUTOUT_MODEL_DIR": str(installed / "no-models-here")}
    made = cutout(installed, env, "table", "create")
    assert made.returncode == 0, made.stderr
    created = cutout(installed, env, "keys", "create", "--plan", "basic", "--owner", "shop")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("live_")
    listed = cutout(installed, env, "keys", "list")
    assert listed.returncode == 0 and "shop" in listed.stdout and key not in listed.stdout

    from cutout.accounts.keys import Accounts
    from cutout.accounts.plans import load_plans
    from cutout.stores.dynamodb import DynamoStore

    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynalite.endpoint
    account = Accounts(DynamoStore(table), load_plans(), cache_seconds=0).authenticate(key)
    assert (account.plan, account.owner) == ("basic", "shop")
