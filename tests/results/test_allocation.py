"""allocation.json in one shape: today's record and both shapes written before it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loralab.errors import StoreError
from loralab.modules import TargetModule
from loralab.results.allocation import SCHEMA_VERSION, AllocationRecord, StrategyRecord, read_allocation
from loralab.strategies import Budget, RankAllocation

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alpaca-smollm2" / "store"


def _alloc(ranks: dict[str, int], dynamic: bool = False) -> RankAllocation:
    modules = tuple(TargetModule(n, i, "attn_q", 4, 4) for i, n in enumerate(ranks))
    return RankAllocation(
        dict(ranks), modules, Budget(params=64, spec="r4", reference_rank=4), "s", dynamic=dynamic
    )


def test_a_static_record_round_trips_and_resumes_to_the_same_allocation(tmp_path):
    a = _alloc({"q0": 4, "q1": 4})
    path = tmp_path / "allocation.json"
    path.write_text(json.dumps(AllocationRecord.static(a.to_dict(), 1.5).to_json()))
    record = read_allocation(path)
    assert record.schema_version == SCHEMA_VERSION and record.initial == record.final
    assert record.peak_params == a.params == 64 and record.signals_wall_s == 1.5 and not record.dynamic
    assert RankAllocation.from_dict(record.initial.model_dump()) == a


def test_the_flat_shape_of_a_static_run_before_the_schema(tmp_path):
    (old,) = sorted(EXAMPLE.glob("alpaca-smollm2-fast-dropout/*/allocation.json"))[:1]
    data = json.loads(old.read_text())
    record = read_allocation(old)
    assert record.final == record.initial and record.final.ranks == {
        m["name"]: m["rank"] for m in data["modules"]
    }
    assert record.signals_wall_s == data["signals_wall_s"] and record.peak_params == data["achieved_params"]
    assert record.final.budget is not None and record.final.budget.params == data["budget"]["params"]


def test_the_dynamic_shape_before_the_schema_keeps_initial_final_and_the_strategys_keys(tmp_path):
    initial, final = _alloc({"q0": 6, "q1": 6}, dynamic=True), _alloc({"q0": 4, "q1": 2})
    trajectory = [{"step": 1, "params": 96}, {"step": 2, "params": 48}]
    own = {
        "initial": initial.to_dict(),
        "final": final.to_dict(),
        "peak_params": 96,
        "trajectory": trajectory,
    }
    path = tmp_path / "allocation.json"
    path.write_text(json.dumps({**final.to_dict(), **own, "pruned_at": 2, "signals_wall_s": 0.5}))
    record = read_allocation(path)
    assert record.initial.ranks == {"q0": 6, "q1": 6} and record.final.ranks == {"q0": 4, "q1": 2}
    assert record.dynamic and record.peak_params == 96 and record.trajectory == trajectory
    assert record.model_extra == {"pruned_at": 2}  # a strategy's own keys are kept
    again = tmp_path / "again.json"
    again.write_text(json.dumps(record.to_json()))
    assert read_allocation(again) == record


def test_the_strategy_as_described_at_run_time_round_trips_and_older_records_have_none(tmp_path):
    described = StrategyRecord(
        name="s", description="Ranks as the code said.", kind="static", needs=("spectra",)
    )
    path = tmp_path / "allocation.json"
    path.write_text(
        json.dumps(AllocationRecord.static(_alloc({"q0": 4}).to_dict(), 0.0, described).to_json())
    )
    assert read_allocation(path).strategy == described
    for old in sorted(EXAMPLE.glob("alpaca-smollm2/*/allocation.json")):  # recorded before it was kept
        assert read_allocation(old).strategy is None


@pytest.mark.parametrize(
    ("text", "why"),
    [("{", "damaged"), ("[1]", "not a mapping"), ('{"modules": [{"rank": 1}]}', "strategy")],
)
def test_a_damaged_file_is_one_store_error(tmp_path, text, why):
    path = tmp_path / "allocation.json"
    path.write_text(text)
    with pytest.raises(StoreError, match=f"allocation.json is damaged.*{why}|{why}"):
        read_allocation(path)
    with pytest.raises(StoreError, match="missing"):
        read_allocation(tmp_path / "none.json")
