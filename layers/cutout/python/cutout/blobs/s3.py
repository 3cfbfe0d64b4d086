"""The blob port on an S3 bucket (the deployed service)."""
from __future__ import annotations

from typing import Any, Mapping

from .. import deadline
from . import Blob, BlobInfo, BlobNotFound, BlobUnavailable, check_key

MISSING = ("NoSuchKey", "404", "NotFound")
CHANGED = ("PreconditionFailed", "412")
VERBS = {"head_object": "read", "get_object": "read", "delete_object": "delete"}


class S3BlobStore:
    """An S3 bucket. The client is created on first use: most requests never need it.

    boto3 finds endpoint and credentials the usual way (the Lambda role, or
    AWS_ENDPOINT_URL_S3 for a local S3); timeouts are short (`timeout` seconds to
    connect, 2.5 times that for each read, 3 attempts) so that an unreachable or
    paused S3 becomes a BlobUnavailable within seconds, and inside a web request
    every attempt ends by the request's deadline (cutout/deadline.py). A client
    handed in (`client=`) is used as it is.
    """

    def __init__(self, bucket: str, client: Any = None, timeout: float = 2.0) -> None:
        self.bucket = bucket
        self._client = client
        self._timeout = timeout  # seconds to connect; each read gets 2.5 times as long

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # in the Lambda runtime; not shipped in the deps layer
            from botocore.config import Config

            self._client = deadline.bound(boto3.client("s3", config=Config(
                # SigV4 on the regional virtual-host name: presigned URLs work in every
                # region from the first minute (the global name redirects new buckets).
                signature_version="s3v4",
                s3={"addressing_style": "virtual"},
                connect_timeout=self._timeout,
                read_timeout=self._timeout * 2.5,
                retries={"total_max_attempts": 3, "mode": "standard"},
            )))
        return self._client

    def put(self, key: str, data: bytes, content_type: str,
            metadata: Mapping[str, str] | None = None) -> str:
        """Store `data` under `key`; returns its ETag. Raises InvalidObjectKey, BlobUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=check_key(key), Body=data,
                ContentType=content_type, Metadata=dict(metadata or {}),
            )
        except (BotoCoreError, ClientError) as exc:
            raise BlobUnavailable(f"Could not store the result in S3 bucket {self.bucket} "
                                  f"({_reason(exc)}, {self._endpoint()}).") from exc
        return str(answer.get("ETag", "")).strip('"')

    def head(self, key: str, if_match: str | None = None) -> BlobInfo:
        """HEAD the object. Raises BlobNotFound (missing, or another ETag), InvalidObjectKey,
        BlobUnavailable."""
        answer = self._call("head_object", key, if_match)
        return BlobInfo(int(answer.get("ContentLength", 0)), answer.get("ContentType", ""),
                        dict(answer.get("Metadata", {})), str(answer.get("ETag", "")).strip('"'))

    def get(self, key: str, if_match: str | None = None) -> Blob:
        """GET the object. Raises BlobNotFound (missing, or another ETag), InvalidObjectKey,
        BlobUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        answer = self._call("get_object", key, if_match)
        try:
            data = answer["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise BlobUnavailable(f"Could not read {key!r} from S3 ({_reason(exc)}).") from exc
        return Blob(data, answer.get("ContentType", ""), dict(answer.get("Metadata", {})),
                    str(answer.get("ETag", "")).strip('"'))

    def delete(self, key: str) -> None:
        """DELETE the object (S3 answers a missing one with success too).
        Raises InvalidObjectKey, BlobUnavailable."""
        self._call("delete_object", key, None)

    def list(self, prefix: str) -> list[str]:
        """Every key under `prefix`, all pages. Raises BlobUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise BlobUnavailable(f"Could not list {prefix!r} in S3 bucket {self.bucket} "
                                  f"({_reason(exc)}, {self._endpoint()}).") from exc
        return sorted(keys, key=lambda k: k.encode("utf-8"))

    def url(self, key: str, expires_in: int, base_url: str = "") -> str:
        """A presigned GET URL (signed locally: no call to S3). Raises InvalidObjectKey."""
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": check_key(key)},
            ExpiresIn=int(expires_in),
        ))

    def upload_url(self, key: str, expires_in: int, base_url: str = "") -> str:
        """A presigned PUT URL (signed locally). Raises InvalidObjectKey."""
        return str(self.client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": check_key(key)},
            ExpiresIn=int(expires_in),
        ))

    def _call(self, operation: str, key: str, if_match: str | None) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        params: dict[str, Any] = {"Bucket": self.bucket, "Key": check_key(key)}
        if if_match:
            params["IfMatch"] = f'"{if_match.strip(chr(34))}"'
        try:
            return getattr(self.client, operation)(**params)
        except ClientError as exc:
            code = _reason(exc)
            if code in MISSING:
                raise BlobNotFound(f"No object {key!r} in bucket {self.bucket} ({self._endpoint()}).") from exc
            if code in CHANGED:
                raise BlobNotFound(f"Object {key!r} in bucket {self.bucket} no longer has "
                                   f"ETag {if_match}.") from exc
            raise BlobUnavailable(f"Could not {VERBS[operation]} {key!r} in S3 bucket {self.bucket} "
                                  f"({code}, {self._endpoint()}).") from exc
        except BotoCoreError as exc:
            raise BlobUnavailable(f"Could not {VERBS[operation]} {key!r} in S3 bucket {self.bucket} "
                                  f"({_reason(exc)}, {self._endpoint()}).") from exc

    def _endpoint(self) -> str:
        """The S3 endpoint asked (AWS's, or AWS_ENDPOINT_URL_S3's), for messages."""
        return str(getattr(getattr(self.client, "meta", None), "endpoint_url", "") or "S3")


def _reason(exc: Exception) -> str:
    """S3's error code, or the exception's class: enough to tell, never a secret."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or exc.__class__.__name__)
