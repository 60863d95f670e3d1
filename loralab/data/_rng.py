"""Private numpy generators keyed by seeds, so no data stage touches global RNG state."""

from __future__ import annotations

import numpy as np


def seeded_rng(*keys: int) -> np.random.Generator:
    """A generator fixed by integer keys (negative seeds allowed, unlike `default_rng`)."""
    return np.random.default_rng([k % 2**64 for k in keys])
