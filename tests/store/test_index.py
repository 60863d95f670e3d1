"""The study index: rows from the run directories, liveness passed in, every record field flattened."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from loralab.config import load_config
from loralab.store import Store
from loralab.store.index import rebuild_index, study_rows
from tests.runner.fakes import fake_record


def test_the_index_flattens_config_and_record_and_takes_liveness_from_the_caller(tmp_path: Path):
    store = Store(tmp_path)
    cfgs = [load_config(None, [f"train.seed={s}", "train.max_steps=4"]) for s in (0, 1)]
    done, running = (store.create("s", c.run_id(), {"config": c.model_dump(mode="json")}) for c in cfgs)
    done.set_status("done")
    done.write_record(fake_record(eval_loss=1.5))
    running.set_status("running")
    running.append_metrics({"type": "train", "step": 2, "loss": 2.5})

    rows = {r.run_id: r for r in study_rows(store, "s")}
    assert rows[running.run_id].display_state == "interrupted"  # nobody said it is live
    live = {r.run_id: r for r in study_rows(store, "s", lambda rd: "me" if rd == running else None)}
    assert live[running.run_id].display_state == "running" and live[running.run_id].owner == "me"
    assert live[running.run_id].steps == 2 and live[running.run_id].loss == 2.5

    index = pd.read_parquet(rebuild_index(store, "s")).set_index("run_id")
    assert index.loc[done.run_id, "eval_loss"] == index.loc[done.run_id, "eval.eval_loss"] == 1.5
    assert index.loc[done.run_id, "eval.data.train_set_tokens"] == 96
    assert index.loc[done.run_id, "train.seed"] == 0 and index.loc[running.run_id, "train.seed"] == 1
    assert pd.isna(index.loc[running.run_id, "eval.eval_loss"])
