"""The HTTP edge: FastAPI app, one router per API dialect."""
from .app import create_app

__all__ = ["create_app"]
