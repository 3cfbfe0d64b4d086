"""GET /: the page for people (web/static/), served by the app itself.

Plain HTML, CSS and JavaScript with no build step and no external assets, so it
works offline and on Lambda; its URLs are relative, so behind API Gateway they
keep the stage path. The page calls the remove.bg route (`v1.0/removebg`) and
`v1/account`: there is no processing path of its own.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    """The page's HTML (text/html; its CSS and JS are under static/)."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


def add_page(app: FastAPI) -> None:
    """Serve `/` and its assets under `/static/`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
