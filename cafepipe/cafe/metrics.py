"""Metrics computed the same way by the generator's ground truth and by every insights engine."""

from __future__ import annotations


def conversion_rate(purchasers: int, menu_visitors: int) -> float:
    """Share of menu visitors who ordered, rounded to 4 decimals (0.0 with no menu visitors)."""
    if menu_visitors <= 0:
        return 0.0
    return round(purchasers / menu_visitors, 4)
