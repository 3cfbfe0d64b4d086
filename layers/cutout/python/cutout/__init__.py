"""Cutout: background removal as a library, a CLI and an HTTP API."""

__version__ = "1.0.0"
