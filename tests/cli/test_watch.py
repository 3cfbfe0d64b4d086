"""`cutout remove --watch`: a real watcher process, files copied in as a user's uploads arrive."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from conftest import encode

CUTOUT = str(Path(sys.executable).parent / "cutout")


class Watcher:
    """`cutout remove --watch ARGS` in the background; its output lines as they come."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([CUTOUT, "remove", "--watch", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: list[tuple[str, str]] = []
        self.matched: set[int] = set()
        for name in ("stdout", "stderr"):
            threading.Thread(target=self._read, args=(name,), daemon=True).start()

    def _read(self, name: str) -> None:
        for line in getattr(self.process, name):
            self.lines.put((name, line.rstrip("\n")))

    def expect(self, text: str, timeout: float = 120.0) -> str:
        """A line containing `text` (on either stream, in any order with the other expected
        ones) not returned before, waiting up to `timeout` s for it."""
        for index, (_stream, line) in enumerate(self.seen):
            if text in line and index not in self.matched:
                self.matched.add(index)
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                stream, line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append((stream, line))
            if text in line:
                self.matched.add(len(self.seen) - 1)
                return line
        raise AssertionError(f"no line with {text!r} in {timeout} s; seen: {self.seen}")

    def quiet_for(self, seconds: float) -> list[tuple[str, str]]:
        """The lines that came in the next `seconds` seconds."""
        came = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                came.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
        self.seen.extend(came)
        return came

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        time.sleep(0.2)
        rest = self.quiet_for(0.5)
        return code, "\n".join(line for _stream, line in self.seen + rest)


def copy_slowly(data: bytes, target: Path, pieces: int = 8, pause: float = 0.3) -> None:
    """Write `data` to `target` in pieces with pauses, as a slow upload or copy does."""
    step = -(-len(data) // pieces)
    with open(target, "wb") as out:
        for start in range(0, len(data), step):
            out.write(data[start:start + step])
            out.flush()
            os.fsync(out.fileno())
            time.sleep(pause)


def test_a_file_copied_in_slowly_is_cut_out_once_after_it_is_complete(
        tmp_path: Path, astronaut: np.ndarray, coffee_jpeg: bytes, client) -> None:
    uploads, cutouts = tmp_path / "uploads", tmp_path / "cutouts"
    uploads.mkdir()
    (uploads / "before.jpg").write_bytes(coffee_jpeg)  # there before the watch: done first
    watcher = Watcher(str(uploads), "-o", str(cutouts), "--settle", "1")
    try:
        watcher.expect(str(cutouts / "before.cutout.png"))
        watcher.expect("watching")
        photo = encode(astronaut, "PNG")  # 0.5 MB: 8 pieces over 2.4 s
        copy_slowly(photo, uploads / "slow.png")
        completed = (uploads / "slow.png").stat().st_mtime
        watcher.expect(str(cutouts / "slow.cutout.png"))
        result = cutouts / "slow.cutout.png"
        assert result.stat().st_mtime >= completed
        answer = client.post("/v1.0/removebg", files={"image_file": ("s.png", photo, "image/png")},
                             data={"size": "full", "format": "png"})
        assert result.read_bytes() == answer.content  # the whole file's cut-out
        assert watcher.quiet_for(3) == []  # once: no second cut-out of the same file
        # a changed image is cut out again, once; a result written beside is not an input
        mirrored = encode(astronaut[:, ::-1].copy(), "PNG")
        copy_slowly(mirrored, uploads / "slow.png", pieces=2, pause=0.2)
        watcher.expect(str(cutouts / "slow.cutout.png"))
        answer = client.post("/v1.0/removebg", files={"image_file": ("m.png", mirrored, "image/png")},
                             data={"size": "full", "format": "png"})
        assert result.read_bytes() == answer.content
        (uploads / "notes.txt").write_text("not an image")
        (uploads / "sub").mkdir()
        (uploads / "sub" / "deep.jpg").write_bytes(coffee_jpeg)
        watcher.expect(str(cutouts / "sub" / "deep.cutout.png"))
        assert watcher.quiet_for(2.5) == []
    finally:
        code, shown = watcher.stop(signal.SIGINT)
    assert code == 0, shown
    assert "4 images" in shown and "stopped watching" in shown and "Traceback" not in shown
    outputs = [line for stream, line in watcher.seen if stream == "stdout"]
    assert outputs.count(str(cutouts / "slow.cutout.png")) == 2  # the first copy, then the change
    assert sorted(p.name for p in cutouts.rglob("*") if p.is_file()) == \
        ["before.cutout.png", "deep.cutout.png", "slow.cutout.png"]  # no .partial left behind


def test_results_beside_the_watched_photos_are_not_cut_out_again_and_a_restart_skips_done_ones(
        tmp_path: Path, coffee_jpeg: bytes) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "a.jpg").write_bytes(coffee_jpeg)
    watcher = Watcher(str(shop), "--settle", "0.5", "--mode", "fg-mask")
    try:
        watcher.expect(str(shop / "a.mask.png"))
        (shop / "b.jpg").write_bytes(coffee_jpeg)
        watcher.expect(str(shop / "b.mask.png"))
        assert watcher.quiet_for(2.5) == []
    finally:
        code, shown = watcher.stop(signal.SIGTERM)  # a service manager's stop
    assert code == 0 and "2 images" in shown, shown
    assert sorted(p.name for p in shop.iterdir()) == ["a.jpg", "a.mask.png", "b.jpg", "b.mask.png"]
    # started again: the results are newer than the photos, so nothing is redone
    watcher = Watcher(str(shop), "--settle", "0.5", "--mode", "fg-mask")
    try:
        watcher.expect("watching")
        assert watcher.quiet_for(2) == []
    finally:
        code, shown = watcher.stop()
    assert code == 0 and "0 images" in shown


def test_watch_needs_folders(tmp_path: Path, coffee_jpeg: bytes) -> None:
    (tmp_path / "a.jpg").write_bytes(coffee_jpeg)
    done = subprocess.run([CUTOUT, "remove", "--watch", str(tmp_path / "a.jpg")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "--watch watches folders" in done.stderr
