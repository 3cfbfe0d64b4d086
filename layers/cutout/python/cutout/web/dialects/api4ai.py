"""The API4AI background-removal dialect: /v1/version, /v1/modes, /v1/results.

Image problems are answered as API4AI does: 200 with a `failure` status inside
the result; malformed requests get 422 with a `detail`.
"""
from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ... import __version__
from ...engine import pipeline
from ...blobs import BlobUnavailable
from ...errors import AccessError, CutoutError, InvalidOption
from ..auth import Caller, authenticate, error_response
from ..errors import status_of
from .. import large_results
from ..inputs import BadRequest, decode_base64, download, read_input
from ..processing import Engine, uncertainty_header

router = APIRouter(prefix="/v1", tags=["api4ai"])
MISSING = "Missing image or url field."


@router.get("/version", response_class=PlainTextResponse)
def version() -> str:
    return f"v{__version__}"


@router.get("/modes")
def modes() -> list[str]:
    return list(pipeline.MODES)


def _result(name: str, md5: str, **fields: Any) -> JSONResponse:
    return JSONResponse({"results": [{"name": name, "md5": md5, **fields}]})


def _failure(name: str, md5: str, message: str) -> JSONResponse:
    return _result(name, md5, status={"code": "failure", "message": message}, entities=[])


@router.post("/results")
async def results(
    request: Request, mode: str = "fg-image", caller: Caller = Depends(authenticate)
) -> JSONResponse:
    try:
        options = pipeline.Options(mode=mode)
    except InvalidOption as exc:
        return JSONResponse({"detail": exc.message}, status_code=422)
    try:
        found = await read_input(request)
    except BadRequest as exc:
        return JSONResponse({"detail": exc.message}, status_code=422)

    engine: Engine = request.app.state.engine
    name, md5 = "", ""
    try:
        if "image" in found.files:
            upload = found.files["image"]
            data, name = upload.data, upload.filename or "image"
        elif found.fields.get("image"):
            data, name = decode_base64(found.fields["image"]), "image"
        elif found.raw is not None:
            data, name = found.raw.data, "image"
        elif found.fields.get("url"):
            url = found.fields["url"]
            name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or url
            fetched = await download(url, engine.settings)
            data = fetched.data
        else:
            return JSONResponse({"detail": MISSING}, status_code=422)
        md5 = hashlib.md5(data).hexdigest()
        result = await engine.cut(data, options, caller=caller)
    except AccessError as exc:  # 402/429/503: a real HTTP status, not an image failure
        return error_response(exc)
    except CutoutError as exc:
        large_results.note(request, mode=mode, outcome="failure")
        return _failure(name, md5, exc.message)
    try:  # inline base64, or a URL when the response would pass the Lambda limit
        delivered = await large_results.deliver(request, result, name=f"general-{mode}")
    except BlobUnavailable as exc:  # a 503, so metering refunds the charge
        return JSONResponse({"detail": exc.message}, status_code=status_of(exc))
    large_results.note(request, mode=mode, outcome="ok")
    response = _result(
        name,
        md5,
        status={"code": "ok", "message": "Success"},
        width=result.width,
        height=result.height,
        entities=[{"kind": "image", "name": f"general-{mode}", **delivered, "format": "PNG",
                   "uncertainty_score": result.uncertainty}],
    )
    response.headers.update(uncertainty_header(result))
    return response
