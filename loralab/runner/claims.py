"""Exactly-once execution: a per-run claim file that one process holds while it executes the run.

`<run_dir>/claim.json` names its owner (`host:pid:uuid`) and a token (the submission it serves); its
mtime is the owner's heartbeat, refreshed by a thread. A claim is taken over when it is stale:
no heartbeat for `timeout` seconds, its owner process on this host is gone, or it carries our own
token (a task that Ray retried after its worker died).

Only atomic filesystem operations decide ownership, so this works on a shared filesystem (NFS, etc.)
as long as hosts' clocks roughly agree (staleness compares the local clock with the file's mtime):
- create: the record is written to a private temp file and hard-linked to `claim.json`; `link` fails
  if the name exists, and a reader never sees a half-written claim.
- takeover: the stale claim is renamed to a private name (only one contender's rename can succeed);
  the contender checks that what it moved is the stale claim it judged, and puts it back otherwise.
- a new owner re-reads its claim after a short settle delay before it starts, and the heartbeat
  thread keeps checking it: an owner that finds its claim gone (it was paused for longer than
  `timeout` and someone took over) is told through `check()`, which raises `ClaimLost`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loralab.errors import RunAbandoned
from loralab.store import CLAIM_FILE, RunDir

DEFAULT_TIMEOUT = 120.0
HOST = socket.gethostname()


class ClaimLost(RunAbandoned):
    """Another process took this run's claim over; the holder must stop working on the run."""


@dataclass(frozen=True)
class ClaimInfo:
    """What a claim file says, and when its owner last beat (the file's mtime)."""

    owner: str
    host: str
    pid: int
    token: str
    created: float
    heartbeat: float

    @property
    def age(self) -> float:
        """Seconds since the last heartbeat."""
        return time.time() - self.heartbeat


def read_claim(run_path: str | Path) -> ClaimInfo | None:
    """The claim on a run directory, or None if it has none."""
    return _read(Path(run_path) / CLAIM_FILE)


def stale_reason(info: ClaimInfo, timeout: float = DEFAULT_TIMEOUT, token: str | None = None) -> str | None:
    """Why `info` may be taken over, or None while its owner looks alive."""
    if token and info.token == token:
        return "it is an earlier attempt of the same task"
    if info.host == HOST and info.pid > 0 and not _pid_alive(info.pid):
        return f"its owner process {info.pid} is gone"
    if info.age > timeout:
        return f"its owner {info.owner} sent no heartbeat for {info.age:.0f}s"
    return None


def live_owner(timeout: float = DEFAULT_TIMEOUT) -> Callable[[RunDir], str | None]:
    """For the store's rows: the owner holding a fresh claim on a run directory, or None."""

    def owner(rd: RunDir) -> str | None:
        info = read_claim(rd.path)
        return info.owner if info is not None and stale_reason(info, timeout) is None else None

    return owner


class Claim:
    """One process's claim on one run directory; `try_acquire`, then `check` while working, `release`."""

    def __init__(
        self,
        run_path: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        token: str | None = None,
        beat_every: float | None = None,
        settle: float = 0.2,
    ):
        self.path = Path(run_path) / CLAIM_FILE
        self.timeout = float(timeout)
        self.uid = uuid.uuid4().hex[:12]
        self.owner = f"{HOST}:{os.getpid()}:{self.uid}"
        self.token = token or self.uid
        self.beat_every = beat_every if beat_every is not None else max(0.05, min(10.0, self.timeout / 6))
        self.settle = settle
        self.holder: ClaimInfo | None = None  # who holds it when try_acquire failed
        self.takeover: str | None = None  # why we took a stale claim over, if we did
        self._held = False
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- acquiring ----------------------------------------------------------------------------------
    def try_acquire(self) -> bool:
        """Take the claim if it is free or stale; False (with `holder` set) if a live owner has it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):  # each pass makes progress unless others race us; give up politely after
            if self._create():
                if self.settle:
                    time.sleep(self.settle)
                if not self._is_mine():
                    self.holder = _read(self.path)
                    return False
                self._held = True
                self._thread = threading.Thread(target=self._beat_loop, name="claim-heartbeat", daemon=True)
                self._thread.start()
                return True
            info = _read(self.path)
            if info is None:
                continue  # released between our attempts
            reason = stale_reason(info, self.timeout, self.token)
            if reason is None:
                self.holder = info
                return False
            if self._remove_stale(info):
                self.takeover = reason
        self.holder = _read(self.path)
        return False

    def _create(self) -> bool:
        record = {"owner": self.owner, "host": HOST, "pid": os.getpid(), "token": self.token}
        record["created"] = time.time()
        tmp = self.path.with_name(f".claim.{self.uid}.tmp")
        tmp.write_text(json.dumps(record, sort_keys=True) + "\n")
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: exclusive create (a reader may see it empty)
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(tmp.read_text())
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _remove_stale(self, judged: ClaimInfo) -> bool:
        """Move the stale claim `judged` out of the way; False if someone else got there first."""
        grave = self.path.with_name(f".claim.{self.uid}.stale")
        try:
            os.rename(self.path, grave)
        except FileNotFoundError:
            return False
        moved = _read(grave)
        if moved is not None and moved.owner == judged.owner and moved.heartbeat <= judged.heartbeat:
            grave.unlink(missing_ok=True)
            return True
        # We moved a claim that another contender created after our look (or a late heartbeat): undo.
        with contextlib.suppress(FileExistsError):
            os.link(grave, self.path)
        grave.unlink(missing_ok=True)
        return False

    # --- holding ------------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise ClaimLost if another process took the claim over (call it often while working)."""
        if self._lost.is_set():
            raise ClaimLost(f"claim on {self.path.parent} was taken over by another process")

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def beat(self) -> None:
        """Refresh the heartbeat if the claim is still ours; mark it lost otherwise."""
        for attempt in range(3):
            if self._is_mine():
                with contextlib.suppress(FileNotFoundError):
                    os.utime(self.path)
                return
            if attempt < 2:  # a contender may be putting our claim back after a misjudged takeover
                time.sleep(0.2)
        self._lost.set()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.beat_every):
            self.beat()
            if self._lost.is_set():
                return

    def release(self) -> None:
        """Stop the heartbeat and remove the claim if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if not self._held:
            return
        self._held = False
        grave = self.path.with_name(f".claim.{self.uid}.released")
        try:
            os.rename(self.path, grave)
        except FileNotFoundError:
            return
        moved = _read(grave)
        if moved is None or moved.owner != self.owner:  # not ours any more: put it back
            with contextlib.suppress(FileExistsError):
                os.link(grave, self.path)
        grave.unlink(missing_ok=True)

    def _is_mine(self) -> bool:
        info = _read(self.path)
        return info is not None and info.owner == self.owner

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(path: Path) -> ClaimInfo | None:
    try:
        heartbeat = path.stat().st_mtime
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        rec = json.loads(text)
        return ClaimInfo(
            owner=str(rec["owner"]),
            host=str(rec["host"]),
            pid=int(rec["pid"]),
            token=str(rec.get("token", "")),
            created=float(rec.get("created", heartbeat)),
            heartbeat=heartbeat,
        )
    except (ValueError, KeyError, TypeError):
        # Half-written by the O_EXCL fallback: held by someone unknown until its mtime goes stale.
        return ClaimInfo(owner="?", host="?", pid=0, token="", created=heartbeat, heartbeat=heartbeat)


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` on this host exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed worker whose parent never reaps it stays a zombie; it is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
