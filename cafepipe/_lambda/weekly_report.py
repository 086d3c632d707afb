"""The weekly report: a Lambda function the stack's schedule starts once a week.

It runs the headline Logs Insights queries over the last 7 days and the 7 days before, and
publishes a plain-text summary to the stack's alerts topic: visitors, orders, conversion, top
cities and items, the share of robots and probes, and what the queries cost.

Standard library and boto3 only: this file is the function's code. The queries are the
catalog's (`cafepipe.insights.queries`), written with the café's settings into
`report_config.json` beside this file by cafepipe's render, so there is one catalog.
`cafepipe report` runs the same functions from the owner's machine.

A query that fails, times out or is throttled does not stop the report: it is sent with the
figures that could be computed and says which are missing, and why.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

# The café's rules, one definition each: the zip carries cafepipe/cafe/catalog.py and
# metrics.py beside this file (standard library only); inside the package they are imported.
try:
    from cafepipe.cafe.catalog import parse_basket
    from cafepipe.cafe.metrics import conversion_rate
except ImportError:  # pragma: no cover - the Lambda runtime, where the zip is the path
    from catalog import parse_basket  # type: ignore[no-redef]
    from metrics import conversion_rate  # type: ignore[no-redef]

CONFIG_FILE = "report_config.json"
WEEK = timedelta(days=7)
WINDOWS = ("this", "previous")
# The catalog entries the report needs (cafepipe.insights.queries ids).
QUERY_IDS = (
    "totals",
    "menu_audience",
    "orders_placed",
    "status_classes",
    "bots",
    "scanners",
    "orders_by_city",
    "items_ordered",
)
DONE_STATES = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")
# Errors that mean "too many queries at once" (Logs Insights allows a few tens concurrently).
THROTTLED = ("LimitExceededException", "ThrottlingException", "TooManyRequestsException")
START_ATTEMPTS = 4
SHOWN = 5  # cities and items listed in the e-mail
SUBJECT_LIMIT = 99  # SNS: under 100 ASCII characters, no line breaks
# Time kept back from the function's timeout to publish the report.
PUBLISH_MARGIN_SECONDS = 15.0


@dataclass
class QueryRun:
    """Rows per (window, query id); why the others are missing; what was scanned."""

    rows: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    bytes_scanned: float = 0.0
    queries: int = 0


@dataclass
class Report:
    """What is published: the subject and message, and the figures behind them."""

    subject: str
    message: str
    figures: dict[str, dict[str, Any]]
    failures: list[str]
    window: dict[str, list[str]]
    queries: int
    bytes_scanned: float
    cost_usd: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "message": self.message,
            "window": self.window,
            "figures": self.figures,
            "failures": self.failures,
            "queries": self.queries,
            "bytes_scanned": self.bytes_scanned,
            "cost_usd": self.cost_usd,
        }


def load_settings(path: Path | None = None) -> dict[str, Any]:
    """The settings render wrote beside this file (log group, queries, menu, prices…)."""
    path = path or Path(__file__).with_name(CONFIG_FILE)
    settings: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return settings


def report_windows(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """The last 7 days up to `now`, and the 7 before; whole seconds, not overlapping.

    Logs Insights includes both ends of a range, so the earlier week ends a second before
    the later one starts.
    """
    end = now.astimezone(timezone.utc).replace(microsecond=0)
    return {
        "this": (end - WEEK, end),
        "previous": (end - 2 * WEEK, end - WEEK - timedelta(seconds=1)),
    }


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def _error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    message = str(error.get("Message", "")).strip()
    return f"{_error_code(exc)}: {message}" if message else _error_code(exc)


def run_queries(
    logs: Any,
    log_group: str,
    queries: Mapping[str, str],
    windows: Mapping[str, tuple[datetime, datetime]],
    *,
    poll_interval: float = 2.0,
    timeout: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> QueryRun:
    """Start every query for every window, then poll until each is done or time runs out.

    Throttled starts are retried (1 s, 2 s, 4 s) while there is time; a query still running
    at the deadline is stopped. Nothing raises: what went wrong is in `failures`.
    """
    run = QueryRun()
    deadline = clock() + timeout
    started: dict[tuple[str, str], str] = {}
    for window, (start, end) in windows.items():
        for query_id, query in queries.items():
            key = (window, query_id)
            for attempt in range(START_ATTEMPTS):
                try:
                    reply = logs.start_query(
                        logGroupName=log_group,
                        startTime=int(start.timestamp()),
                        endTime=int(end.timestamp()),
                        queryString=query,
                        limit=10000,
                    )
                except Exception as exc:  # botocore's ClientError, or no answer at all
                    retry = attempt + 1 < START_ATTEMPTS and clock() < deadline
                    if _error_code(exc) in THROTTLED and retry:
                        sleep(float(2**attempt))
                        continue
                    throttled = _error_code(exc) in THROTTLED
                    run.failures[key] = (
                        f"Logs Insights was throttled ({_error_code(exc)})"
                        if throttled
                        else f"the query could not start ({_error_text(exc)})"
                    )
                    break
                started[key] = str(reply["queryId"])
                run.queries += 1
                break
    pending = dict(started)
    while pending:
        for key, query_id in list(pending.items()):
            try:
                answer = logs.get_query_results(queryId=query_id)
            except Exception as exc:
                if _error_code(exc) in THROTTLED:
                    continue  # asked too often: ask again next round
                run.failures[key] = f"its results could not be read ({_error_text(exc)})"
                del pending[key]
                continue
            status = str(answer.get("status", "Unknown"))
            if status not in DONE_STATES:
                continue
            del pending[key]
            run.bytes_scanned += float((answer.get("statistics") or {}).get("bytesScanned", 0))
            if status != "Complete":
                run.failures[key] = f"the query ended {status}"
                continue
            run.rows[key] = [
                {
                    str(cell.get("field")): str(cell.get("value"))
                    for cell in result
                    if not str(cell.get("field", "")).startswith("@ptr")
                }
                for result in answer.get("results", [])
            ]
        if not pending:
            break
        if clock() >= deadline:
            for key, query_id in pending.items():
                run.failures[key] = f"the query was still running after {timeout:.0f} s"
                # It may have finished meanwhile: then there is nothing to stop.
                with contextlib.suppress(Exception):
                    logs.stop_query(queryId=query_id)
            break
        sleep(poll_interval)
    return run


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def _first(rows: list[dict[str, str]]) -> dict[str, str]:
    return rows[0] if rows else {}


def clean_text(value: Any, limit: int = 40) -> str:
    """A value from the log (a city name) made safe for one line of a plain-text e-mail."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value)).strip()
    return text[: limit - 1] + "…" if len(text) > limit else text


def items_from_baskets(
    rows: list[dict[str, str]], menu: Mapping[str, str], top: int
) -> list[list[Any]]:
    """`stats count(*) as orders by basket` rows → [[item, quantity, orders]], most sold first.

    A basket is `id:qty,id:qty`; one the site would refuse counts for nothing (the catalog's
    `parse_basket`, the rule the site and the insights use).
    """
    quantity: dict[str, int] = {}
    orders: dict[str, int] = {}
    for row in rows:
        count = _int(row.get("orders"))
        for item, qty in parse_basket(str(row.get("basket") or "")) or []:
            if item in menu:
                quantity[item] = quantity.get(item, 0) + qty * count
                orders[item] = orders.get(item, 0) + count
    ranked = sorted(quantity, key=lambda item: (-quantity[item], item))[:top]
    return [[item, quantity[item], orders[item]] for item in ranked]


def top_cities(rows: list[dict[str, str]], top: int) -> list[list[Any]]:
    """`stats count(*) as orders by city` rows → [[city, orders]], most orders first."""
    pairs: list[tuple[str, int]] = [
        (clean_text(row.get("city", "")), _int(row.get("orders")))
        for row in rows
        if row.get("city") not in (None, "", "-")
    ]
    pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    return [[city, orders] for city, orders in pairs[:top]]


def week_figures(
    run: QueryRun, window: str, menu: Mapping[str, str], top: int = 10
) -> dict[str, Any]:
    """One week's figures, keyed like the insights JSON; a figure whose query failed is None."""

    def rows(query_id: str) -> list[dict[str, str]] | None:
        return run.rows.get((window, query_id))

    figures: dict[str, Any] = {}
    totals = rows("totals")
    figures["requests"] = None if totals is None else _int(_first(totals).get("requests"))
    figures["unique_ips"] = None if totals is None else _int(_first(totals).get("unique_ips"))
    audience = rows("menu_audience")
    figures["menu_views"] = None if audience is None else _int(_first(audience).get("menu_views"))
    figures["menu_visitors"] = (
        None if audience is None else _int(_first(audience).get("menu_visitors"))
    )
    placed = rows("orders_placed")
    figures["order_requests"] = (
        None if placed is None else _int(_first(placed).get("order_requests"))
    )
    figures["purchasers"] = None if placed is None else _int(_first(placed).get("purchasers"))
    figures["conversion_rate"] = (
        None
        if audience is None or placed is None
        else conversion_rate(figures["purchasers"], figures["menu_visitors"])
    )
    classes = rows("status_classes")
    figures["server_errors"] = (
        None
        if classes is None
        else sum(_int(row.get("requests")) for row in classes if row.get("class") == "5xx")
    )
    bots, scanners = rows("bots"), rows("scanners")
    figures["bot_requests"] = None if bots is None else _int(_first(bots).get("bot_requests"))
    figures["scanner_requests"] = (
        None if scanners is None else _int(_first(scanners).get("scanner_requests"))
    )
    cities = rows("orders_by_city")
    figures["orders_by_city"] = None if cities is None else top_cities(cities, top)
    baskets = rows("items_ordered")
    figures["items_ordered"] = None if baskets is None else items_from_baskets(baskets, menu, top)
    return figures


# ------------------------------------------------------------------------------ the message


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _change(now: int | float | None, before: int | float | None) -> str:
    """ ", +12%" against the week before ("", ", no change", ", new")."""
    if now is None or before is None:
        return ""
    if before == 0:
        return ", new" if now else ""
    change = (now - before) / before
    return f", {change:+.0%}" if round(change, 2) else ", no change"


def _share(part: int | None, whole: int | None) -> str:
    if part is None or not whole:
        return "?"
    return f"{part / whole:.1%}"


def _compared(label: str, now: int | None, before: int | None) -> str:
    return f"{label}: {_n(now)} (previous week {_n(before)}{_change(now, before)})"


def _listing(pairs: list[list[Any]] | None, names: Mapping[str, str]) -> str:
    if pairs is None:
        return "?"
    if not pairs:
        return "none this week"
    return ", ".join(f"{names.get(str(p[0]), str(p[0]))} {p[1]:,}" for p in pairs[:SHOWN])


def _what(query_id: str) -> str:
    return {
        "totals": "visitors and requests",
        "menu_audience": "menu views",
        "orders_placed": "orders",
        "status_classes": "server errors",
        "bots": "robots",
        "scanners": "vulnerability probes",
        "orders_by_city": "top cities",
        "items_ordered": "top items",
    }.get(query_id, query_id)


def failure_lines(failures: Mapping[tuple[str, str], str]) -> list[str]:
    """One line per reason: which figures of which week it took away."""
    by_reason: dict[str, set[tuple[str, str]]] = {}
    for key, reason in failures.items():
        by_reason.setdefault(reason, set()).add(key)
    lines = []
    for reason, keys in by_reason.items():
        if len(keys) == len(QUERY_IDS) * len(WINDOWS):
            lines.append(f"every figure: {reason}")
            continue
        whats = []
        for query_id in [*QUERY_IDS, *sorted({q for _, q in keys} - set(QUERY_IDS))]:
            weeks = [window for window in WINDOWS if (window, query_id) in keys]
            if weeks:
                week = {1: {"this": "this week", "previous": "the week before"}[weeks[0]]}.get(
                    len(weeks), "both weeks"
                )
                whats.append(f"{_what(query_id)} ({week})")
        lines.append(f"{', '.join(whats)}: {reason}")
    return lines


def _ascii(text: str) -> str:
    plain = text.replace("é", "e").replace("è", "e").replace("–", "-").replace("—", "-")
    return "".join(ch for ch in plain if 32 <= ord(ch) < 127)[:SUBJECT_LIMIT]


def _when(moment: datetime, zone: Any) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %Y %H:%M")


def compose(
    settings: Mapping[str, Any],
    windows: Mapping[str, tuple[datetime, datetime]],
    run: QueryRun,
    figures: Mapping[str, Mapping[str, Any]],
) -> tuple[str, str, list[str]]:
    """The subject, the plain-text message and the failure lines."""
    zone, zone_name = _zone(str(settings.get("timezone") or "UTC"))
    menu: Mapping[str, str] = settings.get("menu") or {}
    stack = str(settings.get("stack", ""))
    this, before = figures["this"], figures["previous"]
    failures = failure_lines(run.failures)
    cost = run.bytes_scanned / 1e9 * float(settings.get("usd_per_gb_scanned", 0.005))
    start, end = windows["this"]
    lines = [
        f"Weekly report of the café site (cafepipe stack {stack})",
        f"{_when(start, zone)} to {_when(end, zone)} ({zone_name}), "
        "compared with the 7 days before.",
        "",
    ]
    if len(run.failures) >= len(QUERY_IDS) * len(WINDOWS):
        lines += ["The report could not be computed:", *[f"- {line}" for line in failures]]
        lines += ["", "Run `cafepipe report` to try again from your computer."]
        subject = f"Cafe weekly report ({stack}): could not be computed"
        return _ascii(subject), "\n".join(lines) + "\n", failures
    lines += [
        _compared("Visitors (distinct addresses)", this["unique_ips"], before["unique_ips"]),
        _compared("Requests", this["requests"], before["requests"]),
        f"Menu views: {_n(this['menu_views'])} by {_n(this['menu_visitors'])} people "
        f"(previous week {_n(before['menu_views'])} by {_n(before['menu_visitors'])})",
        f"Orders: {_n(this['order_requests'])} by {_n(this['purchasers'])} people "
        f"(previous week {_n(before['order_requests'])} by {_n(before['purchasers'])}"
        f"{_change(this['order_requests'], before['order_requests'])})",
    ]
    rate, rate_before = this["conversion_rate"], before["conversion_rate"]
    points = ""
    if rate is not None and rate_before is not None:
        change = round((rate - rate_before) * 100, 1)
        points = f", {change:+.1f} points" if change else ", no change"
    noise = (
        "Noise: no requests this week."
        if this["requests"] == 0
        else f"Noise: robots and crawlers {_share(this['bot_requests'], this['requests'])} of "
        f"requests, vulnerability probes {_share(this['scanner_requests'], this['requests'])}."
    )
    lines += [
        "Conversion (people who ordered / people who viewed the menu): "
        + ("?" if rate is None else f"{rate:.1%}")
        + " (previous week "
        + ("?" if rate_before is None else f"{rate_before:.1%}")
        + f"{points})",
        _compared("Server errors (5xx)", this["server_errors"], before["server_errors"]),
        "",
        f"Top cities by orders: {_listing(this['orders_by_city'], {})}",
        f"Top items ordered: {_listing(this['items_ordered'], menu)}",
        noise,
    ]
    if failures:
        lines += ["", "Not computed:", *[f"- {line}" for line in failures]]
    lines += [
        "",
        f"These figures come from {run.queries} Logs Insights queries that scanned "
        f"{run.bytes_scanned / 1e6:,.1f} MB (about ${cost:.4f}).",
    ]
    if settings.get("dashboard_url"):
        lines.append(f"Dashboard: {settings['dashboard_url']}")
    if failures:
        subject = f"Cafe weekly report ({stack}): some figures missing"
    else:
        orders = this["order_requests"]
        shown = "?" if rate is None else f"{rate:.1%}"
        subject = f"Cafe weekly report ({stack}): {orders:,} orders, {shown} conversion"
    return _ascii(subject), "\n".join(lines) + "\n", failures


def _zone(name: str) -> tuple[Any, str]:
    # Lambda's runtime may lack a zone database; the report then speaks UTC and says so.
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name), name
    except Exception:
        return timezone.utc, "UTC" if name == "UTC" else f"UTC; {name} is unknown here"


def build_report(
    logs: Any,
    settings: Mapping[str, Any],
    now: datetime,
    *,
    poll_interval: float = 2.0,
    timeout: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Report:
    """Run the queries for both weeks and write the report (nothing is published)."""
    windows = report_windows(now)
    queries = {query_id: settings["queries"][query_id] for query_id in QUERY_IDS}
    run = run_queries(
        logs,
        str(settings["access_log_group"]),
        queries,
        windows,
        poll_interval=poll_interval,
        timeout=timeout,
        sleep=sleep,
        clock=clock,
    )
    menu = settings.get("menu") or {}
    figures = {window: week_figures(run, window, menu) for window in WINDOWS}
    subject, message, failures = compose(settings, windows, run, figures)
    cost = run.bytes_scanned / 1e9 * float(settings.get("usd_per_gb_scanned", 0.005))
    return Report(
        subject=subject,
        message=message,
        figures=figures,
        failures=failures,
        window={
            name: [start.isoformat(), end.isoformat()] for name, (start, end) in windows.items()
        },
        queries=run.queries,
        bytes_scanned=run.bytes_scanned,
        cost_usd=round(cost, 6),
    )


def publish(sns: Any, topic_arn: str, report: Report) -> str:
    """Publish the report to the topic; the message id."""
    reply = sns.publish(TopicArn=topic_arn, Subject=report.subject, Message=report.message)
    return str(reply["MessageId"])


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point. The schedule's input carries the topic: {"topic_arn": …}."""
    import boto3  # in the Lambda runtime; imported here so tests import this file without it

    settings = load_settings()
    topic_arn = str(event.get("topic_arn") or "")
    if not topic_arn:
        raise ValueError("the event has no topic_arn: the schedule's input sets it")
    remaining = context.get_remaining_time_in_millis() / 1000 if context else 180.0
    report = build_report(
        boto3.client("logs"),
        settings,
        datetime.now(timezone.utc),
        timeout=max(10.0, remaining - PUBLISH_MARGIN_SECONDS),
    )
    message_id = publish(boto3.client("sns"), topic_arn, report)
    return {"message_id": message_id, "subject": report.subject, "failures": report.failures}
