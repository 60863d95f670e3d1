"""`loralab show`: a short human description of one run directory, from its files only."""

from __future__ import annotations

from pathlib import Path

from loralab.errors import StoreError
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
        try:
            a = rd.read_json(rd.allocation)
            ranks = [m["rank"] for m in a["modules"]]
            lines.append(
                f"  allocation: {len(ranks)} modules, rank {min(ranks)}..{max(ranks)}"
                f" (mean {sum(ranks) / len(ranks):.2f}); {a['achieved_params']} of {a['budget']['params']}"
                f" params ({a.get('budget_status', '?')})"
            )
        except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as e:
            raise StoreError(f"{rd.allocation} is damaged ({type(e).__name__}); rerun the run") from None
    steps = [m for m in rd.read_metrics() if m.get("type") == "train"]
    if steps:
        lines.append(f"  steps logged {steps[-1]['step']}  last train loss {steps[-1]['loss']:.4f}")
    if rd.eval.exists():
        e = rd.read_record()
        lines.append(
            f"  eval loss {e.base_eval_loss:.4f} -> {e.eval_loss:.4f} (ppl {e.eval_ppl:.3f});"
            f" trainable {e.trainable_params} of budget {e.budget_params};"
            f" wall {e.total_wall_s:.1f}s"
        )
    return "\n".join(lines)
