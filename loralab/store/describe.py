"""`loralab show`: a short human description of one run directory, from its files only."""

from __future__ import annotations

from pathlib import Path

from loralab.results.allocation import read_allocation
from loralab.store.rundir import RunDir


def describe_run(path: Path) -> str:
    """A short human description of a run directory (StoreError if it is not one)."""
    rd = RunDir(Path(path))
    cfg = rd.read_config()
    status = rd.read_status()
    lines = [f"run {rd.run_id} (study {rd.study}): {status.get('state')}"]
    if status.get("error"):
        lines.append(f"  error: {status['error']}")
    lines.append(
        f"  model {cfg.model.name}  data {cfg.data.source}  strategy {cfg.lora.strategy}"
        f"  budget {cfg.lora.budget}  seed {cfg.train.seed}"
    )
    if rd.allocation.exists():
        final = read_allocation(rd.allocation).final  # a StoreError names a damaged file
        ranks = [m.rank for m in final.modules]
        budget = final.budget.params if final.budget else "?"
        if ranks:
            lines.append(
                f"  allocation: {len(ranks)} modules, rank {min(ranks)}..{max(ranks)}"
                f" (mean {sum(ranks) / len(ranks):.2f}); {final.achieved_params} of {budget}"
                f" params ({final.budget_status or '?'})"
            )
    steps = [m for m in rd.metrics_rows() if m.type == "train" and m.loss is not None]
    if steps:
        lines.append(f"  steps logged {steps[-1].step}  last train loss {steps[-1].loss:.4f}")
    if rd.eval.exists():
        e = rd.read_record()
        lines.append(
            f"  eval loss {e.base_eval_loss:.4f} -> {e.eval_loss:.4f} (ppl {e.eval_ppl:.3f});"
            f" trainable {e.trainable_params} of budget {e.budget_params};"
            f" wall {e.total_wall_s:.1f}s"
        )
    return "\n".join(lines)
