"""The study progress view: run counts by state, per-run step progress and an ETA, read from the store.

It reads only the run directories (status.json, the tail of metrics.jsonl, claim.json), so it shows
the same thing whichever executor or machine runs the runs. On a terminal it is a rich Live view that
refreshes itself; elsewhere the study prints one line per finished run instead.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from loralab.config import RunConfig
from loralab.runner.claims import DEFAULT_TIMEOUT, live_owner
from loralab.store import Store
from loralab.store.index import RunRow, run_row

STATE_STYLE = {
    "done": "green",
    "running": "cyan",
    "failed": "red",
    "pending": "dim",
    "interrupted": "yellow",
}


def format_seconds(seconds: float | None) -> str:
    """`1h02m`, `3m05s`, `12s`, or `-` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "-"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


@dataclass
class StudyView:
    """A live picture of one study's runs; `render()` (or rich's `__rich__`) reads the store afresh."""

    store: Store
    study: str
    runs: list[RunConfig]
    slots: int = 1  # runs executing at once, for the ETA
    where: str = ""
    claim_timeout: float = DEFAULT_TIMEOUT
    max_rows: int = 12
    started: float = field(default_factory=time.monotonic)
    _steps0: int | None = None
    _t0: float | None = None
    _moving: bool = False

    def rows(self) -> list[RunRow]:
        """Current rows of the study's runs, in study order."""
        live = live_owner(self.claim_timeout)
        return [run_row(self.store.run_dir(self.study, c.run_id()), c, live) for c in self.runs]

    def eta(self, rows: list[RunRow]) -> float | None:
        """Seconds left: from the step rate since the first step seen when every run knows its step
        count, else from the mean wall time of finished runs; None until there is a rate."""
        todo = [r for r in rows if r.state not in ("done", "failed")]
        if not todo:
            return 0.0
        if all(r.max_steps for r in rows):
            done = sum(min(r.steps, r.max_steps or 0) for r in rows)
            now = time.monotonic()
            if self._steps0 is None or (done == self._steps0 and not self._moving):
                # the rate counts from the last look before the first step: model loading and the
                # base eval before it would otherwise make the first ETAs absurd
                self._steps0, self._t0 = done, now
                return None
            self._moving = True
            elapsed = now - (self._t0 or now)
            rate = (done - self._steps0) / elapsed if elapsed > 0 else 0.0
            left = sum((r.max_steps or 0) - min(r.steps, r.max_steps or 0) for r in todo)
            return left / rate if rate > 0 else None
        walls = [r.wall_time for r in rows if r.state == "done" and r.wall_time]
        if not walls:
            return None
        return sum(walls) / len(walls) * len(todo) / max(1, self.slots)

    def header(self, rows: list[RunRow]) -> str:
        """`3/8 done · 2 running · 1 failed · 2 pending · elapsed 1m02s · ETA 2m10s`."""
        counts = Counter(r.display_state for r in rows)
        parts = [f"{counts['done']}/{len(rows)} done"]
        parts += [f"{counts[s]} {s}" for s in ("running", "interrupted", "failed", "pending") if counts[s]]
        parts.append(f"elapsed {format_seconds(time.monotonic() - self.started)}")
        parts.append(f"ETA {format_seconds(self.eta(rows))}")
        return " · ".join(parts)

    def render(self) -> RenderableType:
        """Header plus a table of running runs (and failed ones, then the next pending)."""
        rows = self.rows()
        title = Text(f"study {self.study}", style="bold")
        if self.where:
            title.append(f"  ({self.where})", style="dim")
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("run", "strategy", "budget", "seed", "state", "progress", "steps", "loss"):
            table.add_column(col)
        order = {"running": 0, "interrupted": 1, "failed": 2, "pending": 3, "done": 4}
        shown = sorted((r for r in rows if r.display_state != "done"), key=lambda r: order[r.display_state])[
            : self.max_rows
        ]
        for r in shown:
            total = r.max_steps or max(r.steps, 1)
            bar = ProgressBar(total=total, completed=min(r.steps, total), width=24)
            state = Text(r.display_state, style=STATE_STYLE.get(r.display_state, ""))
            loss = f"{r.loss:.4f}" if r.loss is not None else ""
            steps = f"{r.steps}/{r.max_steps}" if r.max_steps else str(r.steps)
            table.add_row(r.run_id, r.strategy, r.budget, str(r.seed), state, bar, steps, loss)
        return (
            Group(title, Text(self.header(rows)), table) if shown else Group(title, Text(self.header(rows)))
        )

    def __rich__(self) -> RenderableType:
        return self.render()


class ProgressLines:
    """Plain progress for piped or logged output: every `every` seconds, one line with the study's
    counts, ETA and the step of each running run (a terminal gets the live view instead)."""

    def __init__(self, view: StudyView, console: Console, every: float = 30.0):
        self.view, self.console, self.every = view, console, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="study-progress", daemon=True)

    def line(self) -> str:
        """`2/6 done · 2 running · elapsed 1m00s · ETA 3m10s | linear-decay s0 12/30, uniform s1 9/30`."""
        rows = self.view.rows()
        running = [
            f"{r.strategy} s{r.seed} {r.steps}/{r.max_steps or '?'}"
            for r in rows
            if r.display_state == "running"
        ]
        return self.view.header(rows) + (" | " + ", ".join(running) if running else "")

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.console.print(self.line(), soft_wrap=True, highlight=False)

    def __enter__(self) -> ProgressLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
