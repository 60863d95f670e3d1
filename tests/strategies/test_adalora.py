"""AdaLoRA on a tiny config-built GPT-2 (Conv1D) with a plain loop: masks shrink ranks to the budget,
the orthogonality loss is PEFT's, and the callback's state makes a resumed run exact."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from peft import get_peft_model
from strategy_fixtures import budget_for, gpt2_modules
from tiny_models import tiny_gpt2, token_batches

from loralab.callbacks import TrainState
from loralab.strategies import RankAllocation, Signals, get_strategy, parse_options
from loralab.strategies.adalora.callback import AdaLoraCallback
from loralab.strategies.adalora.loss import adalora_model, adalora_orth_loss
from loralab.strategies.adalora.peft_config import build_adalora_config

TOTAL = 20
BATCHES = token_batches(5)


@dataclass
class Rig:
    allocation: RankAllocation
    model: torch.nn.Module
    callback: AdaLoraCallback
    optimizer: torch.optim.Optimizer


def make_rig(min_rank: int = 0, **options: object) -> Rig:
    s = get_strategy("adalora")
    modules = gpt2_modules()
    opts = parse_options(s, {"trajectory_every": 5, **options})
    allocation = s.allocate(modules, budget_for("r4", modules), Signals(), opts, min_rank=min_rank)
    cfg = build_adalora_config(allocation, TOTAL, alpha=8.0, dropout=0.0, fan_in_fan_out=True)
    torch.manual_seed(0)
    model = get_peft_model(tiny_gpt2(), cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    return Rig(allocation, model, AdaLoraCallback(allocation, TOTAL), torch.optim.AdamW(params, lr=2e-2))


def lm_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The loop's own loss (no labels reach PEFT, so its orth term is not added there)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), batch["labels"][:, 1:].flatten())


def train(rig: Rig, start: int, stop: int) -> None:
    """The loop's order of hooks: step, then on_before_zero_grad with state.step counting it, then zero."""
    state = TrainState(step=start, max_steps=TOTAL, model=rig.model, optimizer=rig.optimizer)
    rig.model.train()
    rig.callback.on_train_begin(state)
    while state.step < stop:
        loss = lm_loss(rig.model, BATCHES[state.step % len(BATCHES)])
        orth = adalora_orth_loss(rig.model)
        assert orth is not None
        (loss + orth).backward()
        rig.optimizer.step()
        state.step += 1
        rig.callback.on_before_zero_grad(state)
        rig.optimizer.zero_grad()
    if stop == TOTAL:
        rig.callback.on_train_end(state)


def test_ranks_shrink_to_the_parameter_budget() -> None:
    rig = make_rig()
    a = rig.allocation
    assert sum(p.numel() for p in rig.model.parameters() if p.requires_grad) == a.params
    train(rig, 0, TOTAL)
    cb = rig.callback
    assert cb.peak_params == a.params
    final = cb.final_rank_allocation()
    assert final.budget_status == "PASS", final.to_dict()
    assert a.budget.params - final.tolerance <= final.params <= a.budget.params
    assert sum(final.ranks.values()) < sum(a.ranks.values())
    assert len(set(final.ranks.values())) > 1, "AdaLoRA moved rank between modules"
    traj = cb.trajectory
    assert traj[0]["step"] == 0 and traj[0]["params"] == a.params and traj[-1]["step"] == TOTAL
    assert traj[-1]["ranks"] == cb.final_allocation() and traj[-1]["scheduled_budget"] == a.budget.params
    assert [t["step"] for t in traj] == sorted({0, 5, 10, 15, 20, cb.schedule.final_mask_step + 1})
    assert traj[-1]["params"] < traj[0]["params"]
    # After the final mask the masked singular values stay zero.
    ada = adalora_model(rig.model)
    for name, mask in ada.peft_config["default"].rank_pattern.items():
        e = dict(ada.model.named_parameters())[name].detach().view(-1)
        assert torch.all(e[~torch.tensor(mask)] == 0)
    record = cb.record()
    assert record["final"]["achieved_params"] == final.params and record["peak_params"] == a.params


def test_saved_adapter_holds_exactly_the_final_ranks(tmp_path: Path) -> None:
    import warnings

    from peft import PeftModel

    from loralab.adapters import save_adapter

    rig = make_rig()
    train(rig, 0, TOTAL)
    final = rig.callback.final_rank_allocation()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_adapter(rig.model, tmp_path)  # as a run saves it: a rank-0 module warns nothing
    loaded = PeftModel.from_pretrained(tiny_gpt2(), str(tmp_path))
    adapter = sum(p.numel() for n, p in loaded.named_parameters() if "lora_" in n)
    assert adapter == final.params
    batch = BATCHES[0]
    rig.model.eval()
    assert torch.allclose(lm_loss(loaded, batch), lm_loss(rig.model, batch), atol=1e-5)


def test_min_rank_is_kept_in_every_module() -> None:
    rig = make_rig(min_rank=2)
    train(rig, 0, TOTAL)
    final = rig.callback.final_rank_allocation()
    assert min(final.ranks.values()) >= 2 and final.budget_status == "PASS"


def test_rank_budget_mode_keeps_pefts_triplet_budget() -> None:
    rig = make_rig(budget_mode="ranks")
    train(rig, 0, TOTAL)
    final = rig.callback.final_allocation()
    assert sum(final.values()) == rig.callback.schedule.final_total_rank


def test_orth_loss_is_what_peft_adds_with_labels() -> None:
    rig = make_rig()
    with torch.no_grad():  # move away from the identity-free init so the penalty is not trivial
        for p in rig.model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    batch = BATCHES[0]
    ada = adalora_model(rig.model)
    with_reg = rig.model(**batch).loss  # PeftModel -> AdaLoraModel.forward adds the penalty
    plain = ada.model(**batch).loss
    orth = adalora_orth_loss(rig.model)
    assert orth is not None and orth.requires_grad
    assert (with_reg - plain).item() == pytest.approx(orth.item(), rel=1e-5)
    assert adalora_orth_loss(tiny_gpt2()) is None


def roundtrip(obj: object) -> object:
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


@pytest.mark.parametrize("stop_at", [8, 17])  # during budgeting, and after the final mask
def test_resume_from_callback_state_is_exact(stop_at: int) -> None:
    straight = make_rig()
    train(straight, 0, TOTAL)

    first = make_rig()
    train(first, 0, stop_at)
    saved = roundtrip(
        {
            "weights": {n: p.detach().clone() for n, p in first.model.named_parameters() if p.requires_grad},
            "optimizer": first.optimizer.state_dict(),
            "callback": first.callback.state_dict(),
            "rng": torch.get_rng_state(),  # GPT-2's own dropout draws from it, as in the loop's checkpoint
        }
    )
    resumed = make_rig()
    with torch.no_grad():
        params = dict(resumed.model.named_parameters())
        for n, t in saved["weights"].items():
            params[n].copy_(t)
    resumed.optimizer.load_state_dict(saved["optimizer"])
    resumed.callback.load_state_dict(saved["callback"])  # before on_train_begin, as the loop does
    torch.set_rng_state(saved["rng"])
    train(resumed, stop_at, TOTAL)

    a = dict(straight.model.named_parameters())
    for n, p in resumed.model.named_parameters():
        if p.requires_grad:
            assert torch.equal(p, a[n]), n
    assert resumed.callback.final_allocation() == straight.callback.final_allocation()
    assert resumed.callback.trajectory == straight.callback.trajectory


def test_select_triplets_keeps_the_best_that_fit_then_swaps_to_fill() -> None:
    from loralab.strategies.adalora.callback import select_triplets

    cost = {"cheap": 10, "dear": 30}
    scores = {"cheap": [9.0, 8.0, 1.0], "dear": [5.0, 4.0, 3.0]}
    # By score: cheap 9, cheap 8, dear 5, dear 4 -> 10 + 10 + 30 + 30 = 80 fits 85.
    assert select_triplets(scores, cost, 85, 0) == {"cheap": 2, "dear": 2}
    assert select_triplets(scores, cost, 85, 0) == select_triplets(scores, cost, 85, 0)
    # min_rank keeps each module's best first, even at a lower score.
    assert select_triplets(scores, cost, 40, 1) == {"cheap": 1, "dear": 1}
    # Greedy keeps the three cheap ones (30) and the dear one no longer fits 58: 28 left, above the
    # tolerance of one cheap rank, so a cheap triplet is swapped for the dear one (50).
    got = select_triplets({"cheap": [9.0, 8.0, 7.0], "dear": [1.0]}, cost, 58, 0)
    spent = got["cheap"] * 10 + got["dear"] * 30
    assert spent == 50 and got == {"cheap": 2, "dear": 1}, "a cheap triplet was swapped for the dear one"
