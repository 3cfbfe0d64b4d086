"""The fault kit's full disk: a data folder that runs out of room, for `cutout serve` in a
subprocess (tests/local_http.py has the misbehaving HTTP peer, tests/fixtures_aws.py the
stalling AWS services).

`SmallDisk(folder)` mounts a tmpfs there when the test may mount (root with
CAP_SYS_ADMIN, as here); `fill(leave=...)` then writes a filler file until only
`leave` bytes are free, and every write past that fails with ENOSPC, the file
system's own "disk full". Where mounting is not allowed (an unprivileged CI
container), the server runs under a file-size limit instead (RLIMIT_FSIZE set
to `leave`, SIGXFSZ ignored): any file growing past it fails with EFBIG, which
the code sees the same way (an OSError on write). Either way a write of more
than `leave` bytes fails and small ones (SQLite's pages) go through.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

FILLER = "filler"


class SmallDisk:
    """A folder that holds at most `size` bytes (tmpfs), or a file-size limit for the server."""

    def __init__(self, size: int = 64 * 2**20) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="cutout-disk-"))
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.path)],
                              capture_output=True, text=True)
        self.mounted = done.returncode == 0
        self.limit: int | None = None  # the server's RLIMIT_FSIZE when not mounted

    def fill(self, leave: int) -> None:
        """From now on, writes of more than `leave` bytes fail (see the module)."""
        if not self.mounted:
            self.limit = leave
            return
        free = os.statvfs(self.path)
        room = free.f_bavail * free.f_frsize - leave
        with open(self.path / FILLER, "ab") as out:
            out.write(b"\0" * max(0, room))

    def free(self) -> int:
        """Bytes free in the folder now (the file-size limit, when not mounted)."""
        if not self.mounted:
            return self.limit or 0
        free = os.statvfs(self.path)
        return free.f_bavail * free.f_frsize

    def preexec(self) -> Callable[[], None] | None:
        """For `subprocess.Popen(preexec_fn=...)`: the file-size limit, when there is one."""
        if self.limit is None:
            return None
        limit = self.limit

        def limited() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails, not the process
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return limited

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        subprocess.run(["rm", "-rf", str(self.path)], capture_output=True)
