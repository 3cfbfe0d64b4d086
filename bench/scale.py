"""Scale and cost on AWS, computed from `make bench` output (docs/scale-and-cost.md).

    python -m bench.scale                      # print the tables
    python -m bench.scale --write docs/scale-and-cost.md   # replace the generated part

Reads docs/benchmarks.json (what `make bench` writes): the INT8 default's warm
end-to-end times on 1 and 2 pinned CPUs and its output sizes, for the 1 MP and
12 MP photos. From them, for 10^4, 10^6 and 10^8 images a day of each size:

- Lambda time per image at the template's 2,048 MB (bench/cost.py's model of
  CPU share against memory), and concurrency: the mean (Little's law) and the
  peak, from a seeded simulation of the busiest ten minutes (Poisson arrivals
  at `PEAK_FACTOR` times the day's mean rate, service times drawn from the
  measured ones); the number of requests in service of such a system is
  Poisson-distributed (M/G/infinity), which the test checks the simulation
  against;
- requests and cost of Lambda, API Gateway (HTTP API, metered per 512 KB of
  request), DynamoDB (two writes a metered request: the minute's window and the
  month's usage), S3 (results over Lambda's 6 MB response go by URL: one PUT,
  one GET), data transfer out (the JSON answer: the image base64), CloudWatch
  Logs (the lines a request writes, measured), and the fixed monthly part
  (custom metrics, dashboard, alarms);
- the total per 1,000 images, and per month.

Prices (`PRICES`): AWS's published on-demand prices for us-east-1 (N. Virginia),
x86, as of 2024-11 (the date bench/cost.py's Lambda price was checked; this
machine has no network to check them again). Free tiers are ignored.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cutout.web.delivery import LAMBDA_RESPONSE_LIMIT, fits_inline, inline_size

from . import cost

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.json"
ENGINE = "cutout-int8"
MEMORY_MB = 2048  # the template's MemorySize default
SIZES_MP = (1.0, 12.0)
VOLUMES = (10_000, 1_000_000, 100_000_000)  # images a day
DAYS_PER_MONTH = 30
PEAK_FACTOR = 2.0  # the busiest hour's rate over the day's mean (an assumption: diurnal traffic)
SIMULATED_SECONDS = 600  # the busiest ten minutes
SEED = 20261207
JSON_FIELDS = 300  # bytes of the API4AI answer besides its base64 image (status, name, sizes)
# Log bytes a metered request writes, measured 2026-12-07 with functions/api/handler.py and
# events/api-json-base64.json: its EMF lines (868 bytes), the request line (about 650) and
# Lambda's START/END/REPORT lines (about 330).
LOG_BYTES_PER_REQUEST = 1850
CUSTOM_METRICS = 60  # metric streams in namespace Cutout at a few dialects x tiers x outcomes
ALARMS = 8

PRICES = {
    "lambda_gb_second": cost.PRICE_GB_SECOND,  # first 6 billion GB-s a month
    "lambda_request": cost.PRICE_REQUEST,
    "http_api_request": 1.00 / 1_000_000,  # first 300 million a month; $0.90 after
    "http_api_request_over_300m": 0.90 / 1_000_000,
    "http_api_increment_bytes": 512 * 1024,
    "dynamodb_write": 0.625 / 1_000_000,  # on-demand write request unit (after the Nov 2024 cut)
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "sqs_request": 0.40 / 1_000_000,
    # data transfer out to the internet, per GB, by monthly tier (10 TB, 40 TB, 100 TB, more)
    "transfer_tiers": ((10_240, 0.09), (40_960, 0.085), (102_400, 0.07), (math.inf, 0.05)),
    "logs_ingest_gb": 0.50,
    "custom_metric_month": 0.30,
    "dashboard_month": 3.00,
    "alarm_month": 0.10,
}


@dataclass(frozen=True)
class Measured:
    """What `make bench` measured for one size: seconds on 1 and 2 CPUs, bytes in and out."""

    megapixels: float
    seconds_1cpu: list[float]
    seconds_2cpu: list[float]
    input_bytes: float
    output_bytes: float

    def lambda_seconds(self) -> np.ndarray:
        """Each measured run, modelled at MEMORY_MB (bench/cost.py), pairing 1- and 2-CPU runs."""
        pairs = zip(sorted(self.seconds_1cpu), np.quantile(self.seconds_2cpu, np.linspace(0, 1, len(self.seconds_1cpu))))
        return np.array([cost.modelled_seconds(MEMORY_MB, one, two) for one, two in pairs])


def measured(results: dict, megapixels: float) -> Measured:
    key = str(megapixels)
    one = results["latency_1cpu"][key][ENGINE]
    two = results["latency_2cpu"][key][ENGINE]
    photos = results["photos"][key]
    return Measured(megapixels, one["seconds"], two["seconds"],
                    float(np.median([p["jpeg_bytes"] for p in photos])),
                    float(np.median(one["output_bytes"])))


def simulate_peak(rate: float, service: np.ndarray, seconds: int = SIMULATED_SECONDS,
                  seed: int = SEED) -> tuple[float, int]:
    """Requests in service during `seconds` of Poisson arrivals at `rate` a second, each
    holding a Lambda environment for a time drawn from `service`: (mean, 99.9th percentile
    of the per-second maximum)."""
    rng = np.random.default_rng(seed)
    count = rng.poisson(rate * seconds)
    starts = np.sort(rng.uniform(0, seconds, count))
    ends = starts + rng.choice(service, count)
    events = np.concatenate([np.stack([starts, np.ones(count)], 1), np.stack([ends, -np.ones(count)], 1)])
    events = events[np.argsort(events[:, 0], kind="stable")]
    in_service = np.cumsum(events[:, 1])
    second = np.minimum(events[:, 0].astype(int), seconds - 1)
    peaks = np.zeros(seconds)
    np.maximum.at(peaks, second, in_service)
    mean = float(np.sum(np.minimum(ends, seconds) - starts) / seconds) if count else 0.0
    return mean, int(np.quantile(peaks, 0.999))


def transfer_cost(gb_month: float) -> float:
    total, floor = 0.0, 0.0
    for ceiling, price in PRICES["transfer_tiers"]:
        used = max(0.0, min(gb_month, ceiling) - floor)
        total += used * price
        floor = ceiling
    return total


def per_image(m: Measured) -> dict[str, float]:
    """Dollars per image by service, and the figures behind them."""
    seconds = float(np.mean(m.lambda_seconds()))
    by_url = not fits_inline(int(m.output_bytes), LAMBDA_RESPONSE_LIMIT)  # as web/delivery.py decides
    increments = max(1, math.ceil(m.input_bytes / PRICES["http_api_increment_bytes"]))
    # by URL: the answer is a short JSON with the URL, and S3 sends the image itself
    sent = (1024 + JSON_FIELDS) if by_url else inline_size(int(m.output_bytes)) + JSON_FIELDS
    return {
        "seconds": seconds,
        "lambda": seconds * MEMORY_MB / 1024 * PRICES["lambda_gb_second"] + PRICES["lambda_request"],
        "api": increments * PRICES["http_api_request"],
        "api_increments": increments,
        "dynamodb": 2 * PRICES["dynamodb_write"],
        "s3": (PRICES["s3_put"] + PRICES["s3_get"]) if by_url else 0.0,
        "by_url": float(by_url),
        "out_bytes": sent + (m.output_bytes if by_url else 0),
        "log_bytes": LOG_BYTES_PER_REQUEST,
    }


def fixed_month() -> float:
    return (CUSTOM_METRICS * PRICES["custom_metric_month"] + PRICES["dashboard_month"]
            + ALARMS * PRICES["alarm_month"])


def scenario(m: Measured, per_day: int) -> dict[str, float]:
    """One size at one daily volume: concurrency, requests a second, dollars a month by service."""
    unit = per_image(m)
    month = per_day * DAYS_PER_MONTH
    mean_rate = per_day / 86_400
    peak_rate = mean_rate * PEAK_FACTOR
    _, peak = simulate_peak(peak_rate, m.lambda_seconds())
    gb_out = unit["out_bytes"] * month / 1024 ** 3
    api_requests = unit["api_increments"] * month
    api = (min(api_requests, 300e6) * PRICES["http_api_request"]
           + max(0.0, api_requests - 300e6) * PRICES["http_api_request_over_300m"])
    dollars = {
        "Lambda": unit["lambda"] * month,
        "API Gateway": api,
        "DynamoDB": unit["dynamodb"] * month,
        "S3": unit["s3"] * month,
        "data out": transfer_cost(gb_out),
        "logs": unit["log_bytes"] * month / 1024 ** 3 * PRICES["logs_ingest_gb"],
        "fixed": fixed_month(),
    }
    return {"per_day": per_day, "mean_rate": mean_rate, "peak_rate": peak_rate,
            "mean_concurrency": mean_rate * unit["seconds"], "peak_concurrency": peak,
            "dynamodb_writes_peak": 2 * peak_rate, "gb_out": gb_out, "seconds": unit["seconds"],
            "by_url": unit["by_url"], "dollars": dollars, "month": sum(dollars.values()),
            "per_thousand": sum(dollars.values()) / month * 1000}


def money(value: float) -> str:
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}"


def tables(results: dict) -> str:
    """The generated part of docs/scale-and-cost.md."""
    lines = [f"Generated by `make scale` (bench/scale.py) from docs/benchmarks.json of "
             f"{results['machine']['date']}; {ENGINE}, {MEMORY_MB} MB, us-east-1 prices of 2024-11.", ""]
    for mp in SIZES_MP:
        m = measured(results, mp)
        unit = per_image(m)
        lines += [f"### {mp:g} MP photos", "",
                  f"Lambda time per image {unit['seconds']:.3f} s at {MEMORY_MB} MB (median input "
                  f"{m.input_bytes / 1e6:.2f} MB of JPEG, {unit['api_increments']} HTTP API request "
                  f"unit(s); answer {m.output_bytes / 1e6:.2f} MB of PNG, "
                  f"{'by URL' if unit['by_url'] else 'inline, base64'}).", "",
                  "| images a day | requests/s (mean, peak) | Lambda concurrency (mean, peak) | "
                  "DynamoDB writes/s at peak | data out a month | Lambda | API Gateway | DynamoDB | "
                  "S3 | data out | logs | fixed | a month | per 1,000 images |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for volume in VOLUMES:
            s = scenario(m, volume)
            d = s["dollars"]
            lines.append(
                f"| {volume:,} | {s['mean_rate']:,.2f}, {s['peak_rate']:,.2f} | "
                f"{s['mean_concurrency']:,.1f}, {s['peak_concurrency']:,} | {s['dynamodb_writes_peak']:,.1f} | "
                f"{s['gb_out']:,.1f} GB | {money(d['Lambda'])} | {money(d['API Gateway'])} | "
                f"{money(d['DynamoDB'])} | {money(d['S3'])} | {money(d['data out'])} | "
                f"{money(d['logs'])} | {money(d['fixed'])} | {money(s['month'])} | "
                f"{money(s['per_thousand'])} |")
        lines.append("")
    return "\n".join(lines)


BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks", type=Path, default=BENCHMARKS)
    parser.add_argument("--write", type=Path, help="replace the part between the scale markers of this page")
    args = parser.parse_args()
    text = tables(json.loads(args.benchmarks.read_text()))
    if not args.write:
        print(text)
        return
    page = args.write.read_text()
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    args.write.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
