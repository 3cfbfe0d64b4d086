"""docs/scale-and-cost.md is what bench/scale.py computes from the committed benchmarks, and
the concurrency simulation agrees with queueing theory.

The requests in service of a system with Poisson arrivals at rate lambda and any
service-time distribution (M/G/infinity) are Poisson-distributed with mean
lambda x E[S]; the simulation's mean must match it, and its per-second peak
must lie above that Poisson law's 99.9th percentile (a second's maximum is at
least any instant's) but not far above it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import scale

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_holds_what_the_script_computes():
    results = json.loads((ROOT / "docs" / "benchmarks.json").read_text())
    page = (ROOT / "docs" / "scale-and-cost.md").read_text()
    generated = page.split(scale.BEGIN, 1)[1].split(scale.END, 1)[0].strip()
    assert generated == scale.tables(results).strip(), "run `make scale` and commit the page"
    for volume in scale.VOLUMES:
        assert f"| {volume:,} |" in generated


def poisson_quantile(mean: float, q: float) -> int:
    k, term, total = 0, math.exp(-mean), math.exp(-mean)
    while total < q:
        k += 1
        term *= mean / k
        total += term
    return k


@pytest.mark.parametrize(("rate", "service"), [(50.0, [0.2]), (400.0, [0.1, 0.2, 0.5, 1.2]),
                                               (2000.0, [0.15, 0.21, 0.25])])
def test_the_simulated_concurrency_matches_m_g_infinity(rate, service):
    samples = np.array(service)
    mean, peak = scale.simulate_peak(rate, samples)
    expected = rate * float(np.mean(samples))
    assert mean == pytest.approx(expected, rel=0.05)
    low = poisson_quantile(expected, 0.999)
    assert low <= peak <= low + 4 * math.sqrt(expected) + 3


def test_costs_add_up_and_scale_with_volume():
    results = json.loads((ROOT / "docs" / "benchmarks.json").read_text())
    m = scale.measured(results, 1.0)
    small, large = scale.scenario(m, 10_000), scale.scenario(m, 100_000_000)
    for s in (small, large):
        assert s["month"] == pytest.approx(sum(s["dollars"].values()))
        assert s["per_thousand"] == pytest.approx(s["month"] / (s["per_day"] * 30) * 1000)
    # Lambda, API Gateway and DynamoDB are linear in volume; data out gets cheaper per GB.
    for service in ("Lambda", "API Gateway", "DynamoDB"):
        assert large["dollars"][service] == pytest.approx(small["dollars"][service] * 10_000, rel=0.1)
    assert large["dollars"]["data out"] < small["dollars"]["data out"] * 10_000
    assert scale.transfer_cost(10_240) == pytest.approx(10_240 * 0.09)
    assert scale.transfer_cost(20_480) == pytest.approx(10_240 * 0.09 + 10_240 * 0.085)
