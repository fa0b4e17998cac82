"""NeuroConv's own registry, imported once per process.

Detection names interfaces by their NeuroConv class names and checks every proposed kwargs dict against the
interface's ``get_source_schema()``, so a probe can never hand the convert step an argument NeuroConv would
reject. ``import neuroconv`` costs seconds; every accessor here is cached so it is paid once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

#: NeuroConv registry categories whose interfaces detection must cover.
COVERED_CATEGORIES = ("ecephys", "sorting", "icephys")
#: Interfaces from other categories that read streams of ecephys systems (sync, NIDQ, Intan ADC/digital).
EXTRA_INTERFACES = (
    "SpikeGLXNIDQInterface",
    "SpikeGLXSyncChannelInterface",
    "IntanAnalogInterface",
    "IntanDigitalInterface",
    "IntanStimInterface",
    "OpenEphysBinaryAnalogInterface",
    "CellExplorerLFPInterface",
    "NeuroScopeLFPInterface",
)


#: Interfaces the installed NeuroConv recognises but cannot write, by affected version. Offering them as
#: units would hand the user a conversion that always fails; a test converts the real data of each family,
#: so an upgrade that fixes (or keeps) a defect shows up there.
KNOWN_DEFECTS: dict[str, tuple[frozenset[str], str]] = {
    "CellExplorerLFPInterface": (
        frozenset({"0.10.2"}),
        "its add_to_nwbfile passes arguments its base class no longer accepts (starting_time, compression), "
        "so every write fails with a TypeError",
    ),
}


def known_defect(name: str) -> str | None:
    """Why the installed NeuroConv cannot write interface ``name``, or None."""
    from importlib.metadata import version

    entry = KNOWN_DEFECTS.get(name)
    installed = version("neuroconv")
    if entry is None or installed not in entry[0]:
        return None
    return f"NeuroConv {installed}'s {name} cannot write: {entry[1]}"


@cache
def _modules() -> tuple[Any, Any]:
    import neuroconv.converters as converters
    import neuroconv.datainterfaces as datainterfaces

    return datainterfaces, converters


def interface_class(name: str) -> Any:
    """The NeuroConv interface or converter class called ``name``."""
    datainterfaces, converters = _modules()
    cls = getattr(datainterfaces, name, None) or getattr(converters, name, None)
    if cls is None:
        raise KeyError(f"NeuroConv has no interface or converter named {name!r}")
    return cls


@cache
def covered_interface_names() -> frozenset[str]:
    """Every interface name detection is expected to have a probe for."""
    datainterfaces, _ = _modules()
    names = {
        cls.__name__
        for category in COVERED_CATEGORIES
        for cls in datainterfaces.interfaces_by_category[category].values()
    }
    return frozenset(names | set(EXTRA_INTERFACES))


@cache
def _schema(name: str) -> tuple[frozenset[str], frozenset[str]]:
    schema = interface_class(name).get_source_schema()
    return frozenset(schema.get("properties", {})), frozenset(schema.get("required", []))


def kwargs_problem(name: str, kwargs: dict[str, Any]) -> str | None:
    """Why ``kwargs`` cannot instantiate ``name`` according to its source schema, or None if they fit."""
    properties, required = _schema(name)
    unknown = sorted(set(kwargs) - properties)
    missing = sorted(required - set(kwargs))
    if unknown:
        return f"{name} does not accept {unknown}"
    if missing:
        return f"{name} needs {missing}"
    return None


@cache
def suffix_owners() -> dict[str, tuple[str, ...]]:
    """Lower-case suffix → interface names that list it in ``get_format_summaries()``.

    Used only to explain unmatched files ("looked like X by extension, content did not match"), never to
    decide a format: the same suffix belongs to several formats.
    """
    import neuroconv

    covered = covered_interface_names()
    owners: dict[str, list[str]] = {}
    for name, summary in neuroconv.get_format_summaries().items():
        if name not in covered:
            continue
        for suffix in summary.get("associated_suffixes") or ():
            owners.setdefault(str(suffix).lower(), []).append(name)
    return {suffix: tuple(sorted(set(names))) for suffix, names in owners.items()}


_REGISTRY_CATEGORY = {"ecephys": "recording", "sorting": "sorting", "icephys": "icephys"}


@cache
def _registry_categories() -> dict[str, str]:
    datainterfaces, _ = _modules()
    return {
        cls.__name__: _REGISTRY_CATEGORY.get(category, "auxiliary")
        for category, classes in datainterfaces.interfaces_by_category.items()
        for cls in classes.values()
    }


def category_of(name: str) -> Any:
    """NeuroConv's own category for an interface no probe claims (``auxiliary`` when it lists none)."""
    return _registry_categories().get(name, "auxiliary")


@cache
def _summaries() -> dict[str, dict[str, Any]]:
    import neuroconv

    return {name: dict(summary) for name, summary in neuroconv.get_format_summaries().items()}


def display_name(name: str) -> str:
    """NeuroConv's own name for a format ("SpikeGLX Recording"), the class name when it gives none."""
    shown = _summaries().get(name, {}).get("display_name")
    return str(shown) if shown else name
