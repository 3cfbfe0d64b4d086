"""One busy key on DynamoDB: the store calls per request, per partition, at 10, 1,000 and 10,000
requests a second (docs/scale-and-cost.md, "A busy key").

    python -m bench.busy_key               # the table, from a seeded simulation

A request's writes (stores/dynamodb.py): the charge's ledger item is put and later
settled (its own partition, `CHARGE#<id>`: spread over the table), and the
minute's window and the month's usage are updated on the account's counter
partition: `KEY#<id>`, or one of its shards `KEY#<id>#<n>` for an account of more
than MP_PER_SHARD megapixels a minute (accounts/ratelimit.py). DynamoDB allows
about 1,000 write units a second on one partition (each write here is one unit:
items under 1 KB). The simulation sends Poisson arrivals of one-megapixel requests
for one minute to an account whose plan admits exactly that minute's requests,
runs the limiter's own shard choice (`Limiter._shards_to_try`, the shares of
`share`), counts the writes each partition takes in each second, and reports the
busiest second of the busiest account partition, with one partition (no shards)
beside it, and how much of the limit was admitted.
"""
from __future__ import annotations

import argparse
import random
from collections import Counter
from dataclasses import dataclass

from cutout.accounts.keys import Account
from cutout.accounts.ratelimit import MP_PER_SHARD, SHARD_TRIES, Limiter, RateLimited, share, shards_for
from cutout.stores import WindowFull

PARTITION_WRITES_PER_SECOND = 1_000  # DynamoDB's per-partition write throughput
COUNTER_WRITES = 2  # window + usage, on the account's (shard's) partition
LEDGER_WRITES = 2  # put + settle, on the charge's own item
RATES = (10, 1_000, 10_000)


@dataclass(frozen=True)
class Run:
    rate: int  # requests a second
    shards: int
    busiest: int  # writes in the busiest second on the busiest account partition
    unsharded: int  # the same with all counters on one partition
    admitted: int
    limit: int  # megapixels a minute (one-megapixel requests: requests a minute)
    refused: int
    tries: float  # shard writes a request made, mean


class Counters:
    """The store's window counters, as `Limiter` sees them, in memory (admit only)."""

    def __init__(self) -> None:
        self.used: Counter[int] = Counter()

    def admit(self, charge, limit: int, quota: float | None) -> int:
        if self.used[charge.shard] + charge.weight > limit:
            raise WindowFull(self.used[charge.shard])
        self.used[charge.shard] += charge.weight
        return self.used[charge.shard]

    def refund(self, charge) -> bool:  # pragma: no cover - not used by the simulation
        raise AssertionError

    settle = window = usage = unsettled = refund


def simulate(rate: int, seed: int = 7) -> Run:
    """One minute of one-megapixel requests at `rate` a second to a plan of exactly that."""
    rng = random.Random(seed)
    limit = rate * 60
    account = Account("busy", "key", "custom", limit, None)
    counters = Counters()
    limiter = Limiter(counters)  # type: ignore[arg-type]
    random.seed(seed)  # the limiter's own shard choice
    writes: Counter[tuple[int, int]] = Counter()  # (second, shard) -> writes
    refused_writes: Counter[int] = Counter()  # second -> conditional writes that found a shard full
    admitted = refused = tries = 0
    now, count = 0.0, 0
    while True:
        now += rng.expovariate(rate)
        if now >= 60:
            break
        count += 1
        second = int(now)
        before = sum(counters.used.values())
        try:
            ticket = limiter.admit(account, 1.0, 0.0, now=1_800_000_000 + now)  # a minute's start
        except RateLimited:  # every shard it tried was full
            refused += 1
            tried = min(SHARD_TRIES, account.shards)
            tries += tried
            refused_writes[second] += tried  # a refused conditional write still costs a unit
            continue
        assert ticket.charge is not None
        admitted += sum(counters.used.values()) - before
        tries += 1
        writes[(second, ticket.charge.shard)] += COUNTER_WRITES
    # refused writes land on the shards tried: spread evenly over the account's shards
    busiest = max((n + refused_writes[second] / account.shards for (second, _), n in writes.items()),
                  default=0)
    unsharded = max(Counter(int(i / rate) for i in range(count)).values(), default=0) * COUNTER_WRITES
    return Run(rate, account.shards, round(busiest), unsharded, admitted, limit, refused,
               round(tries / max(1, count), 2))


def table(runs: list[Run]) -> str:
    lines = [
        "| requests a second (1 MP each) | shards | busiest partition, writes in its busiest second | "
        "the same on one partition | admitted of the minute's limit | refused | shard writes a request |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.rate:,} | {run.shards} | {run.busiest:,} | {run.unsharded:,} "
            f"({'throttled' if run.unsharded > PARTITION_WRITES_PER_SECOND else 'fits'}) | "
            f"{run.admitted:,} of {run.limit:,} | {run.refused:,} | {run.tries} |")
    lines.append("")
    lines.append(f"Per request: {COUNTER_WRITES} writes on the account's (shard's) partition, "
                 f"{LEDGER_WRITES} on the charge's own item; a shard holds {MP_PER_SHARD:,} "
                 f"megapixels a minute; a request tries at most {SHARD_TRIES} shards; DynamoDB "
                 f"takes about {PARTITION_WRITES_PER_SECOND:,} writes a second on one partition.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(table([simulate(rate, args.seed) for rate in RATES]))
    for rate in RATES:
        shards = shards_for(rate * 60)
        print(f"{rate:>6} requests a second: {shards} shard(s) of "
              f"{share(rate * 60, shards, 0):,} megapixels a minute")


if __name__ == "__main__":
    main()
