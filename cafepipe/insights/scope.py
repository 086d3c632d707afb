"""What one insights run looks at: the period, the filters, and the café's clock.

- `parse_period` turns `--since/--until` into a `Period` (naive UTC, `until` exclusive) and
  `Period.previous` gives the period of the same length just before it (`--compare previous`).
- `parse_where` turns `--where field=value` into `Filters`, and `Filters.sql` into one SQL
  condition on the `logs` relation: visitor-supplied values only ever appear as quoted
  literals, and the SQL is plain enough for DuckDB and Trino (Athena) alike.
- `cafe_time_sql` is the café's local time of a UTC timestamp column, as plain SQL: a CASE over
  the zone's UTC-offset changes in the log's span, taken from `zoneinfo` (no ICU, no engine's
  time-zone functions, so DuckDB and Trino give the same hours across daylight-saving changes).
- `HEADLINE_KEYS`, `comparison_rows`: the figures shown beside the previous period's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from cafepipe.errors import UsageError

_DURATION_RE = re.compile(r"^(\d{1,6})\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
COMPARE_MODES = ("previous", "none")

# The figures shown with the previous period beside them, in this order. The visit keys are
# compared when the catalog produces them; a key missing from the result is left out.
HEADLINE_KEYS: tuple[str, ...] = (
    "requests", "unique_ips", "menu_views", "order_requests", "menu_visitors", "purchasers",
    "conversion_rate", "bot_requests", "scanner_requests", "visits", "pageviews_per_visit",
    "bounce_rate", "visit_duration_median_s", "visit_duration_mean_s", "new_visitors",
    "returning_visitors",
)  # fmt: skip
# Shares (0..1): their change is in percentage points, not a percentage of a percentage.
RATE_KEYS = frozenset({"conversion_rate", "bounce_rate"})


@dataclass(frozen=True)
class Period:
    """The lines an insights run counts: `since <= ts < until` (naive UTC; None = open)."""

    since: datetime | None = None
    until: datetime | None = None

    def sql(self, column: str = "ts") -> str:
        """The period as an SQL condition on a TIMESTAMP column (UTC): `TRUE` when open."""
        parts = []
        if self.since is not None:
            parts.append(f"{column} >= {_timestamp_sql(self.since)}")
        if self.until is not None:
            parts.append(f"{column} < {_timestamp_sql(self.until)}")
        return " AND ".join(parts) or "TRUE"

    def previous(self, now: datetime | None = None) -> Period | None:
        """The period of the same length just before this one (None without `since`).

        An open end is `now`: `--since 7d` is compared with the seven days before it.
        """
        if self.since is None:
            return None
        end = self.until or _utc_naive(now or datetime.now(timezone.utc))
        return Period(self.since - (end - self.since), self.since)

    def to_json(self) -> dict[str, str | None]:
        """`{"since": ISO or null, "until": ISO or null}` (UTC, with a Z)."""
        return {"since": _iso(self.since), "until": _iso(self.until)}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def _timestamp_sql(moment: datetime) -> str:
    # A literal both DuckDB and Trino read; made from a datetime, never from the user's text.
    return f"TIMESTAMP '{moment.isoformat(sep=' ')}'"


def _utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def parse_moment(value: str, flag: str, zone: str = "UTC", now: datetime | None = None) -> datetime:
    """`7d`/`24h`/`30m`/`2w` back from `now`, or an ISO date/time → naive UTC.

    A date or a time without an offset is the café's (`zone`): `--since 2026-11-01` starts at
    midnight at the café. A time with an offset (`Z`, `+01:00`) is that moment.
    """
    text = value.strip()
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    hint = "use a duration (30m, 24h, 7d, 2w), a date (2026-11-01) or a time (2026-11-01T09:00)"
    try:
        match = _DURATION_RE.match(text)
        if match:
            return _utc_naive(now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))}))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
        return _utc_naive(moment)
    except (ValueError, OverflowError):
        shown = "".join(c if c.isprintable() else "\ufffd" for c in value)[:60]
        raise UsageError(f"{flag} {shown!r} is not a duration, a date or a time", hint) from None


def parse_period(
    since: str | None,
    until: str | None = None,
    zone: str = "UTC",
    now: datetime | None = None,
) -> Period:
    """`--since`/`--until` → a Period; UsageError when a value is bad or since >= until.

    A duration in `--until` counts back from now; in `--since` it counts back from `--until`
    when that is given (`--since 7d --until 2026-11-20`: the week before the 20th), else from
    now.
    """
    end = None if until is None else parse_moment(until, "--until", zone, now)
    if since is None:
        return Period(None, end)
    base = now
    if end is not None and _DURATION_RE.match(since.strip()):
        base = end.replace(tzinfo=timezone.utc)
    start = parse_moment(since, "--since", zone, base)
    if end is not None and start >= end:
        raise UsageError(
            f"--since ({start.isoformat()}Z) is not before --until ({end.isoformat()}Z)",
            "the period is since ≤ time < until: give a --since before --until",
        )
    return Period(start, end)


def compare_mode(compare: str | None, period: Period) -> str:
    """`--compare`: previous or none; by default previous when the period has a start."""
    if compare is None:
        return "previous" if period.since is not None else "none"
    if compare not in COMPARE_MODES:
        raise UsageError(f"unknown --compare {compare!r}", "use previous or none")
    if compare == "previous" and period.since is None:
        raise UsageError(
            "--compare previous needs a period to compare",
            "give --since (e.g. --since 7d: the last week against the week before)",
        )
    return compare


# ---- --where ------------------------------------------------------------------------------

WHERE_FIELDS: tuple[str, ...] = (
    "city", "region", "country", "referrer", "campaign", "device", "browser", "page",
)  # fmt: skip
MAX_WHERE_VALUE = 200  # no city, host, campaign or path a café owner types is longer


@dataclass(frozen=True)
class Filters:
    """`--where` conditions: values of one field are alternatives, fields all apply."""

    values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.values)

    def sql(self) -> str:
        """One SQL condition on the `logs` relation (`TRUE` without filters).

        Device and browser are looked up in `agents` (the catalog's user-agent table);
        referrer and campaign use the same expressions as the catalog's insights.
        """
        from cafepipe.insights import queries

        parts = []
        for name, values in self.values.items():
            if name in ("device", "browser"):
                parts.append(
                    f"useragent IN (SELECT useragent FROM agents WHERE {name} IN "
                    f"({queries.sql_list(values)}))"
                )
                continue
            if name == "country":
                expression, wanted = "upper(CAST(country AS VARCHAR))", values
            else:
                expression = {
                    "city": "lower(CAST(city AS VARCHAR))",
                    "region": "lower(CAST(region AS VARCHAR))",
                    "referrer": queries.REFERRER_HOST_SQL,
                    "campaign": f"lower({queries.utm_sql('campaign')})",
                    "page": "lower(request)",
                }[name]
                wanted = tuple(f"lower({queries.sql_string(value)})" for value in values)
                parts.append(f"{expression} IN ({', '.join(wanted)})")
                continue
            parts.append(f"{expression} IN ({queries.sql_list(wanted)})")
        return " AND ".join(f"({part})" for part in parts) or "TRUE"

    def logs_insights(self) -> str:
        """Logs Insights commands that keep the events `sql` keeps ('' without filters).

        Put in front of each query of the catalog (`name | query`). The same tests as the SQL:
        the field lower-cased against the value lower-cased (country: its code, upper case);
        device and browser by the catalog's `li_family`; referrer and campaign parsed as the
        `referrers` and `campaigns` queries parse them, into fields of their own.
        """
        from cafepipe.insights import queries

        commands = []
        for name, values in self.values.items():
            lowered = queries.li_strings(list(dict.fromkeys(v.lower() for v in values)))
            if name in ("device", "browser"):
                families = queries.DEVICE_FAMILIES if name == "device" else queries.BROWSER_FAMILIES
                family = f"where{name.title()}"
                commands.append(queries.li_family(family, families))
                commands.append(f"filter {family} in {queries.li_strings(values)}")
            elif name == "country":
                commands.append(f"filter toupper(country) in {queries.li_strings(values)}")
            elif name == "referrer":
                commands.append(queries.li_referrer_host("whereReferrer"))
                commands.append(f"filter tolower(whereReferrer) in {lowered}")
            elif name == "campaign":
                commands.append(queries.li_utm("campaign", "whereCampaign"))
                commands.append(f"filter tolower(whereCampaign) in {lowered}")
            else:
                column = "request" if name == "page" else name
                commands.append(f"filter tolower({column}) in {lowered}")
        return " | ".join(commands)

    def to_json(self) -> dict[str, list[str]]:
        """The filters as `{field: [values]}`."""
        return {name: list(values) for name, values in self.values.items()}


def parse_where(conditions: Iterable[str]) -> Filters:
    """`field=value` texts → Filters; UsageError (exit 2) for a bad field or value."""
    values: dict[str, list[str]] = {}
    fields = ", ".join(WHERE_FIELDS)
    for condition in conditions:
        name, equals, value = condition.partition("=")
        name, value = name.strip().lower(), value.strip()
        shown = "".join(c if c.isprintable() else "\ufffd" for c in condition)[:80]
        if not equals or not name:
            raise UsageError(f"--where {shown!r} is not field=value", f"fields: {fields}")
        if name not in WHERE_FIELDS:
            raise UsageError(f"--where: unknown field {name!r}", f"use one of: {fields}")
        if not value:
            raise UsageError(f"--where {name}= has no value", f"e.g. --where {name}=…")
        if len(value) > MAX_WHERE_VALUE or not value.isprintable():
            raise UsageError(
                f"--where {name}: the value is longer than {MAX_WHERE_VALUE} characters "
                "or holds control characters",
                "pass the value as it appears in the report",
            )
        values.setdefault(name, []).append(_canonical(name, value))
    return Filters({name: tuple(dict.fromkeys(found)) for name, found in values.items()})


def _canonical(name: str, value: str) -> str:
    """The value as the filter compares it; UsageError for a value no line can have."""
    from cafepipe.cafe.geography import country_code
    from cafepipe.insights import queries

    if name == "country":
        code = country_code(value)
        if code is None:
            raise UsageError(
                f"--where country={value!r}: no such country",
                "use a country's name (France) or its ISO code (FR, FRA)",
            )
        return code
    if name in ("device", "browser"):
        families = queries.DEVICE_FAMILIES if name == "device" else queries.BROWSER_FAMILIES
        known = [family for family, _ in families] + [queries.BOT_FAMILY, queries.OTHER_FAMILY]
        for family in known:
            if family.lower() == value.lower():
                return family
        raise UsageError(
            f"--where {name}={value!r} is not a {name}", f"use one of: {', '.join(known)}"
        )
    if name == "referrer" and "://" in value:  # a URL pasted from a browser: its host
        return value.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
    if name == "page":
        return value.split("?", 1)[0]
    return value


# ---- the café's clock -------------------------------------------------------------------


def offset_changes(zone: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset (minutes) at `start`, then each change up to `end`: naive UTC.

    Found by zoneinfo day by day and narrowed to the minute: offsets change at most a few
    times a year, and never twice in a day.
    """
    tz = ZoneInfo(zone)

    def offset(moment: datetime) -> int:
        delta = moment.replace(tzinfo=timezone.utc).astimezone(tz).utcoffset()
        return int(delta.total_seconds() // 60) if delta is not None else 0

    changes = [(start, offset(start))]
    day = start
    while day < end:
        following = min(day + timedelta(days=1), end)
        if offset(following) != offset(day):
            low, high = day, following  # offset(low) is the old one, offset(high) the new one
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                middle = middle.replace(second=0, microsecond=0)
                if middle <= low:
                    middle = low + timedelta(minutes=1)
                if offset(middle) == offset(low):
                    low = middle
                else:
                    high = middle
            changes.append((high, offset(high)))
        day = following
    return changes


def _shifted(column: str, minutes: int) -> str:
    if minutes == 0:
        return column
    sign = "+" if minutes > 0 else "-"
    return f"{column} {sign} INTERVAL '{abs(minutes)}' MINUTE"


def cafe_time_sql(zone: str, start: datetime, end: datetime, column: str = "ts") -> str:
    """SQL for the café's local time of `column` (a UTC TIMESTAMP) between `start` and `end`.

    Plain SQL both DuckDB and Trino read: `column` shifted by the offset of its moment, one
    CASE branch per offset change in the span (a few per year). Outside the span the nearest
    offset applies, so the span needs only to cover the lines.
    """
    changes = offset_changes(zone, start, end)
    if len(changes) == 1:
        return _shifted(column, changes[0][1])
    branches = " ".join(
        f"WHEN {column} < {_timestamp_sql(moment)} THEN {_shifted(column, minutes)}"
        for (moment, _), (_, minutes) in zip(changes[1:], changes, strict=False)
    )
    return f"CASE {branches} ELSE {_shifted(column, changes[-1][1])} END"


def day_start(day: date, zone: str) -> datetime:
    """Midnight of a café day, in naive UTC."""
    return _utc_naive(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)))


# ---- comparison ---------------------------------------------------------------------------


def previous_figures(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """The headline keys of the previous period that the current result also has."""
    return {key: previous.get(key, 0) for key in HEADLINE_KEYS if key in current}


def comparison_rows(data: dict[str, Any]) -> list[tuple[str, Any, Any, Any, float | None]]:
    """(key, now, before, change, change %) per headline key; [] without `previous`.

    The change of a share is in percentage points (its % is None); so is a change from 0.
    """
    previous = data.get("previous")
    if not isinstance(previous, dict):
        return []
    rows: list[tuple[str, Any, Any, Any, float | None]] = []
    for key in HEADLINE_KEYS:
        if key not in data or key not in previous:
            continue
        now, before = data[key], previous[key]
        if not isinstance(now, (int, float)) or not isinstance(before, (int, float)):
            continue
        change = (
            round(now - before, 4)
            if isinstance(now, float) or isinstance(before, float)
            else now - before
        )
        percent = None
        if key not in RATE_KEYS and before:
            percent = round(100 * change / before, 1)
        rows.append((key, now, before, change, percent))
    return rows
