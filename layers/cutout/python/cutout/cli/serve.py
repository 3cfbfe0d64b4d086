"""`cutout serve [--workers N]`: the HTTP API under uvicorn, in one process or N.

With N > 1, uvicorn's supervisor starts N worker processes on one listening
socket (and starts a worker again if it dies). Each process builds the app
itself (`app()` below, uvicorn's factory), so each holds its own model session;
what they share goes through the data folder:

- the SQLite store (accounts, usage, jobs): every admission is a `BEGIN
  IMMEDIATE` transaction, safe between processes (stores/sqlite.py);
- the local results folder: written through a temporary file and a rename
  (blobs/local.py), and its URLs signed with one secret: the parent picks one
  for all its workers when CUTOUT_BLOB_SECRET is not set, so a URL made by one
  worker is honoured by the others;
- the local job pool: each process runs the jobs it accepts; a job is claimed
  by compare-and-swap, so it runs once whichever processes hold its message;
  on start a process resumes the unfinished jobs, and takes back the claims of
  jobs left running only when no other process serves the folder
  (queues/local.py, `start_turn`).

The CPUs are shared out: each worker's model gets CPUs / N threads unless
CUTOUT_THREADS says otherwise.
"""
from __future__ import annotations

import argparse
import os
import secrets
from typing import Any


def app() -> Any:
    """uvicorn's factory in each worker process: the app, with the settings of the environment."""
    from ..web import create_app

    return create_app()


def __getattr__(name: str) -> Any:
    """`Protocol`: the receive-deadline protocol with this process's settings (uvicorn
    imports it by name in each worker)."""
    if name != "Protocol":
        raise AttributeError(name)
    from ..config import settings
    from ..web import serve as web_serve

    return web_serve.protocol(settings())


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..config import settings
    from ..engine.cpus import available_cpus

    cfg = settings()  # a bad CUTOUT_* value stops here, before any worker starts
    if args.workers <= 1:
        from ..web import create_app, serve as web_serve

        uvicorn.Server(web_serve.config(create_app(), cfg, args.host, args.port)).run()
        return 0
    if not cfg.threads:
        os.environ["CUTOUT_THREADS"] = str(max(1, available_cpus() // args.workers))
    if not cfg.blob_secret:
        os.environ["CUTOUT_BLOB_SECRET"] = secrets.token_hex(32)
    uvicorn.run(f"{__name__}:app", factory=True, host=args.host, port=args.port,
                workers=args.workers, http=f"{__name__}:Protocol", log_config=None,
                access_log=False)
    return 0
