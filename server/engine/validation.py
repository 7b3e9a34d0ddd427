"""Checks of single request values; each failure is an InvalidInput naming the field."""
from __future__ import annotations

import math
from numbers import Integral, Real

from .errors import InvalidInput, shown


def check_int(name: str, value, minimum: int, maximum: int) -> int:
    """`value` as an int if it is an integer in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not minimum <= value <= maximum:
        raise InvalidInput(name, f"must be an integer in [{minimum}, {maximum}], got {shown(value)}")
    return int(value)


def check_number(name: str, value, minimum: float = 0.0, maximum: float = math.inf,
                 low_open: bool = False) -> float:
    """`value` as a float if it is a finite number in [minimum, maximum] ((minimum, ...] when low_open)."""
    ok = (not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
          and (value > minimum if low_open else value >= minimum) and value <= maximum)
    if not ok:
        interval = f"{'(' if low_open else '['}{minimum:g}, {maximum:g}]"
        raise InvalidInput(name, f"must be a finite number in {interval}, got {shown(value)}")
    return float(value)


def check_choice(name: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInput(name, f"must be one of {list(allowed)}, got {shown(value)}")
    return value
