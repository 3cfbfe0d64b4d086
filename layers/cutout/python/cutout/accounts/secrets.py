"""The RapidAPI proxy secret: from the environment, or read once from AWS Secrets Manager."""
from __future__ import annotations

import hmac
import threading
from typing import Any

from .. import deadline
from ..stores import StoreUnavailable

UNVERIFIABLE = "The service cannot verify RapidAPI requests right now."


class ProxySecret:
    """The secret RapidAPI's proxy sends in `X-RapidAPI-Proxy-Secret` (timeout in seconds)."""

    def __init__(self, value: str = "", secret_id: str = "", timeout: float = 2.0) -> None:
        self._value = value
        self.secret_id = secret_id
        self.timeout = timeout
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self._value or self.secret_id)

    def value(self) -> str:
        """The secret; raises StoreUnavailable when Secrets Manager cannot give it."""
        with self._lock:
            if not self._value and self.secret_id:
                self._value = self._fetch()
            return self._value

    def _fetch(self) -> str:
        import boto3
        from botocore.config import Config

        try:
            session = boto3.session.Session()
            client: Any = deadline.bound(session.client(
                "secretsmanager", region_name=session.region_name or "us-east-1",
                config=Config(connect_timeout=self.timeout, read_timeout=self.timeout,
                              retries={"total_max_attempts": 3, "mode": "standard"}),
            ))
            secret = client.get_secret_value(SecretId=self.secret_id).get("SecretString", "")
        except Exception as exc:  # unreachable, denied, missing: the caller answers 503
            raise StoreUnavailable(f"Secrets Manager {self.secret_id}: {exc}", UNVERIFIABLE) from exc
        if not secret:
            raise StoreUnavailable(f"Secrets Manager {self.secret_id}: no SecretString", UNVERIFIABLE)
        return str(secret).strip()

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison: timing reveals nothing about the secret.

        Raises StoreUnavailable when the secret cannot be read."""
        return hmac.compare_digest(candidate.encode("utf-8"), self.value().encode("utf-8"))
