"""The one reader of run directories: index.parquet and runs.parquet say the same thing about every run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from loralab.analysis.load import SHORT, load_study_dir
from loralab.analysis.pipeline import runs_frame
from loralab.store import RunDir, Store
from loralab.store.frames import config_columns, flatten, normalise_dtypes, read_run
from loralab.store.index import rebuild_index
from tests.analysis.generated_store import generate_store


def _study(tmp_path: Path) -> tuple[Store, list[RunDir]]:
    """A generated study (no training): done, failed and pending runs, and one spec that no longer
    validates (its seed written as text), so the frames fall back to the spec as written."""
    states = {("linear-decay", "r8", 1): "failed", ("uniform", "r8", 2): "pending"}
    effects = {"uniform": 0.0, "linear-decay": -0.03}
    generate_store(tmp_path, "s", strategies=effects, seeds=(0, 1, 2), n_examples=20, states=states)
    store = Store(tmp_path)
    rds = sorted(store.runs("s"), key=lambda rd: rd.run_id)
    spec = yaml.safe_load(rds[0].spec.read_text())
    spec["config"]["train"]["seed"] = "zero"
    rds[0].spec.write_text(yaml.safe_dump(spec))
    return store, rds


def test_index_and_runs_frames_come_from_the_one_reader(tmp_path: Path):
    store, rds = _study(tmp_path)
    index = pd.read_parquet(rebuild_index(store, "s")).set_index("run_id")
    data = load_study_dir(tmp_path / "s")
    runs = runs_frame(data).set_index("run_id")
    assert sorted(index.index) == sorted(runs.index) == [rd.run_id for rd in rds]
    assert {"failed", "pending", "done"} <= set(runs["state"])

    for rd in rds:  # each frame's config fields are the reader's, under its own names
        columns = config_columns(read_run(rd))
        assert {k: index.loc[rd.run_id, k] for k in columns} == columns | {
            "train.seed": str(columns["train.seed"])
        }
        for short in set(runs.columns) & set(SHORT.values()) | set(runs.columns) & set(columns):
            dotted = {v: k for k, v in SHORT.items()}.get(short, short)
            assert runs.loc[rd.run_id, short] == index.loc[rd.run_id, dotted], (rd.run_id, short)

    # the spec that does not validate shows as written in both, and both make its column text alike
    assert index.loc[rds[0].run_id, "train.seed"] == runs.loc[rds[0].run_id, "seed"] == "zero"
    assert index["train.seed"].dtype == runs["seed"].dtype
    assert pd.isna(index.loc[rds[0].run_id, "seed"])  # the typed columns need a valid config

    done = runs.index[runs["state"] == "done"]
    for field, column in (("eval_loss", "eval.eval_loss"), ("n_train", "eval.data.n_train")):
        assert list(runs.loc[done, field]) == list(index.loc[done, column])
    assert (runs["state"] == index["state"]).all()  # no running runs here: the display state is the state


def test_flatten_puts_top_level_values_first_drops_empty_dicts_and_writes_lists_as_json():
    tree = {"a": {"b": {"x": 1}, "c": [1, 2], "e": {}}, "d": None}
    assert list(flatten(tree, "p.").items()) == [("p.d", None), ("p.a.b.x", 1), ("p.a.c", "[1, 2]")]
    assert flatten({}) == {}


def test_normalise_dtypes_makes_a_mixed_column_text_and_keeps_numbers():
    frame = pd.DataFrame({"mixed": [1, "x", None], "num": [1, 2.5, None]})
    out = normalise_dtypes(frame)
    assert list(out["mixed"][:2]) == ["1", "x"] and pd.isna(out["mixed"][2]) and out["num"].dtype == float
    assert list(frame["mixed"]) == [1, "x", None]  # the input is left as it was
