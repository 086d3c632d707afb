"""The estimate as people read it: dollar amounts, the table's rows, CSV, `up`'s one-liner."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

from cafepipe.cost.prices import NoPriceError

if TYPE_CHECKING:
    from pathlib import Path

    from cafepipe.config import StackConfig
    from cafepipe.cost.estimate import CostReport

CSV_COLUMNS = ("service", "item", "quantity", "unit", "unit_price_usd", "monthly_usd")


def format_usd(amount: float) -> str:
    """Dollars with cents; sub-cent amounts keep four decimals so they do not read as $0.00."""
    if amount == 0:
        return "$0.00"
    if abs(amount) < 0.01:
        return f"${amount:.4f}"
    return f"${amount:,.2f}"


def format_unit_price(amount: float) -> str:
    """A unit price with the digits it needs: $0.30, $0.0042, $0.0000004."""
    text = f"{amount:.8f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"${whole}.{decimals.ljust(2, '0')}"


def format_quantity(quantity: float) -> str:
    """Whole numbers from 100 up, four significant digits below: 608,333, 2.068, 0.1953."""
    return f"{quantity:,.0f}" if quantity >= 100 else f"{quantity:,.4g}"


def report_csv(report: CostReport) -> str:
    """The line items as CSV, then the monthly, annual and multi-month totals."""
    data = report.to_dict()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in data["items"]:
        writer.writerow([item[column] for column in CSV_COLUMNS])
    writer.writerow(["Total", "per month", "", data["currency"], "", data["total_monthly_usd"]])
    writer.writerow(["Total", "per year", "", data["currency"], "", data["total_annual_usd"]])
    writer.writerow(
        [
            "Total",
            f"for {data['months']} months",
            "",
            data["currency"],
            "",
            data["total_for_months_usd"],
        ]
    )
    return buffer.getvalue()


def report_table_rows(report: CostReport) -> Iterator[tuple[str, ...]]:
    """The table's rows (service, item, quantity + unit, unit price, monthly), from to_dict()."""
    for item in report.to_dict()["items"]:
        yield (
            item["service"],
            item["item"],
            f"{format_quantity(item['quantity'])} {item['unit']}",
            format_unit_price(item["unit_price_usd"]),
            format_usd(item["monthly_usd"]),
        )


def monthly_total_line(config: StackConfig, terraform_dir: Path | None = None) -> str:
    """One line for `up` to print before asking: the estimated monthly and annual total.

    A region or instance type the price table lacks gives a line saying so (it must not stop
    `up`); a bad `[usage]` value in cafepipe.toml is still a usage error (exit 2).
    """
    # Imported here: the estimate words its line items with this module's formatters.
    from cafepipe.cost.estimate import estimate_cost

    try:
        report = estimate_cost(config, terraform_dir=terraform_dir)
    except NoPriceError as exc:
        return f"Estimated cost: not available ({exc.message})"
    return (
        f"Estimated cost: {format_usd(report.total_monthly_usd)}/month "
        f"({format_usd(report.total_annual_usd)}/year) in {report.region} at the usage in "
        f"cafepipe.toml [usage] or the defaults — details: cafepipe cost"
    )
