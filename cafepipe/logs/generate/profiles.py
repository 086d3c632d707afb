"""What one run of the generator depends on: the profiles, the options, and their checks.

A run covers the window `[start, end)`. The window ends at `end` (default: now) and by default
lasts the profile's few days, inside the 14 days CloudWatch Logs accepts; `window_warnings`
says when it does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from cafepipe.cafe.limits import (
    LOGS_MAX_EVENT_AGE,
    LOGS_MAX_EVENT_AGE_DAYS,
    LOGS_MAX_EVENT_FUTURE,
    LOGS_MAX_RETENTION,
)
from cafepipe.errors import ConfigError, UsageError

FORMATS = ("json", "combined")
DEFAULT_HOST = "cafe.example.com"
DEFAULT_PROFILE = "week"
MAX_VISITORS = 250_000
MIN_VISITORS = 50
_UTC = timezone.utc  # (build_options has a `timezone` argument: the café's zone)


@dataclass(frozen=True)
class Profile:
    """Defaults bundled under one name; every one can be overridden."""

    description: str
    days: float  # default window
    daily_requests: int  # lines per day when only --days is given
    # Per session: the share of human sessions that saw the menu and then ordered. The
    # truth's conversion_rate is per client address and counts bots, so it differs.
    conversion: float
    bounce: float  # share of human sessions that see one page only
    bot_share: float  # share of lines from crawlers and monitors
    scanner_share: float  # share of lines from vulnerability scanners
    error_share: float  # share of human page requests answered 500/503
    returning_share: float  # share of sessions whose browser has the assets cached (304)
    campaign_share: float  # share of landings from a campaign link (UTM query)
    items_per_visit: float  # mean item pages per non-bounced session
    lines_per_visitor: int  # sets the visitor pool: lines / this (returning visitors)


PROFILES: dict[str, Profile] = {
    DEFAULT_PROFILE: Profile(
        "a small café's week",
        days=7,
        daily_requests=20_000,
        conversion=0.25,
        bounce=0.35,
        bot_share=0.08,
        scanner_share=0.02,
        error_share=0.005,
        returning_share=0.3,
        campaign_share=0.05,
        items_per_visit=1.5,
        lines_per_visitor=12,
    ),
    "busy-month": Profile(
        "a busy month's traffic over the last 13 days (a day to ship it before CloudWatch "
        "Logs refuses it)",
        days=13,
        daily_requests=250_000,
        conversion=0.32,
        bounce=0.3,
        bot_share=0.10,
        scanner_share=0.03,
        error_share=0.01,
        returning_share=0.4,
        campaign_share=0.12,
        items_per_visit=2.0,
        lines_per_visitor=15,
    ),
    "attack": Profile(
        "two days under a vulnerability scan: a third of the lines are probes",
        days=2,
        daily_requests=40_000,
        conversion=0.2,
        bounce=0.4,
        bot_share=0.08,
        scanner_share=0.35,
        error_share=0.03,
        returning_share=0.3,
        campaign_share=0.05,
        items_per_visit=1.2,
        lines_per_visitor=10,
    ),
}
PROFILE_ALIASES = {"lab": DEFAULT_PROFILE}  # former names, which stored configs may still use
SHARES: tuple[str, ...] = (  # the knobs that are shares, between 0 and 1
    "conversion",
    "bounce",
    "bot_share",
    "scanner_share",
    "error_share",
    "returning_share",
    "campaign_share",
)
KNOBS: tuple[str, ...] = (*SHARES, "items_per_visit", "visitors")


@dataclass(frozen=True)
class GeneratorOptions:
    """Everything one run depends on, profile applied (build it with `build_options`)."""

    lines: int
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    seed: int = 1
    log_format: str = "json"
    profile: str = DEFAULT_PROFILE
    host: str = DEFAULT_HOST
    conversion: float = 0.25
    bounce: float = 0.35
    bot_share: float = 0.08
    scanner_share: float = 0.02
    error_share: float = 0.005
    returning_share: float = 0.3
    campaign_share: float = 0.05
    items_per_visit: float = 1.5
    visitors: int = 8_000
    # The café's IANA time zone: the truth's café hours (`cafe_hourly`, `cafe_weekday`) are
    # counted in it, as `insights` counts them in the config's `timezone`. The log stays UTC.
    timezone: str = "UTC"


def profile_name(name: str) -> str:
    """The name under which `PROFILES` holds this profile (a former name is accepted)."""
    name = PROFILE_ALIASES.get(name, name)
    if name not in PROFILES:
        raise UsageError(f"unknown profile {name!r}", f"choose one of: {', '.join(PROFILES)}")
    return name


def parse_time(text: str) -> datetime:
    """A UTC time from ISO 8601 (`2026-11-27T09:00:00Z`, `2026-11-27 09:00`) or `now`."""
    if text.strip().lower() == "now":
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"not a time: {text!r}", "use ISO 8601, e.g. 2026-11-27T09:00:00Z, or now"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def build_options(
    *,
    profile: str = DEFAULT_PROFILE,
    lines: int | None = None,
    days: float | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    seed: int = 1,
    log_format: str = "json",
    host: str = DEFAULT_HOST,
    timezone: str = "UTC",
    **knobs: float | int | None,
) -> GeneratorOptions:
    """Apply the profile, then the overrides; check every value (UsageError, exit 2)."""
    profile = profile_name(profile)
    zone = check_timezone(timezone)
    if log_format not in FORMATS:
        raise UsageError(f"unknown format {log_format!r}", f"choose one of: {', '.join(FORMATS)}")
    unknown = set(knobs) - set(KNOBS)
    if unknown:
        raise UsageError(f"unknown generator setting(s): {', '.join(sorted(unknown))}")
    if lines is not None and days is not None:
        raise UsageError("give --lines or --days, not both")
    if days is not None and start is not None:
        raise UsageError("give --days or --start, not both")
    if lines is not None and lines < 0:
        raise UsageError(f"--lines must be 0 or more, not {lines}")
    if days is not None and not (days > 0 and math.isfinite(days)):
        raise UsageError(f"--days must be more than 0, not {days:g}")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more, not {seed}")
    if not host or any(c in host for c in ' "\\/'):
        raise UsageError(f"not a host name: {host!r}")
    chosen = PROFILES[profile]
    end = (end or datetime.now(_UTC)).astimezone(_UTC)
    end = end.replace(microsecond=end.microsecond // 1000 * 1000)  # logs have ms
    if start is None:
        start = end - timedelta(days=days if days is not None else chosen.days)
    start = start.astimezone(_UTC)
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)
    if end <= start:
        raise UsageError(
            f"the end ({end:%Y-%m-%dT%H:%M:%SZ}) is not after "
            f"the start ({start:%Y-%m-%dT%H:%M:%SZ})"
        )
    if end - start > LOGS_MAX_RETENTION:
        # The insights count a time further than this from the log's median as invalid.
        raise UsageError(
            f"the window spans {(end - start).days} days, more than the "
            f"{LOGS_MAX_RETENTION.days} days a log can cover",
            "give a later --start or an earlier --end",
        )
    if lines is None:
        window = (end - start).total_seconds() / 86400
        lines = round(window * chosen.daily_requests)
    values: dict[str, Any] = {k: getattr(chosen, k) for k in KNOBS if k != "visitors"}
    values["visitors"] = min(MAX_VISITORS, max(MIN_VISITORS, lines // chosen.lines_per_visitor))
    values.update({k: v for k, v in knobs.items() if v is not None})
    for name in SHARES:
        value = float(values[name])
        if not 0 <= value <= 1:
            raise UsageError(f"--{name.replace('_', '-')} must be between 0 and 1, not {value:g}")
        values[name] = value
    if values["bot_share"] + values["scanner_share"] > 1:
        raise UsageError("--bot-share and --scanner-share add up to more than 1")
    if values["bounce"] >= 1 and values["conversion"] > 0:
        raise UsageError("--bounce 1 leaves no session that could order; lower it")
    if not 0 <= float(values["items_per_visit"]) <= 20:
        raise UsageError("--items-per-visit must be between 0 and 20")
    visitors = int(values["visitors"])
    if not 1 <= visitors <= MAX_VISITORS:
        raise UsageError(f"--visitors must be between 1 and {MAX_VISITORS:,}, not {visitors}")
    values["visitors"] = visitors
    values["items_per_visit"] = float(values["items_per_visit"])
    return GeneratorOptions(
        lines=int(lines),
        start=start,
        end=end,
        seed=int(seed),
        log_format=log_format,
        profile=profile,
        host=host,
        timezone=zone,
        **values,
    )


def check_timezone(name: str) -> str:
    """An IANA time zone name, by the config's own rule (`timezone`); else UsageError."""
    from cafepipe.config import _validate_timezone  # the one rule, shared with the config

    try:
        return _validate_timezone(name)
    except ConfigError as error:
        reason = error.message.removeprefix("config: timezone: ")
        raise UsageError(f"--timezone: {reason}", error.hint) from None


def window_warnings(options: GeneratorOptions, now: datetime | None = None) -> list[str]:
    """What CloudWatch Logs would refuse in this window (the generator writes it anyway)."""
    now = now or datetime.now(timezone.utc)
    warnings = []
    if options.start < now - LOGS_MAX_EVENT_AGE:
        warnings.append(
            f"the window starts {options.start:%Y-%m-%d %H:%M}Z, more than "
            f"{LOGS_MAX_EVENT_AGE_DAYS} days ago: CloudWatch Logs refuses those events"
        )
    if options.end > now + LOGS_MAX_EVENT_FUTURE:
        hours = LOGS_MAX_EVENT_FUTURE.total_seconds() / 3600
        warnings.append(
            f"the window ends {options.end:%Y-%m-%d %H:%M}Z, more than {hours:g} hours from now: "
            "CloudWatch Logs refuses those events"
        )
    return warnings
