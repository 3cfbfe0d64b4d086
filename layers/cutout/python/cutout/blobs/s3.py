"""The blob port on an S3 bucket (the deployed service)."""
from __future__ import annotations

from typing import Any, Mapping

from . import Blob, BlobError, BlobNotFound, check_key


class S3BlobStore:
    """An S3 bucket. The client is created on first use: most requests never need it.

    boto3 finds endpoint and credentials the usual way (the Lambda role, or
    AWS_ENDPOINT_URL_S3 for a local S3); timeouts are short so that an
    unreachable S3 becomes a BlobError within seconds, not a Lambda timeout.
    """

    def __init__(self, bucket: str, client: Any = None, timeout: float = 5.0) -> None:
        self.bucket = bucket
        self._client = client
        self._timeout = timeout

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # in the Lambda runtime; not shipped in the deps layer
            from botocore.config import Config

            self._client = boto3.client("s3", config=Config(
                # SigV4 on the regional virtual-host name: presigned URLs work in every
                # region from the first minute (the global name redirects new buckets).
                signature_version="s3v4",
                s3={"addressing_style": "virtual"},
                connect_timeout=self._timeout,
                read_timeout=self._timeout * 2,
                retries={"max_attempts": 3, "mode": "standard"},
            ))
        return self._client

    def put(self, key: str, data: bytes, content_type: str,
            metadata: Mapping[str, str] | None = None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=check_key(key), Body=data,
                ContentType=content_type, Metadata=dict(metadata or {}),
            )
        except (BotoCoreError, ClientError) as exc:
            raise BlobError(f"Could not store the result in S3 ({_reason(exc)}).") from exc
        return answer.get("ETag", "").strip('"')

    def get(self, key: str) -> Blob:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=check_key(key))
            data = answer["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise BlobNotFound(f"No object {key!r} in bucket {self.bucket}.") from exc
            raise BlobError(f"Could not read {key!r} from S3 ({_reason(exc)}).") from exc
        except BotoCoreError as exc:
            raise BlobError(f"Could not read {key!r} from S3 ({_reason(exc)}).") from exc
        return Blob(data, answer.get("ContentType", ""), dict(answer.get("Metadata", {})),
                    answer.get("ETag", "").strip('"'))

    def url(self, key: str, expires_in: int, base_url: str = "") -> str:
        """A presigned GET URL (signed locally: no call to S3)."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": check_key(key)},
            ExpiresIn=int(expires_in),
        )


def _reason(exc: Exception) -> str:
    """S3's error code, or the exception's class: enough to tell, never a secret."""
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") or exc.__class__.__name__
