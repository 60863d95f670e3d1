"""`TargetModule`: the plain description of one adaptable linear map that strategies allocate over.

Kinds are normalised roles so that strategies work alike on GPT-2/DialoGPT (fused `c_attn`, Conv1D),
Llama-style (`q_proj` ... `down_proj`) and other layouts. Each kind belongs to a family, `attn` or
`mlp` (or `other`), which is what coarse strategies such as attention-heavy look at.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

KIND_FAMILY: dict[str, str] = {
    "attn_qkv": "attn",
    "attn_q": "attn",
    "attn_k": "attn",
    "attn_v": "attn",
    "attn_out": "attn",
    "mlp_in": "mlp",
    "mlp_gate": "mlp",
    "mlp_up": "mlp",
    "mlp_out": "mlp",
    "other": "other",
}
FAMILIES = ("attn", "mlp", "other")


@dataclass(frozen=True, order=True)
class TargetModule:
    """One adaptable linear map: `name` in the model, its block index `layer`, role `kind`, shape."""

    name: str
    layer: int
    kind: str
    d_in: int
    d_out: int

    @property
    def family(self) -> str:
        """`attn`, `mlp` or `other`."""
        return KIND_FAMILY.get(self.kind, "other")

    @property
    def cost_per_rank(self) -> int:
        """Trainable parameters that one unit of LoRA rank costs here: d_in + d_out (A and B)."""
        return self.d_in + self.d_out

    @property
    def max_rank(self) -> int:
        """Largest meaningful rank: min(d_in, d_out)."""
        return min(self.d_in, self.d_out)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able form."""
        return {
            "name": self.name,
            "layer": self.layer,
            "kind": self.kind,
            "d_in": self.d_in,
            "d_out": self.d_out,
        }


def select_targets(modules: list[TargetModule], targets: tuple[str, ...]) -> list[TargetModule]:
    """Keep the modules whose kind or family is named in `targets` ('all' keeps every one)."""
    wanted = set(targets)
    if "all" in wanted:
        return list(modules)
    return [m for m in modules if m.kind in wanted or m.family in wanted]


def in_model_order(kinds: Iterable[str]) -> list[str]:
    """Distinct module kinds in the order they first appear in `kinds` (modules listed as the model
    holds them, as allocation.json records them): `attn_q`, `attn_k`, … before `mlp_out`."""
    return list(dict.fromkeys(kinds))
