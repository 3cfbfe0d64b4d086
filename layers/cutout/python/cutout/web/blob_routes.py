"""The local blob store's signed URLs, served by the app itself (`make run` has no S3).

`LocalBlobStore.url` and `.upload_url` sign a key and an expiry with HMAC; these
routes check the signature and serve (GET) or store (PUT) the object, as
presigned S3 URLs would. Deployed, the blob store is S3 and they answer 404.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..blobs import BlobUnavailable, InvalidObjectKey
from ..blobs.local import LocalBlobStore
from ..errors import RETRY_AFTER_SECONDS, CutoutError
from .processing import services

router = APIRouter(tags=["results"])
EXPIRED = "This result link is invalid or has expired."


def _local(request: Request) -> LocalBlobStore | None:
    store = services(request).blobs
    return store if isinstance(store, LocalBlobStore) else None


@router.get("/v1/blobs/{key:path}", include_in_schema=False)
async def local_blob(request: Request, key: str, expires: int = 0, signature: str = "") -> Response:
    """Serve a stored result by its signed, expiring URL (local store only; S3 serves its own)."""
    store = _local(request)
    if store is None:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    try:
        if not store.verify(key, expires, signature):
            return JSONResponse({"detail": EXPIRED}, status_code=403)
        blob = await run_in_threadpool(store.get, key)
    except CutoutError:  # no such object, or a key that is not one
        return JSONResponse({"detail": EXPIRED}, status_code=404)
    return Response(blob.data, media_type=blob.content_type)


@router.put("/v1/blobs/{key:path}", include_in_schema=False)
async def local_upload(request: Request, key: str, expires: int = 0, signature: str = "") -> Response:
    """Store an upload by its signed, expiring PUT URL (local store only; S3 takes its own).

    The body is capped by the app's request limit (RequestContext).
    """
    store = _local(request)
    if store is None:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    try:
        if not store.verify_upload(key, expires, signature):
            return JSONResponse({"detail": EXPIRED}, status_code=403)
        data = await request.body()
        ctype = request.headers.get("content-type", "application/octet-stream")
        etag = await run_in_threadpool(store.put, key, data, ctype)
    except InvalidObjectKey:
        return JSONResponse({"detail": EXPIRED}, status_code=404)
    except BlobUnavailable as exc:
        return JSONResponse({"detail": exc.message}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})
