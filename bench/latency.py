"""Warm end-to-end latency: every engine on the same photos, alternating, same run.

Each engine lives in its own worker process, as it would in production: the
processes do not share an allocator, onnxruntime thread pools or caches (Cutout
tunes its process's allocator when it loads the model, cpus.tune_allocator,
which would otherwise speed rembg up too). The parent hands the same photo to
the engines in turn, rotating which goes first; each worker times its own call.
"""
from __future__ import annotations

import gc
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import numpy as np

from .photos import Photo


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)
    output_bytes: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return float(np.median(self.seconds))


def _serve(name: str, threads: int, conn: Connection) -> None:
    from .engines import make

    engine = make(name, threads)
    while (data := conn.recv()) is not None:
        gc.collect()
        started = time.perf_counter()
        out = engine(data)
        conn.send((time.perf_counter() - started, len(out)))


class Worker:
    """One engine in a warm child process."""

    def __init__(self, name: str, threads: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(name, threads, child), daemon=True)
        self.process.start()

    def __call__(self, data: bytes) -> tuple[float, int]:
        self.conn.send(data)
        return self.conn.recv()

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(timeout=30)


def measure(names: tuple[str, ...], threads: int, photos: list[Photo], rounds: int) -> dict[str, Timing]:
    """`rounds` passes over the photos; within a pass the engines take turns, and
    the engine that goes first rotates, so drift in machine load hits all alike."""
    workers = {name: Worker(name, threads) for name in names}
    try:
        for worker in workers.values():  # warm-up: first-call allocations, caches
            worker(photos[0].data)
        timings = {name: Timing() for name in names}
        step = 0
        for _ in range(rounds):
            for photo in photos:
                order = list(names[step % len(names):] + names[: step % len(names)])
                step += 1
                for name in order:
                    seconds, size = workers[name](photo.data)
                    timings[name].seconds.append(seconds)
                    timings[name].output_bytes.append(size)
        return timings
    finally:
        for worker in workers.values():
            worker.close()
