"""Cron expressions: checking them, and when one fires next.

Beat (django-celery-beat's DatabaseScheduler) reads the same five fields from a
CrontabSchedule row; like Celery's ``crontab``, a day must match both the day-of-month and
the day-of-week field (Vixie cron takes either).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab

from core.errors import InvalidInput

FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
HELP = "five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * *' or '*/15 * * * mon-fri'"
SEARCH_DAYS = 366 * 5  # "29 2 *" fires once in four years


def cron_fields(expr: str) -> dict[str, str]:
    """The five fields of ``expr`` by name, or InvalidInput naming ``cron``."""
    parts = (expr or "").split()
    if len(parts) != 5:
        raise InvalidInput(f"A cron expression has {HELP}; got '{expr}'.", field="cron")
    fields = dict(zip(FIELDS, parts, strict=True))
    try:
        crontab(**fields)  # Celery expands (and so checks) every field here
    except (ValueError, IndexError) as exc:
        raise InvalidInput(f"Invalid cron expression '{expr}': {exc}", field="cron") from None
    return fields


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone '{name}'; use an IANA name such as 'Europe/Paris'.",
                           field="timezone") from None


def cron_next(expr: str, tz_name: str, after: datetime) -> datetime | None:
    """The first time after ``after`` (aware) at which ``expr`` fires in ``tz_name``."""
    spec = crontab(**cron_fields(expr))
    tz = zone(tz_name)
    start = (after.astimezone(tz) + timedelta(minutes=1)).replace(second=0, microsecond=0)
    times = sorted((h, m) for h in spec.hour for m in spec.minute)
    day = start.date()
    for _ in range(SEARCH_DAYS):
        # Celery numbers weekdays from Sunday = 0.
        if day.month in spec.month_of_year and day.day in spec.day_of_month \
                and (day.weekday() + 1) % 7 in spec.day_of_week:
            for hour, minute in times:
                candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                if candidate >= start:
                    return candidate
        day += timedelta(days=1)
    return None
