"""`adalora`: AdaLoRA (Zhang et al. 2023, arXiv:2303.10512), ranks decided during training; the method
and its equal-budget rule are described in `strategy.py`.

Everything AdaLoRA-specific lives in this package, behind the `Strategy` hooks (as PEFT keeps one
package per tuner); the run never names the method:

    schedule.py     options and the schedule, shared by the allocation and the hooks
    strategy.py     `allocate` (the initial allocation) and the hooks below
    peft_config.py  `peft_config` hook: PEFT's AdaLoraConfig
    callback.py     `training_callback` hook: drives the masks from the loop, reports the final
                    allocation (the one held to the budget), the peak and the rank trajectory
    loss.py         `extra_loss` hook: the orthogonality penalty

Importing the package registers the strategy and imports neither torch nor PEFT; the hooks do.
"""

from loralab.strategies.adalora.schedule import (
    E_PARAMS_PER_RANK,
    AdaLoraOptions,
    AdaLoraSchedule,
    adalora_rank_cost,
    adalora_schedule,
)
from loralab.strategies.adalora.strategy import AdaLora

__all__ = [
    "E_PARAMS_PER_RANK",
    "AdaLora",
    "AdaLoraOptions",
    "AdaLoraSchedule",
    "adalora_rank_cost",
    "adalora_schedule",
]
