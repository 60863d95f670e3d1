"""One fixed, colour-blind-safe colour per strategy, the same in every figure and every study.

Colours are Okabe & Ito (2008), "Color Universal Design", then Paul Tol's muted scheme for more
strategies. A built-in strategy keeps its position in `BUILTIN` (the sorted names of the strategies
loralab ships); any other name gets a slot from a stable hash of its name, so adding a strategy never
recolours the others.
"""

from __future__ import annotations

import zlib

# Okabe–Ito without its yellow (#F0E442), which is hard to see on white at line widths.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
TOL_MUTED = ("#882255", "#332288", "#999933", "#117733", "#CC6677", "#44AA99", "#88CCEE", "#DDCC77")
COLOURS = OKABE_ITO + TOL_MUTED
# Sorted names of the built-in strategies (loralab/strategies/); uniform first as the usual baseline.
BUILTIN = (
    "uniform",
    "adalora",
    "attention-heavy",
    "gradient",
    "linear-decay",
    "linear-increase",
    "middle-heavy",
    "mlp-heavy",
    "random",
    "spectrum",
)
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h")


def strategy_colour(name: str) -> str:
    """The strategy's colour (hex)."""
    if name in BUILTIN:
        return COLOURS[BUILTIN.index(name)]
    return COLOURS[len(BUILTIN) + zlib.crc32(name.encode()) % (len(COLOURS) - len(BUILTIN))]


def strategy_marker(name: str) -> str:
    """A marker shape per strategy, so that figures also read in greyscale."""
    slot = BUILTIN.index(name) if name in BUILTIN else zlib.crc32(name.encode())
    return MARKERS[slot % len(MARKERS)]
