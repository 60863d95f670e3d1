"""A small real study directory for the paper tests: run specs, stats.json (through the schema) and
figures written with matplotlib, as `loralab analyze` would leave them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from loralab.analysis.schema import (
    Artifacts,
    CellSummary,
    Comparison,
    Convergence,
    CoverageRow,
    Interval,
    SeedDifference,
    Settings,
    StudyStats,
    TestResult,
)
from loralab.config import RunConfig

SEEDS = (0, 1, 2)


def _interval(lo: float, hi: float, method: str = "two-level bootstrap") -> Interval:
    return Interval(low=lo, high=hi, method=method)


def _test(name: str, p: float | None, n: int) -> TestResult:
    level = "example" if name == "example_permutation" else "seed"
    return TestResult(name=name, level=level, answers="...", statistic=0.1, p_value=p, n=n, exact=False)


def make_stats(
    study: str,
    strategies: list[str],
    baseline: str,
    significant: dict[str, bool],
    seeds: tuple[int, ...] = SEEDS,
) -> StudyStats:
    """stats.json for `strategies` vs `baseline`; `significant`: verdict better, else unresolved."""
    summaries, comparisons, coverage = [], [], []
    for i, s in enumerate(strategies):
        loss = 2.0 - 0.0123 * i
        summaries.append(
            CellSummary(
                cell={"lora.strategy": s},
                label=s,
                strategy=s,
                n_seeds=len(seeds),
                seeds=list(seeds),
                n_examples=64,
                mean=loss,
                sd=0.00321,
                shown=2.718281828**loss,
                t_ci=_interval(loss - 0.01, loss + 0.01, "t over seeds"),
                bootstrap_ci=_interval(loss - 0.0111, loss + 0.0122),
                shown_ci=_interval(2.718281828 ** (loss - 0.0111), 2.718281828 ** (loss + 0.0122)),
                trainable_params=123456.0,
                # a dynamic strategy (AdaLoRA) trains more parameters than its final ranks keep
                peak_trainable_params=185184.0 if s == "adalora" else 123456.0,
                base=2.5,
            )
        )
        coverage.append(
            CoverageRow(
                cell={"lora.strategy": s},
                label=s,
                strategy=s,
                expected_seeds=list(seeds),
                done=list(seeds),
                failed=[],
                running=[],
                pending=[],
                missing=[],
                complete=True,
            )
        )
        if s == baseline:
            continue
        d = -0.0123 * i
        sig = significant.get(s, False)
        comparisons.append(
            Comparison(
                id=f"{s} vs {baseline} | all",
                kind="vs_baseline",
                context={},
                context_label="",
                a=s,
                b=baseline,
                n_seeds=len(seeds),
                seeds=list(seeds),
                n_examples=64,
                value_a=2.0 + d,
                value_b=2.0,
                difference=d,
                difference_ci=_interval(d - 0.004, d + 0.0035, "t over per-seed differences, simultaneous"),
                difference_t_ci=_interval(d - 0.005, d + 0.005, "t over seeds"),
                effect=2.718281828**d,
                example_ci=_interval(d - 0.002, d + 0.002),
                effect_ci=_interval(2.718281828 ** (d - 0.004), 2.718281828 ** (d + 0.0035)),
                seed_t=None,
                seed_sign_flip=_test("seed_sign_flip", 0.25, 3),
                example_permutation=_test("example_permutation", 0.0004 if sig else 0.3123, 64),
                min_sign_flip_p=0.25,
                primary_test="seed_t",
                p_primary=0.0004 if sig else 0.3123,
                p_adjusted=0.0008 if sig else 0.6246,
                p_equivalence=0.5,
                margin=0.00995,
                verdict="better" if sig else "unresolved",
                seeds_to_resolve=None if sig else 7,
                seeds_to_resolve_range=None if sig else (4, 19),
                caveat=None,
                g_z=-1.234 if sig else None,
                share_seeds_better=1.0,
                prob_improvement=0.99,
                win_rate=0.6,
                params_a=123000.0,
                params_b=123456.0,
                per_seed=[
                    SeedDifference(seed=k, run_a="a", run_b="b", value_a=2.0 + d, value_b=2.0, difference=d)
                    for k in seeds
                ],
            )
        )
    return StudyStats(
        study=study,
        settings=Settings(),
        varied=["lora.strategy", "train.seed"],
        cell_fields=["lora.strategy"],
        baseline=baseline,
        n_runs=len(strategies) * len(seeds),
        n_done=len(strategies) * len(seeds),
        summaries=summaries,
        comparisons=comparisons,
        family_size=len(comparisons),
        margin=0.00995,
        margin_spec="1%",
        simultaneous_confidence=0.95,
        coverage=coverage,
        complete=True,
        artifacts=Artifacts(
            figures={"eval_loss": ["figures/eval_loss.pdf", "figures/eval_loss.png"]},
            tables={},
        ),
    )


def _figure(analysis: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (analysis / "figures").mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.plot([0, 1, 2], [2.0, 1.99, 1.98], marker="o")
    ax.set_xlabel("strategy")
    ax.set_ylabel("eval loss")
    fig.tight_layout()
    fig.savefig(analysis / "figures" / "eval_loss.pdf", metadata={"CreationDate": None})
    fig.savefig(analysis / "figures" / "eval_loss.png", dpi=50)
    plt.close(fig)


def make_study(
    root: Path,
    study: str = "demo",
    strategies: tuple[str, ...] = ("uniform", "linear-decay", "attention-heavy"),
    baseline: str = "uniform",
    significant: dict[str, bool] | None = None,
    paper: dict | None = None,
    model: str = "smollm2-135m",
    data_source: str | None = None,
    convergence: Convergence | None = None,
    seeds: tuple[int, ...] = SEEDS,
) -> Path:
    """Write `<root>/<study>/` with run specs and an analysis; returns the study directory."""
    study_dir = root / study
    for s in strategies:
        for seed in seeds:
            cfg = RunConfig.model_validate(
                {
                    "model": {"name": model},
                    **({"data": {"source": data_source}} if data_source else {}),
                    "lora": {"strategy": "uniform", "budget": "r8"},
                    "train": {"seed": seed, "max_steps": 40, "lr": 3e-4},
                    "output": {"study": study},
                }
            )
            spec_cfg = cfg.model_dump(mode="json")
            spec_cfg["lora"]["strategy"] = s  # user strategy names may not be registered here
            run_id = hashlib.sha256(f"{s}|{seed}".encode()).hexdigest()[:12]
            d = study_dir / run_id
            d.mkdir(parents=True)
            spec = {
                "run_id": run_id,
                "config": spec_cfg,
                "provenance": {
                    "git_commit": "0123abc",
                    "packages": {"loralab": "0.1.0", "torch": "2.5.0"},
                    "hardware": {"cpu": "Test CPU"},
                },
            }
            (d / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
            (d / "status.json").write_text('{"state": "done"}')
    if paper is not None:  # the saved study record's `paper:` section, as `loralab study` writes it
        record = {"name": study, "baseline": baseline, "definition": {"name": study, "paper": paper}}
        (study_dir / "study.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    analysis = study_dir / "analysis"
    analysis.mkdir(parents=True)
    stats = make_stats(study, list(strategies), baseline, significant or {"linear-decay": True}, seeds)
    stats = stats.model_copy(update={"convergence": convergence})
    (analysis / "stats.json").write_text(stats.model_dump_json(indent=2))
    _figure(analysis)
    return study_dir
