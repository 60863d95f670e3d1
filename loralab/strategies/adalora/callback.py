"""AdaLoRA in the training loop: the callback that masks triplets and reports the final ranks.

Wiring, which the run does through the strategy's hooks (the loop calls `on_before_zero_grad` once
per optimizer step, after `optimizer.step()`, with `state.step` already counting that step):

    cfg = strategy.peft_config(allocation, total_step, lora, ...)   # build_adalora_config
    model = get_peft_model(base, cfg)             # trainable = allocation.params (the peak)
    callback = strategy.training_callback(allocation, total_step)   # AdaLoraCallback
    train(..., callbacks=[..., callback], extra_loss=strategy.extra_loss)   # adalora_orth_loss
    callback.final_rank_allocation()              # the allocation held to the budget

PEFT's `RankAllocator` counts its budget in triplets; `budget_mode: params` swaps in a subclass whose
budget is in parameters (see the package docstring). Checkpoints must save the raw trainable
tensors (masked triplets included), not `save_pretrained`, which truncates to the current pattern.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from peft import AdaLoraConfig
from peft.tuners.adalora import AdaLoraModel, RankAllocator
from torch import nn

from loralab.callbacks import TrainState
from loralab.strategies.adalora.loss import adalora_model
from loralab.strategies.adalora.schedule import E_PARAMS_PER_RANK, AdaLoraSchedule, adalora_schedule
from loralab.strategies.base import RankAllocation, RankCallback, tolerance_params
from loralab.strategies.budget import fill_and_swap


def _triplet_costs(model: nn.Module, adapter: str) -> dict[str, int]:
    """lora_E parameter name -> parameters per triplet (d_in + d_out + 1)."""
    params = dict(model.named_parameters())
    return {
        n: params[n.replace("lora_E", "lora_A")].shape[1] + params[n.replace("lora_E", "lora_B")].shape[0] + 1
        for n in params
        if f"lora_E.{adapter}" in n
    }


class ParamBudgetRankAllocator(RankAllocator):
    """PEFT's RankAllocator with a budget in parameters: the best-scoring triplets are kept while they fit."""

    def __init__(
        self, model: nn.Module, peft_config: AdaLoraConfig, adapter_name: str, *, budget: int, min_rank: int
    ):
        self.final_budget, self.min_rank = budget, min_rank
        super().__init__(model, peft_config, adapter_name)

    def _set_budget_scheduler(self, model: nn.Module) -> None:
        super()._set_budget_scheduler(model)
        self.cost = _triplet_costs(model, self.adapter_name)
        params = dict(model.named_parameters())
        self.init_bgt = sum(params[n].shape[0] * c for n, c in self.cost.items())
        self.target_bgt = self.final_budget

    def triplet_scores(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """lora_E name -> (r,) score: s(E) + mean s(row of A) + mean s(column of B), s = EMA ipt * unc."""
        out = {}
        for n in self.cost:
            s_a = self._element_score(n.replace("lora_E", "lora_A")).mean(dim=1)
            s_b = self._element_score(n.replace("lora_E", "lora_B")).mean(dim=0)
            out[n] = self._element_score(n).view(-1) + s_a + s_b
        return out

    def mask_to_budget(self, model: nn.Module, budget: int) -> dict[str, list[bool]]:
        scores = self.triplet_scores(model)
        ranked = {n: sorted(range(len(s)), key=lambda i, s=s: (-float(s[i]), i)) for n, s in scores.items()}
        kept = select_triplets(
            {n: [float(scores[n][i]) for i in order] for n, order in ranked.items()},
            self.cost,
            budget,
            self.min_rank,
        )
        pattern = {}
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n in kept:
                    keep = torch.zeros(p.shape[0], dtype=torch.bool)
                    keep[ranked[n][: kept[n]]] = True
                    p.masked_fill_(~keep.to(p.device).view(-1, 1), 0.0)
                    pattern[n] = keep.tolist()
        return pattern


def select_triplets(
    scores: dict[str, list[float]], cost: dict[str, int], budget: int, min_rank: int
) -> dict[str, int]:
    """How many of each module's triplets to keep (its best first; `scores` sorted descending).

    The top `min_rank` of every module first; then triplets in order of score while they fit the
    budget; then, while more than the tolerance is unspent, swaps of a module's worst kept triplet
    for another's best unkept, dearer one (the fullest such swap), each followed by a refill.
    """
    names = list(scores)
    k = {n: min(min_rank, len(scores[n])) for n in names}
    fill_and_swap(
        names,
        k,
        cost=cost,
        floor=dict(k),
        caps={n: len(scores[n]) for n in names},
        limit=budget,
        tol=tolerance_params(budget, min(cost.values())),
        priority=lambda n: scores[n][k[n]],  # the best unkept triplet
        swap_priority=lambda d, u: scores[u][k[u]] - scores[d][k[d] - 1],
    )
    return k


class RankBudgetRankAllocator(RankAllocator):
    """PEFT's RankAllocator with its triplet budget set exactly (not rounded to target_r x modules)."""

    def __init__(self, model: nn.Module, peft_config: AdaLoraConfig, adapter_name: str, *, total_rank: int):
        self.total_rank = total_rank
        super().__init__(model, peft_config, adapter_name)

    def _set_budget_scheduler(self, model: nn.Module) -> None:
        super()._set_budget_scheduler(model)
        self.target_bgt = self.total_rank


def _clone(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in tensors.items()}


class AdaLoraCallback(RankCallback):
    """Drives AdaLoRA's masks from the loop; records the rank trajectory, the peak and the final pattern."""

    def __init__(self, allocation: RankAllocation, total_step: int):
        self.allocation = allocation
        self.schedule: AdaLoraSchedule = adalora_schedule(allocation, total_step)
        self.trajectory: list[dict[str, Any]] = []
        self.peak_params = 0
        self._ada: AdaLoraModel | None = None
        self._pending: dict[str, Any] | None = None

    # -- loop hooks
    def on_train_begin(self, state: TrainState) -> None:
        self._install(state.model)

    def on_before_zero_grad(self, state: TrainState) -> None:
        ada = self._install(state.model)
        ada.update_and_allocate(state.step - 1)  # PEFT counts steps from 0; state.step includes this one
        s = self.schedule
        if state.step % s.trajectory_every == 0 or state.step - 1 == s.final_mask_step:
            self._record(state.step)

    def on_train_end(self, state: TrainState) -> None:
        if self._ada is not None:
            self._record(state.step)

    # -- resumable state
    def state_dict(self) -> dict[str, Any]:
        if self._ada is None:
            return dict(self._pending or {})
        alloc = self._ada.rankallocator
        return {
            "trajectory": [dict(t) for t in self.trajectory],
            "peak_params": self.peak_params,
            "rank_pattern": self._config().rank_pattern,
            "ipt": _clone(alloc.ipt),
            "exp_avg_ipt": _clone(alloc.exp_avg_ipt),
            "exp_avg_unc": _clone(alloc.exp_avg_unc),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._pending = dict(state)
        if self._ada is not None:
            self._apply(self._pending)

    # -- results
    def effective_ranks(self) -> dict[str, int]:
        """Current rank of every module: unmasked triplets of the latest pattern (init_r before any mask)."""
        init = {m.name: self.schedule.init_r for m in self.allocation.modules}
        pattern = self._config().rank_pattern if self._ada is not None else None
        if not pattern:
            return init
        for key, mask in pattern.items():
            init[re.sub(r"\.lora_E(\.[^.]+)?$", "", key)] = int(sum(bool(b) for b in mask))
        return init

    def final_allocation(self) -> dict[str, int]:
        """Module name -> final rank (call after training)."""
        return self.effective_ranks()

    def final_rank_allocation(self) -> RankAllocation:
        """The final ranks as a RankAllocation (cost counts E), the one the budget check applies to."""
        a = self.allocation
        return RankAllocation(
            ranks=self.final_allocation(),
            modules=a.modules,
            budget=a.budget,
            strategy=a.strategy,
            options=a.options,
            extra_params_per_rank=E_PARAMS_PER_RANK,
            details={**a.details, "peak_params": self.peak_params, "budget_mode": self.schedule.budget_mode},
        )

    def record(self) -> dict[str, Any]:
        """JSON-able record for allocation.json: initial and final allocations, peak, trajectory."""
        return {
            "initial": self.allocation.to_dict(),
            "final": self.final_rank_allocation().to_dict(),
            "peak_params": self.peak_params,
            "trajectory": self.trajectory,
        }

    # -- internals
    def _model(self) -> AdaLoraModel:
        if self._ada is None:
            raise RuntimeError("AdaLoraCallback has not seen the model yet (on_train_begin installs it)")
        return self._ada

    def _config(self) -> AdaLoraConfig:
        ada = self._model()
        return ada.peft_config[ada.trainable_adapter_name]

    def _install(self, model: nn.Module) -> AdaLoraModel:
        ada = adalora_model(model)
        if ada is self._ada:
            return ada
        name, s = ada.trainable_adapter_name, self.schedule
        cfg = ada.peft_config[name]
        if s.budget_mode == "params":
            alloc: RankAllocator = ParamBudgetRankAllocator(
                ada.model, cfg, name, budget=s.final_params, min_rank=s.min_rank
            )
        else:
            alloc = RankBudgetRankAllocator(ada.model, cfg, name, total_rank=s.final_total_rank)
        ada.rankallocator = alloc
        self._ada = ada
        self.peak_params = sum(p.numel() for p in ada.model.parameters() if p.requires_grad)
        if self._pending:
            self._apply(self._pending)
        elif not self.trajectory:
            self._record(0)
        return ada

    def _apply(self, state: dict[str, Any]) -> None:
        ada = self._model()
        alloc = ada.rankallocator
        device = next(ada.model.parameters()).device
        for key in ("ipt", "exp_avg_ipt", "exp_avg_unc"):
            setattr(alloc, key, {k: v.to(device) for k, v in state[key].items()})
        self._config().rank_pattern = state["rank_pattern"]
        self.trajectory = [dict(t) for t in state["trajectory"]]
        self.peak_params = max(self.peak_params, int(state["peak_params"]))
        self._pending = None

    def _record(self, step: int) -> None:
        if self.trajectory and self.trajectory[-1]["step"] == step:
            return
        ranks = self.effective_ranks()
        cost = {m.name: m.cost_per_rank + E_PARAMS_PER_RANK for m in self.allocation.modules}
        scheduled, _ = self._model().rankallocator.budget_schedule(max(0, step - 1))
        self.trajectory.append(
            {
                "step": step,
                "params": sum(ranks[n] * c for n, c in cost.items()),
                "scheduled_budget": int(scheduled),
                "budget_unit": "params" if self.schedule.budget_mode == "params" else "ranks",
                "ranks": ranks,
            }
        )
