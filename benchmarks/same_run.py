"""Compare two run directories of the same config bit for bit: prints IDENTICAL or DIFFERENT.

Compared: the adapter's safetensors bytes, every loss/ppl in eval.json, and the loss column of
metrics.jsonl (timings, memory and paths differ between any two runs and are left out).
Usage: python benchmarks/same_run.py ROOT_A ROOT_B   (each an output.root holding one run)
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def run_dir(root: Path) -> Path:
    dirs = [p.parent for p in root.glob("*/*/eval.json")]
    if len(dirs) != 1:
        sys.exit(f"DIFFERENT: expected one finished run under {root}, found {len(dirs)}")
    return dirs[0]


def facts(rd: Path) -> dict[str, object]:
    ev = json.loads((rd / "eval.json").read_text())
    adapter = (rd / "adapter" / "adapter_model.safetensors").read_bytes()
    steps = [json.loads(x) for x in (rd / "metrics.jsonl").read_text().splitlines()]
    out: dict[str, object] = {
        "adapter sha256": hashlib.sha256(adapter).hexdigest(),
        "metrics losses": [(m.get("loss"), m.get("grad_norm")) for m in steps],
    }
    out.update({k: v for k, v in ev.items() if "loss" in k or "ppl" in k})
    out["precision"] = ev.get("precision")
    return out


def main() -> int:
    a, b = (facts(run_dir(Path(p))) for p in sys.argv[1:3])
    diff = [k for k in a if a[k] != b.get(k)]
    print(f"precision {a['precision']}, eval_loss {a.get('eval_loss')!r} vs {b.get('eval_loss')!r}")
    print(f"adapter sha256 {a['adapter sha256'][:16]} vs {b['adapter sha256'][:16]}")
    print("IDENTICAL" if not diff else f"DIFFERENT: {', '.join(diff)}")
    return 0 if not diff else 1


if __name__ == "__main__":
    sys.exit(main())
