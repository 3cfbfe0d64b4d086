"""IMG Processing's creation and access routes: upload, create from a URL, list, get,
download, delete, publish, unpublish, and the public URL of a published image."""
from __future__ import annotations

import fnmatch
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .... import imagelib, numerals
from ....engine import formats, images
from ....errors import FetchError, FileTooLarge
from ....stores import ImageRecord
from ... import delivery, origin
from ...auth import Caller, authenticate
from ...inputs import download as download_url
from ...processing import run, services
from . import bodies as p
from . import created, image_object, library, limits, path_id, public_router, router
from . import spec


# --- creation --------------------------------------------------------------------------------


async def _store_new(request: Request, caller: Caller, name: str, data: bytes) -> JSONResponse:
    """Check, charge 1 operation, store: JPEG, PNG and WebP as sent, other formats as PNG."""
    lim = limits(request)
    header = images.read_header(data, lim)
    fmt = imagelib.stored_format(header.format)
    png_level = services(request).meter.png_level

    def work() -> ImageRecord:
        body, kind = data, fmt
        if kind is None:  # BMP, TIFF, GIF...: kept as PNG
            body = imagelib.encode(imagelib.decode(data, lim, header), "png", png_level=png_level)
            kind = "png"
        return library(request).save(caller.account.id, name, body, kind, header.width,
                                     header.height)

    record = await run(request, header, work, credits=1)
    return created(request, record, 1)


@router.post("/upload", status_code=201, **spec.UPLOAD)
async def upload(request: Request) -> Response:
    """Upload an image (multipart `name` + `image`); 201 with the new image object."""
    caller = await authenticate(request)
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith("multipart/form-data"):
        raise p.Invalid(["body: send multipart/form-data with the fields name and image"])
    try:
        form = await request.form(max_files=1, max_fields=8,
                                  max_part_size=p.MAX_UPLOAD_BYTES + 1024)
    except Exception as exc:  # Starlette's MultiPartException and friends: a bad body
        raise p.Invalid([f"body: {getattr(exc, 'detail', exc)}"]) from None
    try:
        image = form.get("image")
        name = form.get("name")
        if image is None or isinstance(image, str):
            raise p.Invalid(["image: a file is required"])
        data = await image.read(p.MAX_UPLOAD_BYTES + 1)
    finally:
        await form.close()
    checked = p.check_name(name if isinstance(name, str) else None)
    if len(data) > p.MAX_UPLOAD_BYTES:
        raise FileTooLarge(len(data), p.MAX_UPLOAD_BYTES,
                           f"The image is larger than {p.MAX_UPLOAD_BYTES} bytes (20 MB).")
    return await _store_new(request, caller, checked, data)


def allowed_source(url: str, hosts: tuple[str, ...]) -> None:
    """CUTOUT_IMAGE_SOURCE_HOSTS: host patterns such as `*.s3.amazonaws.com` (empty: any)."""
    if not hosts:
        return
    host = (urlsplit(url).hostname or "").lower()
    if not any(fnmatch.fnmatchcase(host, pattern) for pattern in hosts):
        raise FetchError(f"Images may only be created from these hosts: {', '.join(hosts)}.",
                         code="source_not_allowed")


@router.post("", status_code=201, **spec.CREATE_FROM_URL)
async def create_from_url(request: Request) -> Response:
    """Create an image from a URL (SSRF-guarded download; CUTOUT_IMAGE_SOURCE_HOSTS may restrict it)."""
    cfg = services(request).settings
    caller = await authenticate(request)
    body = p.parse(p.CreateFromUrl, await request.body())
    name = p.check_name(body.name)
    allowed_source(body.url, cfg.image_source_hosts)
    fetched = await download_url(request, body.url, max_bytes=p.MAX_UPLOAD_BYTES)
    return await _store_new(request, caller, name, fetched.data)


# --- access ----------------------------------------------------------------------------------


@router.get("", **spec.LIST)
async def list_images(request: Request) -> Response:
    """Images newest first: `take` 1-100 (default 10), `from` an image id (the cursor)."""
    caller = await authenticate(request)
    # The Node SDK's ky may send an unset parameter as the text "undefined".
    query = {k: v for k, v in request.query_params.items() if v not in ("", "undefined")}
    raw_take = query.get("take", "10")
    start = query.get("from")
    take = numerals.integer(raw_take) if numerals.is_integer(raw_take) else 0
    if not 1 <= take <= 100:
        raise p.Invalid(["take: must be an integer from 1 to 100"])
    if start is not None and not start.startswith(imagelib.ID_PREFIX):
        raise p.Invalid(["from: must be an image id (image_...)"])
    page = await run_in_threadpool(library(request).page, caller.account.id, take, start)
    base = origin.url_for(request, "list_images")

    def link(cursor: str | None) -> str | None:
        return f"{base}?{urlencode({'take': take, 'from': cursor})}" if cursor else None

    return JSONResponse({"data": [image_object(request, r) for r in page.records],
                         "links": {"previous": link(page.previous), "next": link(page.next)}})


async def _record(request: Request) -> tuple[Caller, ImageRecord]:
    caller = await authenticate(request)
    record = await run_in_threadpool(library(request).get, caller.account.id, path_id(request))
    return caller, record


@router.get("/{image_id}", **spec.GET)
async def get_image(request: Request) -> Response:
    """The image object."""
    _, record = await _record(request)
    return JSONResponse(image_object(request, record))


def file_response(request: Request, record: ImageRecord, expires_in: int,
                  headers: dict[str, str] | None = None) -> Response:
    """The stored file; when it would not fit a synchronous response (Lambda's 6 MB once
    base64-encoded, `max_response_bytes`), a 307 to a URL of the blob store that expires
    after `expires_in` seconds (presigned S3, or the app's own signed /v1/blobs URL)."""
    lib = library(request)
    if not delivery.fits_inline(record.size, services(request).settings.max_response_bytes):
        url = lib.blobs.url(imagelib.blob_key(record.id), expires_in, origin.base_url(request))
        return RedirectResponse(url, status_code=307, headers=headers)
    return Response(lib.read(record), media_type=formats.mime_of(record.format), headers=headers)


@router.get("/{image_id}/download", **spec.DOWNLOAD)
async def download(request: Request) -> Response:
    """The image's bytes with its content type (needs the key; publish to share)."""
    _, record = await _record(request)
    ttl = services(request).settings.result_url_ttl
    return await run_in_threadpool(file_response, request, record, ttl)


@router.delete("/{image_id}", status_code=204, **spec.DELETE)
async def delete_image(request: Request) -> Response:
    """Delete the image's bytes and record (its public URL stops working)."""
    caller = await authenticate(request)
    await run_in_threadpool(library(request).delete, caller.account.id, path_id(request))
    return Response(status_code=204)


@router.post("/{image_id}/publish", **spec.PUBLISH)
async def publish(request: Request) -> Response:
    """Give the image a public URL that works without a key (served by this API)."""
    caller = await authenticate(request)
    record = await run_in_threadpool(library(request).publish, caller.account.id, path_id(request))
    return JSONResponse(image_object(request, record))


@router.post("/{image_id}/unpublish", **spec.UNPUBLISH)
async def unpublish(request: Request) -> Response:
    """Make `url` null again; the old public URL answers 404 from now on."""
    caller = await authenticate(request)
    record = await run_in_threadpool(library(request).unpublish, caller.account.id, path_id(request))
    return JSONResponse(image_object(request, record))


PUBLIC_REDIRECT_SECONDS = 60  # a large published image's expiring URL outlives an unpublish by this


# HEAD too (link checkers and CDNs send it): GET's answer without a body.
@public_router.head("/{token}", name="public_image_head", response_class=Response,
                    **spec.PUBLIC_HEAD)
@public_router.get("/{token}", name="public_image", **spec.PUBLIC)
async def public_image(request: Request) -> Response:
    """A published image, without a key; 404 once unpublished or deleted."""
    record = await run_in_threadpool(library(request).published, request.path_params["token"])
    return await run_in_threadpool(file_response, request, record, PUBLIC_REDIRECT_SECONDS,
                                   {"Cache-Control": "public, max-age=60"})
