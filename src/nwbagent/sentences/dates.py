"""Session start times and dates of birth, with the time of day and zone when given."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nwbagent.sentences import confidence as conf
from nwbagent.sentences.spans import MONTH, MONTHS, Hit

_TZ_ABBREVIATIONS = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "CET": 1,
    "CEST": 2,
    "BST": 1,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "JST": 9,
}
_TIME = (
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?(?::(?P<second>\d{2}))?\s*"
    r"(?P<ampm>(?i:am|pm|a\.m\.|p\.m\.)|h(?![\w]))?"
)
_TZ = (
    r"(?:\s*(?P<tz>UTC|GMT|Z|CEST|CET|BST|EST|EDT|CST|CDT|MST|MDT|PST|PDT|JST|[+-]\d{2}:?\d{2}|"
    r"(?:UTC|GMT)\s*[+-]\d{1,2}(?::?\d{2})?|[A-Z][a-z]+/[A-Z][A-Za-z_]+))?"
)
_DATE_FORMS = (
    r"(?P<iso>(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))(?:[T ](?P<it>\d{2}:\d{2}(?::\d{2})?))?",
    rf"(?P<mon1>{MONTH})\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>\d{{4}})",
    rf"(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon2>{MONTH}),?\s+(?P<y2>\d{{4}})",
)
_DATE = re.compile(r"(?<![\w-])(?:" + "|".join(_DATE_FORMS) + r")(?P<isotz>Z|[+-]\d{2}:?\d{2})?(?![\w])")
_TIME_AFTER = re.compile(rf"^\s*(?:,\s*)?(?:at|@|around|starting\s+at|from)?\s*(?<![\d:]){_TIME}{_TZ}")
_TIME_BEFORE = re.compile(rf"(?:at|@|around)\s+{_TIME}{_TZ}\s+(?:on\s+)?(?:the\s+)?$")
_BIRTH_CONTEXT = re.compile(r"\b(?:born|birth|DOB|d\.o\.b\.?|birthday)\b[^.;]{0,20}$", re.I)
_OTHER_EVENT = re.compile(
    r"\b(?:surgery|surgical|implant(?:ed|ation)?|inject(?:ed|ion)|trained|training|habituat\w*|perfused|"
    r"published|arrived|shipped|weaned|craniotomy|sacrificed)\b[^.;]{0,30}$",
    re.I,
)
_RECORDING_CONTEXT = re.compile(
    r"\b(?:record\w*|session|acquired|experiment\w*|performed|collected|ran)\b[^.;]{0,30}$", re.I
)


def _clock(m: re.Match[str]) -> tuple[int, int, int] | None:
    hour, minute, second = int(m.group("hour")), int(m.group("minute") or 0), int(m.group("second") or 0)
    ampm = (m.group("ampm") or "").lower().replace(".", "")
    if not ampm and m.group("minute") is None:
        return None  # a bare number next to a date ('2023, 12 mice') is not a time
    if ampm in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    if name in _TZ_ABBREVIATIONS:
        return timezone(timedelta(hours=_TZ_ABBREVIATIONS[name]))
    if m := re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2}):?(\d{2})?", name):
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def read_dates(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for m in _DATE.finditer(text):
        try:
            if m.group("iso"):
                year, month, day = int(m.group("iy")), int(m.group("im")), int(m.group("id"))
            elif m.group("mon1"):
                year, day = int(m.group("y1")), int(m.group("d1"))
                month = MONTHS[m.group("mon1").rstrip(".").lower()]
            else:
                year, day = int(m.group("y2")), int(m.group("d2"))
                month = MONTHS[m.group("mon2").rstrip(".").lower()]
            moment = datetime(year, month, day)
        except (ValueError, KeyError):
            continue
        if not 1950 <= moment.year <= datetime.now().year + 1:
            continue
        start, end, zone_name, has_time = m.start(), m.end(), m.group("isotz"), False
        if m.group("it"):
            parts = [int(p) for p in m.group("it").split(":")]
            moment = moment.replace(hour=parts[0], minute=parts[1], second=parts[2] if len(parts) > 2 else 0)
            has_time = True
            if not zone_name and (tz := re.match(_TZ, text[end:])) and tz.group("tz"):
                zone_name, end = tz.group("tz"), end + tz.end()
        else:
            after = _TIME_AFTER.match(text[end:])
            before = _TIME_BEFORE.search(text[max(0, start - 40) : start])
            for tm, where in ((after, "after"), (before, "before")):
                if tm is None or (clock := _clock(tm)) is None:
                    continue
                moment = moment.replace(hour=clock[0], minute=clock[1], second=clock[2])
                zone_name, has_time = tm.group("tz"), True
                if where == "after":
                    end += tm.end()
                else:
                    start = max(0, start - 40) + tm.start()
                break
        if zone_name:
            zone = _zone(zone_name)
            if zone is None:
                continue
            moment = moment.replace(tzinfo=zone)
        context = text[max(0, start - 60) : start]
        if _BIRTH_CONTEXT.search(context):
            hits.append(Hit("date_of_birth", moment, start, end, conf.CUE))
        elif _OTHER_EVENT.search(context) and not _RECORDING_CONTEXT.search(text[max(0, start - 25) : start]):
            continue
        else:
            recording = bool(_RECORDING_CONTEXT.search(context))
            confidence = (
                (conf.CUE if recording else conf.CONTEXT)
                if has_time
                else (conf.PARTIAL if recording else conf.GUESS)
            )
            hits.append(Hit("session_start_time", moment, start, end, confidence))
    return hits
