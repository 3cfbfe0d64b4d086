"""Plans: the limits an account has, as configuration.

The packaged `plans.json` names each plan's megapixels per minute and monthly
credits, and which RapidAPI subscription maps to which plan; a
CUTOUT_PLANS_FILE replaces entries by name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLANS_FILE = Path(__file__).with_name("plans.json")


@dataclass(frozen=True)
class Plan:
    name: str
    mp_per_minute: int
    monthly_credits: float | None  # None: no monthly quota


@dataclass(frozen=True)
class Plans:
    plans: dict[str, Plan]
    rapidapi: dict[str, str] = field(default_factory=dict)  # SUBSCRIPTION -> plan name

    def get(self, name: str) -> Plan:
        try:
            return self.plans[name]
        except KeyError:
            raise ValueError(
                f"Unknown plan {name!r}; plans are: {', '.join(self.plans)}."
            ) from None

    def for_rapidapi(self, subscription: str) -> Plan | None:
        name = self.rapidapi.get(subscription.strip().upper())
        return self.plans.get(name) if name else None


def _plan(name: str, raw: dict[str, Any]) -> Plan:
    quota = raw.get("monthly_credits")
    return Plan(name, int(raw["mp_per_minute"]), None if quota is None else float(quota))


def load_plans(override: str | Path = "") -> Plans:
    """The packaged plans, with a CUTOUT_PLANS_FILE's entries replacing them by name."""
    raw = json.loads(PLANS_FILE.read_text())
    plans = {name: _plan(name, entry) for name, entry in raw["plans"].items()}
    rapidapi = {k.upper(): v for k, v in raw.get("rapidapi", {}).items()}
    if override:
        extra = json.loads(Path(override).read_text())
        plans.update({name: _plan(name, entry) for name, entry in extra.get("plans", {}).items()})
        rapidapi.update({k.upper(): v for k, v in extra.get("rapidapi", {}).items()})
    for subscription, name in rapidapi.items():
        if name not in plans:
            raise ValueError(f"RapidAPI subscription {subscription} maps to unknown plan {name!r}.")
    return Plans(plans, rapidapi)
