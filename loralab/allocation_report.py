"""Terminal tables for `loralab allocate` (an allocation as a layer x module-kind grid of ranks) and
`loralab strategies` (every registered strategy, its signals and options)."""

from __future__ import annotations

from rich.table import Table

from loralab.modules import KIND_FAMILY
from loralab.strategies import available, get_strategy
from loralab.strategies.base import RankAllocation

_KIND_ORDER = {k: i for i, k in enumerate(KIND_FAMILY)}
_STATUS_STYLE = {"PASS": "bold green", "OVER": "bold red", "UNDER": "bold yellow", "DYNAMIC": "bold cyan"}


def _status_text(allocation: RankAllocation) -> str:
    status = allocation.budget_status
    if status == "DYNAMIC":
        return f"[{_STATUS_STYLE[status]}]DYNAMIC[/]: initial ranks; the budget is checked on the final ones"
    lower = allocation.budget.params - allocation.tolerance
    bounds = f"{lower:,} <= params <= {allocation.budget.params:,}"
    if status == "PASS":
        return f"[{_STATUS_STYLE[status]}]PASS[/] ({bounds})"
    return f"[{_STATUS_STYLE[status]}]FAIL[/] ({status.lower()}: wanted {bounds})"


def allocation_table(allocation: RankAllocation) -> Table:
    """Ranks by layer (rows) and module kind (columns), parameters per layer and kind, the budget check."""
    modules = allocation.modules
    kinds = sorted({m.kind for m in modules}, key=lambda k: (_KIND_ORDER.get(k, len(_KIND_ORDER)), k))
    layers = sorted({m.layer for m in modules})
    cells: dict[tuple[int, str], list[int]] = {}
    layer_params = dict.fromkeys(layers, 0)
    kind_params = dict.fromkeys(kinds, 0)
    for m in modules:
        r = allocation.ranks[m.name]
        cells.setdefault((m.layer, m.kind), []).append(r)
        layer_params[m.layer] += r * allocation.rank_cost(m)
        kind_params[m.kind] += r * allocation.rank_cost(m)
    b, achieved = allocation.budget, allocation.params
    title = f"{allocation.strategy} at {b.spec}"
    table = Table(title=title, show_footer=True, caption_justify="left")
    table.add_column("layer", footer="params", justify="right")
    for k in kinds:
        table.add_column(k, footer=f"{kind_params[k]:,}", justify="right")
    table.add_column("params", footer=f"{achieved:,}", justify="right")
    for layer in layers:
        row = [str(layer) if layer >= 0 else "-"]
        for k in kinds:
            ranks = cells.get((layer, k))
            row.append("/".join(str(r) for r in ranks) if ranks else "")
        row.append(f"{layer_params[layer]:,}")
        table.add_row(*row)
    ratio = achieved / b.params if b.params else float("nan")
    lines = [
        f"budget {b.spec} = {b.params:,} params; achieved {achieved:,} (ratio {ratio:.4f}); "
        + _status_text(allocation)
    ]
    if allocation.dynamic:
        lines.append(f"peak trainable params {achieved:,} (the initial ranks)")
    if allocation.note:
        lines.append(f"[yellow]note:[/] {allocation.note}")
    table.caption = "\n".join(lines)
    return table


def strategies_table() -> Table:
    """Every registered strategy: name with kind and signals, then description and options with defaults."""
    table = Table(title="rank-allocation strategies", show_lines=True)
    table.add_column("strategy", no_wrap=True)
    table.add_column("description and options (default)", overflow="fold")
    for name in available():
        s = get_strategy(name)
        kind = "dynamic" if s.dynamic else "static"
        needs = f", needs {', '.join(sorted(s.needs))}" if s.needs else ""
        opts = ", ".join(f"{k}={f.default!r}" for k, f in s.Options.model_fields.items()) or "none"
        table.add_row(f"[bold]{name}[/]\n[dim]{kind}{needs}[/]", f"{s.description}\n[dim]options: {opts}[/]")
    return table
