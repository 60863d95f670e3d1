from __future__ import annotations

import io
import json
import time
from pathlib import Path

from rich.console import Console

from loralab.runner.claims import Claim
from loralab.runner.progress import StudyView, format_seconds
from loralab.runner.study import expand, parse_study
from loralab.store import Store
from tests.runner.fakes import fake_record


def make_view(tmp_path: Path) -> tuple[StudyView, list]:
    study = parse_study(
        {
            "name": "p",
            "base": {"train": {"max_steps": 10}, "output": {"root": str(tmp_path)}},
            "grid": {"seeds": [0, 1, 2, 3]},
        }
    )
    runs = expand(study)
    store = Store(tmp_path)
    rds = [store.create("p", c.run_id(), {"config": c.model_dump(mode="json")}) for c in runs]
    return StudyView(store, "p", runs, slots=2), rds


def test_the_view_counts_states_and_shows_step_progress(tmp_path: Path):
    view, rds = make_view(tmp_path)
    rds[0].set_status("done")
    rds[0].write_record(fake_record(eval_loss=1.5, total_wall_s=12.0))
    rds[1].set_status("running")
    for step in range(1, 5):
        rds[1].append_metrics({"type": "train", "step": step, "loss": 2.0})
    claim = Claim(rds[1].path, settle=0)
    assert claim.try_acquire()
    rds[2].set_status("running")  # nobody holds it: interrupted
    rows = view.rows()
    assert [r.display_state for r in rows] == ["done", "running", "interrupted", "pending"]
    assert rows[1].steps == 4 and rows[1].max_steps == 10 and rows[1].live
    header = view.header(rows)
    assert header.startswith("1/4 done · 1 running · 1 interrupted · 1 pending")
    out = io.StringIO()
    Console(file=out, width=150).print(view)
    text = out.getvalue()
    assert "study p" in text and "4/10" in text and "interrupted" in text
    claim.release()


def test_the_eta_follows_the_step_rate(tmp_path: Path):
    view, rds = make_view(tmp_path)
    assert view.eta(view.rows()) is None  # no rate yet: the rate starts at this look (0 steps)
    assert view.eta(view.rows()) is None  # still no step: loading time does not count in the rate
    view._t0 -= 10  # as if 10 s passed since that look while 10 steps were done
    rds[0].set_status("done", steps=10)
    rds[0].write_record(fake_record(eval_loss=1.0))
    (rds[0].metrics).write_text(json.dumps({"type": "train", "step": 10}) + "\n")
    eta = view.eta(view.rows())
    assert eta is not None and 25 <= eta <= 31  # 30 steps left at ~1 step/s


def test_format_seconds():
    assert [format_seconds(s) for s in (None, 5, 65, 3720)] == ["-", "5s", "1m05s", "1h02m"]
    assert format_seconds(time.monotonic() * 0 - 1) == "-"
