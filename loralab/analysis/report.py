"""`analysis/report.html`: one self-contained page (figures inline, no network, no server).

The setup and the verdicts with their intervals first (report_head.py), then figures, sortable
tables, the coverage table and a drill-down per run (config, allocation heatmap, training curve);
inputs are named there, never located (no local path). Deterministic: no timestamps, stable order.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from loralab.analysis.figures import figure_caption
from loralab.analysis.load import StudyData
from loralab.analysis.report_head import head_html
from loralab.analysis.schema import StudyStats
from loralab.analysis.setup import named_config, named_value
from loralab.analysis.tables import Table, all_tables
from loralab.modules import in_model_order
from loralab.store import atomic_write_text

ASSETS = resources.files("loralab") / "assets"
EMPTY_WITHOUT_COMPARISONS = ("comparisons", "tests", "per_seed")  # tables left out when they have no row


def write_report(stats: StudyStats, data: StudyData, out: Path) -> Path:
    """Write `<out>/report.html` from the stats and the figures already under `out`."""
    parts = [f"<h1>Study {_e(stats.study)}</h1>", head_html(stats, data)]
    parts.append("<h2>Figures</h2><div class='figs'>")
    for name, files in stats.artifacts.figures.items():
        png = next((f for f in files if f.endswith(".png")), None)
        if png is None:
            continue
        data_uri = base64.b64encode((out / png).read_bytes()).decode()
        parts.append(
            f"<figure><img alt='{_e(name)}' src='data:image/png;base64,{data_uri}'>"
            f"<figcaption>{_e(figure_caption(name, stats))}</figcaption></figure>"
        )
    parts.append("</div>")
    for table in all_tables(stats):
        if not table.rows and table.name in EMPTY_WITHOUT_COMPARISONS:
            continue  # the head already says why there is nothing to compare
        parts.append(f"<h2 id='{table.name}'>{_e(table.caption)}</h2>{_html_table(table)}")
    parts.append("<h2>Runs</h2><p class='note'>Click a run for its config, allocation and curve.</p>")
    parts.append(_runs(data))
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>loralab study {_e(stats.study)}</title><style>{_asset('report.css')}</style></head><body>"
        + "\n".join(parts)
        + f"<script>{_asset('report.js')}</script></body></html>\n"
    )
    path = out / "report.html"
    atomic_write_text(path, page)
    return path


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in t.header)
    body = []
    for i, row in enumerate(t.rows):
        cells = []
        for j, v in enumerate(row):
            cls = " class='num'" if _numeric(v) else ""
            text = f"<b>{_e(v)}</b>" if (i, j) in t.bold else _e(v)
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<p class='note'>{_e(n)}</p>" for n in t.notes)
    return (
        f"<table class='sortable'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{notes}"
    )


def _runs(data: StudyData) -> str:
    train = data.curves[data.curves["kind"] == "train"] if len(data.curves) else data.curves
    curves = {rid: g for rid, g in train.groupby("run_id", sort=False)} if len(train) else {}
    allocs = (
        {rid: g for rid, g in data.allocations.groupby("run_id", sort=False)} if len(data.allocations) else {}
    )
    out = []
    for _, r in data.runs.iterrows():
        what = ", ".join(f"{k}={named_value(k, r[k])}" for k in data.varied if k in r)
        loss = (
            ""
            if r["eval_loss"] is None or pd.isna(r["eval_loss"])
            else f", eval loss {float(r['eval_loss']):.4f}"
        )
        fields = {k: named_value(k, _plain(r[k])) for k in r.index if k != "analysable"}
        fields["error"] = _unlocated(str(fields.get("error") or ""), data)
        body = f"<pre>{_e(json.dumps(fields, indent=1, sort_keys=True, default=str))}</pre>"
        config = data.configs.get(r["run_id"])
        if config:
            text = yaml.safe_dump(named_config(config), sort_keys=False)
            body += f"<details><summary>resolved config</summary><pre>{_e(text)}</pre></details>"
        if r["run_id"] in allocs:
            body += _heatmap(allocs[r["run_id"]])
        if r["run_id"] in curves:
            body += _sparkline(curves[r["run_id"]])
        out.append(
            f"<details><summary>{_e(r['run_id'])} — {_e(what)} — {_e(str(r['state']))}{_e(loss)}</summary>"
            f"{body}</details>"
        )
    return "\n".join(out)


def _unlocated(text: str, data: StudyData) -> str:
    """A message with the store's location cut out: paths inside the study read from its name."""
    return text.replace(str(data.directory), data.name).replace(str(data.directory.parent), "<store>")


def _heatmap(alloc: pd.DataFrame) -> str:
    grid = alloc.pivot_table(index="layer", columns="kind", values="rank", aggfunc="sum")
    grid = grid.reindex(columns=in_model_order(alloc["kind"])).sort_index(ascending=False)
    vmax = max(1.0, float(np.nanmax(grid.to_numpy(float))))
    head = "<tr><td></td>" + "".join(f"<td title='{_e(k)}'>{_e(k[:6])}</td>" for k in grid.columns) + "</tr>"
    rows = []
    for layer, row in grid.iterrows():
        cells = []
        for v in row:
            shade = 0 if pd.isna(v) else int(230 - 180 * float(v) / vmax)
            txt = "" if pd.isna(v) else str(int(v))
            colour = "#fff" if shade < 120 else "#000"
            cells.append(
                f"<td style='background:rgb({shade},{shade + 10},{min(255, shade + 60)});"
                f"color:{colour}'>{txt}</td>"
            )
        rows.append(f"<tr><td>{layer}</td>{''.join(cells)}</tr>")
    return (
        f"<p class='note'>Rank per layer × module kind</p><table class='heat'>{head}{''.join(rows)}</table>"
    )


def _sparkline(curve: pd.DataFrame, w: int = 320, h: int = 90) -> str:
    x, y = curve["step"].to_numpy(float), curve["loss"].to_numpy(float)
    if len(x) < 2:
        return ""
    sx = (x - x.min()) / max(x.max() - x.min(), 1e-12) * (w - 10) + 5
    sy = h - 5 - (y - y.min()) / max(y.max() - y.min(), 1e-12) * (h - 10)
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(sx, sy, strict=True))
    return (
        f"<p class='note'>Training loss {y[0]:.3f} → {y[-1]:.3f} over {int(x[-1])} steps</p>"
        f"<svg width='{w}' height='{h}' role='img' aria-label='training loss'>"
        f"<polyline fill='none' stroke='#0072B2' stroke-width='1.5' points='{pts}'/></svg>"
    )


def _numeric(v: str) -> bool:
    try:
        float(v.replace(",", "").rstrip("*‡").replace("<", ""))
        return True
    except ValueError:
        return False


def _plain(v: object) -> object:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _asset(name: str) -> str:
    return (ASSETS / name).read_text()
