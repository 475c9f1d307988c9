"""How metrics are shown to people: the one formatter behind the console, the report and the gate.

AP-like values are fractions in [0, 1] internally (``None`` where undefined); they are displayed
as percentage points. Undefined (None or NaN) shows as ``-``.
"""

from __future__ import annotations

import math


def missing(v) -> bool:
    """Undefined: None or a float NaN."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def pts(v: float | None, digits: int = 1, signed: bool = False, width: int = 0) -> str:
    """A fraction shown in percentage points (``0.3034`` -> ``"30.3"``), ``digits`` decimals, a sign
    where ``signed`` (for differences), right-aligned to ``width``; ``"-"`` where undefined."""
    if missing(v):
        return "-"
    return f"{100 * v:{'+' if signed else ''}{width or ''}.{digits}f}"
