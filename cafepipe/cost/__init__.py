"""`cafepipe cost`: what the café's stack costs on AWS per month and per year, offline.

`hcl` reads the rendered Terraform, `estimate` prices what it will create at the usage assumed,
`report` writes the result out, and `prices` is the dated table of AWS list prices.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cafepipe.cost.estimate import CostReport, estimate_cost, read_usage_file, validate_usage
    from cafepipe.cost.hcl import scan_stack
    from cafepipe.cost.report import format_usd, monthly_total_line, report_csv, report_table_rows

__all__ = [
    "CostReport",
    "estimate_cost",
    "format_usd",
    "monthly_total_line",
    "read_usage_file",
    "report_csv",
    "report_table_rows",
    "scan_stack",
    "validate_usage",
]

# Each name is imported from its module on first use: `cafepipe insights` reads
# `cafepipe.cost.prices` and should not pay for the HCL parser or the estimate.
_MODULE_OF = {
    "CostReport": "estimate",
    "estimate_cost": "estimate",
    "read_usage_file": "estimate",
    "validate_usage": "estimate",
    "scan_stack": "hcl",
    "format_usd": "report",
    "monthly_total_line": "report",
    "report_csv": "report",
    "report_table_rows": "report",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
