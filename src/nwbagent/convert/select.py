"""Which detected units to convert: confident ones, the user's picks, with the values they gave.

Three kinds of choice reach a conversion, from the CLI flags, the agents or a page, and all are applied
here so each means the same everywhere:

- a reader (``interface``) or streams: the alternative replaces the unit that held it;
- parts of a multi-acquisition or multi-segment folder (``parts``: "experiment2", "g1", "g0 t1",
  "recording2"): acquisitions not named are dropped, segments not named are not written;
- values the files lack (``options``: ``{"sampling_frequency": 30000}`` for every unit that needs it, or
  ``{"<unit>": {...}}`` for one): they go into the unit's kwargs, so the recipe records them.

Everything not converted (a unit detection left out, one it was unsure of, one still lacking a value) is
reported in ``left_out`` with its reason and fix; when nothing is left to convert the first such reason is
raised, never a generic "nothing found".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nwbagent.errors import UserFacingError
from nwbagent.formats.detect import primary_path
from nwbagent.formats.model import DetectionResult, LeftOut, Unit

#: Below this a detected unit is a guess the user must confirm.
CONFIDENT = 0.5

Options = Mapping[str, Any]


def select_units(
    detection: DetectionResult,
    *,
    streams: Sequence[str] = (),
    interface: str | None = None,
    parts: Sequence[str] = (),
    options: Options | None = None,
    left_out: list[LeftOut] | None = None,
) -> list[Unit]:
    """Pick the units to convert: the confident ones by default, or those naming ``interface``/``streams``.

    A unit detection was unsure about (confidence < 0.5) is never converted on a guess: it is skipped with
    a warning, and when nothing else is left the user is asked to choose. ``interface`` may name an
    alternative reading (e.g. KiloSortSortingInterface where Phy was ranked first); the alternative then
    replaces the unit that held it.
    """
    said = left_out if left_out is not None else []
    said.extend(detection.left_out)
    if not detection.units:
        raise nothing_to_convert(detection)
    if interface is None:
        sure = [u for u in detection.units if u.confidence >= CONFIDENT]
        unsure = [u for u in detection.units if u.confidence < CONFIDENT]
        if not sure:
            raise ask_to_choose(detection, unsure)
        for unit in unsure:
            said.append(
                LeftOut(
                    label=unit.label,
                    interface=unit.interface,
                    path=primary_path(unit),
                    problem=f"Detection is unsure what this is ({unit.disambiguation or 'low confidence'}).",
                    fix=f"Choose {unit.interface} to convert it too.",
                    cli_fix=f"Pass --interface {unit.interface} to convert it.",
                    code="unsure",
                    unit=unit,
                )
            )
        candidates = sure
    else:
        candidates = detection.units
    units: list[Unit] = []
    for unit in candidates:
        if interface and unit.interface != interface:
            alt = next((a for a in unit.alternatives if a.interface == interface), None)
            if alt is None:
                continue
            unit = Unit(
                interface=alt.interface,
                kwargs=alt.kwargs,
                streams=unit.streams,
                category=unit.category,
                confidence=alt.confidence,
                evidence=[*unit.evidence, f"chosen by the user over {unit.interface}"],
                acquisition=unit.acquisition,
                segments=unit.segments,
                needs=unit.needs,
            )
        units.append(unit)
    if streams:
        wanted = set(streams)
        units = [u for u in units if u.stream in wanted]
    if parts:
        units = select_parts(units, parts)
    if not units:
        found = ", ".join(u.label for u in detection.units) or "nothing convertible"
        asked = ", ".join(filter(None, [interface or "", *streams, *parts]))
        raise UserFacingError(
            f"No detected unit matches {asked or 'the request'}; detection found: {found}.",
            fix="Pick one of the detected readers, streams or parts listed above.",
            cli_fix="Pick one of the detected interfaces/streams/parts (see `nwbagent detect PATH`).",
            path=detection.path,
            code="no_matching_unit",
        )
    return apply_options(units, options or {}, said, path=detection.path)


def apply_options(units: list[Unit], options: Options, said: list[LeftOut], *, path: str) -> list[Unit]:
    """Fill each unit's missing values from ``options``; units still missing one are left out (said)."""
    ready: list[Unit] = []
    waiting: list[Unit] = []
    for unit in units:
        given = {**{k: v for k, v in options.items() if not isinstance(v, Mapping)}}
        for key, value in options.items():
            if isinstance(value, Mapping) and unit_matches(unit, key):
                given.update(value)
        try:
            filled = fill_needs(unit, given)
        except ValueError as exc:
            raise UserFacingError(
                f"The value given for {unit.label} does not fit: {exc}.",
                fix="Give the value as a number, e.g. 30000 or 30 kHz.",
                path=path,
                code="bad_value",
            ) from None
        (waiting if filled.needs else ready).append(filled)
    for unit in waiting:
        error = missing_value(unit, path=path)
        said.append(
            LeftOut(
                label=unit.label,
                interface=unit.interface,
                path=primary_path(unit),
                problem=error.problem,
                fix=error.fix,
                cli_fix=error.cli_fix,
                code=error.code,
                unit=unit,
            )
        )
    if not ready:
        raise missing_value(waiting[0], path=path)
    return ready


def fill_needs(unit: Unit, given: Mapping[str, Any]) -> Unit:
    """``unit`` with the needs ``given`` answers moved into its kwargs (parsed); ValueError on a bad one."""
    if not unit.needs:
        return unit
    kwargs = dict(unit.kwargs)
    left = []
    evidence = list(unit.evidence)
    for need in unit.needs:
        if need.name in given:
            kwargs[need.name] = need.parse(given[need.name])
            evidence.append(f"{need.label} = {kwargs[need.name]} given by the user")
        else:
            left.append(need)
    return unit.model_copy(update={"kwargs": kwargs, "needs": left, "evidence": evidence})


def missing_value(unit: Unit, *, path: str | None) -> UserFacingError:
    need = unit.needs[0]
    handle = unit_handle(unit)
    return UserFacingError(
        f"{unit.label} needs its {need.label}, which the files do not give ({need.why}).",
        fix=f"Give the {need.label}, e.g. {need.example}.",
        cli_fix=f"Give it with --option {handle}:{need.name}={need.example}"
        + (f" (or --option {need.name}={need.example} for every unit that needs it)."),
        path=path,
        code="needs_value",
    )


def unit_handle(unit: Unit) -> str:
    """A short name for one unit on the command line: its stream, else its file or folder name."""
    if unit.stream:
        return f"{unit.acquisition}/{unit.stream}" if unit.acquisition else unit.stream
    for key in ("file_path", "folder_path"):
        value = unit.kwargs.get(key)
        if isinstance(value, str):
            return Path(value).name
    return unit.interface


def unit_matches(unit: Unit, key: str) -> bool:
    """Whether ``key`` (a handle, stream, file name, interface or label) names ``unit``."""
    key = key.strip()
    names = {unit_handle(unit), unit.label, unit.interface}
    if unit.stream:
        names.add(unit.stream)
    for name in ("file_path", "folder_path"):
        value = unit.kwargs.get(name)
        if isinstance(value, str):
            names.add(Path(value).name)
    return key in names


# ------------------------------------------------------------------------------------ parts of a folder

_PART_WORDS = [
    (re.compile(r"\bexperiments?\s*#?\s*(\d+)\b", re.I), "experiment{}"),
    (re.compile(r"\brecordings?\s*#?\s*(\d+)\b", re.I), "recording{}"),
    (re.compile(r"\bgates?\s*#?\s*(\d+)\b", re.I), "g{}"),
    (re.compile(r"\btriggers?\s*#?\s*(\d+)\b", re.I), "t{}"),
]
_TOKEN = re.compile(r"\b(experiment\d+|recording\d+|g\d+|t\d+|tcat)\b", re.I)


def part_tokens(text: str) -> list[str]:
    """Normalised part names in free text: "only experiment 2" → ["experiment2"], "gate 1" → ["g1"]."""
    found: list[str] = []
    for pattern, form in _PART_WORDS:
        found += [form.format(int(m.group(1))) for m in pattern.finditer(text)]
    found += [t.lower() for t in _TOKEN.findall(text)]
    return list(dict.fromkeys(found))


def available_parts(units: Sequence[Unit]) -> list[str]:
    """Every acquisition and segment label the units offer, for a choice list."""
    names: list[str] = []
    for unit in units:
        if unit.acquisition:
            names.append(unit.acquisition)
        names += unit.segments
    return list(dict.fromkeys(names))


def select_parts(units: Sequence[Unit], parts: Sequence[str]) -> list[Unit]:
    """Keep the acquisitions ``parts`` name and, in each, the segments they name.

    A part is an acquisition ("experiment2"), a whole segment label ("g0 t1", "recording2"), or a token of
    one ("g1" keeps every trigger of gate 1). Parts that name nothing in a unit leave that level alone, so
    "experiment2" keeps all its recordings and "recording2" keeps that recording of every experiment.
    """
    tokens = [t for p in parts for t in (part_tokens(p) or [p.strip().lower()])]
    acquisitions = {u.acquisition.lower() for u in units if u.acquisition}
    wanted_acq = {t for t in tokens if t in acquisitions}
    out: list[Unit] = []
    for unit in units:
        if wanted_acq and (unit.acquisition or "").lower() not in wanted_acq:
            continue
        segment_tokens = [t for t in tokens if t not in acquisitions]
        keep = _segments_named(unit.segments, segment_tokens)
        if keep is None:
            out.append(unit)
        elif keep:
            out.append(unit.model_copy(update={"keep_segments": keep}))
    return out


def _segments_named(segments: Sequence[str], tokens: Sequence[str]) -> list[int] | None:
    """Indices of the segments every token group names; None when no token refers to segments at all."""
    if not tokens or not segments:
        return None
    words = [set(s.lower().split()) for s in segments]
    known = set().union(*words)
    relevant = [t for t in tokens if t in known or t in {s.lower() for s in segments}]
    if not relevant:
        return None
    keep = []
    for i, (label, parts_of) in enumerate(zip(segments, words, strict=True)):
        by_kind: dict[str, set[str]] = {}
        for t in relevant:
            by_kind.setdefault(t.rstrip("0123456789") or t, set()).add(t)
        if label.lower() in relevant or all(parts_of & group for group in by_kind.values()):
            keep.append(i)
    return keep


# -------------------------------------------------------------------------------- nothing to convert


def ask_to_choose(detection: DetectionResult, unsure: list[Unit]) -> UserFacingError:
    options: list[str] = []
    for unit in unsure:
        why = unit.disambiguation or "; ".join(unit.evidence[:1])
        options.append(f"{unit.interface} ({unit.confidence:.2f}: {why})")
        options.extend(f"{alt.interface} ({alt.confidence:.2f}: {alt.reason})" for alt in unit.alternatives)
    return UserFacingError(
        f"These files can be read in more than one way and detection will not guess: {'; '.join(options)}.",
        fix="Choose the reader that produced these files, or none of them if none fits.",
        cli_fix="Choose the reader with --interface NAME (e.g. --interface " + unsure[0].interface + ").",
        path=detection.path,
        code="needs_format_choice",
    )


def nothing_to_convert(detection: DetectionResult) -> UserFacingError:
    """The most useful reason a folder gave nothing: a left-out unit's own error before a generic one."""
    first: LeftOut | None = next(iter(detection.left_out), None)
    if first is not None:
        error = first.error()
        if len(detection.left_out) > 1:
            others = "; ".join(x.label for x in detection.left_out[1:])
            error.problem += f" ({len(detection.left_out) - 1} more left out: {others}.)"
        return error
    if detection.unsupported:
        reasons = "; ".join(f"{Path(u.path).name}: {u.reason}" for u in detection.unsupported)
        return UserFacingError(
            f"Recognised files, but in a format NeuroConv cannot convert ({reasons}).",
            fix="Export the recording from its acquisition software to a supported format "
            "(e.g. EDF, Open Ephys binary or NWB), then convert that.",
            path=detection.path,
            code="unsupported_format",
        )
    hint = f" Notes: {' '.join(detection.warnings)}" if detection.warnings else ""
    return UserFacingError(
        f"No recording that NeuroConv can convert was found here.{hint}",
        fix="Give the folder that holds the raw recording files (e.g. the SpikeGLX run folder with "
        ".bin/.meta pairs, the Open Ephys record node, or the Intan folder with info.rhd).",
        path=detection.path,
        code="nothing_detected",
    )
