"""Run NWB Inspector (DANDI configuration) and PyNWB validation on one file and judge the result.

NWB Inspector's raw output mixes three things a user must not confuse: real problems with the file, messages
that only fire because a stub preview holds 100 samples, and checks that crashed inside the inspector (it
reports those as ERROR messages carrying a traceback). This module separates them, so a stub preview of good
metadata is not reported as a failure and an inspector bug is not reported as broken data.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import h5py

from nwbagent.errors import UserFacingError
from nwbagent.inspect.model import Finding, InspectionResult, ToolFault, verdict_for

#: Plain-language fixes for the checks users meet most; metadata field names are those of the metadata
#: form / YAML (``subject_id``, ``species``, ...), which is where the user fixes them.
FIX_HINTS: dict[str, str] = {
    "check_subject_exists": (
        "Add subject metadata: subject_id, species (e.g. 'Mus musculus'), sex (M/F/U/O) and age "
        "(ISO 8601 duration, e.g. 'P90D')."
    ),
    "check_subject_id_exists": (
        "Set subject_id to the animal's identifier (e.g. 'mouse001'); DANDI names files by it."
    ),
    "check_subject_sex": "Set sex to one of 'M', 'F', 'U' (unknown) or 'O' (other).",
    "check_subject_species_exists": (
        "Set species to the Latin binomial, e.g. 'Mus musculus' or 'Rattus norvegicus'."
    ),
    "check_subject_species_form": (
        "Write species as a Latin binomial ('Mus musculus'), not a common name ('mouse'), or as an NCBI "
        "taxonomy URL."
    ),
    "check_subject_age": (
        "Set age as an ISO 8601 duration, e.g. 'P90D' (90 days) or 'P12W', or a range 'P90D/P120D'; or give "
        "date_of_birth instead."
    ),
    "check_subject_proper_age_range": "Write an age range as 'P90D/P120D' with the lower bound first.",
    "check_subject_weight": "Write weight with its unit, e.g. '0.025 kg', or leave it out.",
    "check_subject_id_no_slashes": "Remove '/' from subject_id; it becomes part of a DANDI file path.",
    "check_session_id_no_slashes": "Remove '/' from session_id; it becomes part of a DANDI file path.",
    "check_experimenter_exists": "Add experimenter as a list of names, 'Last, First' (e.g. 'Doe, Jane').",
    "check_experimenter_form": "Write each experimenter as 'Last, First' (e.g. 'Doe, Jane').",
    "check_institution": "Set institution to the institution where the experiment was performed.",
    "check_keywords": "Add a few keywords describing the data (e.g. 'Neuropixels', 'hippocampus').",
    "check_experiment_description": (
        "Set experiment_description to a sentence on the purpose of the experiment."
    ),
    "check_session_start_time_old_date": (
        "session_start_time looks like a placeholder (before 1980): set the real recording date and time."
    ),
    "check_session_start_time_future_date": (
        "session_start_time is in the future: set the real recording date and time, with its time zone."
    ),
    "check_electrodes_location_allen_ccf": (
        "Set the brain region (electrode location) to an Allen Brain Atlas structure name or acronym, e.g. "
        "'CA1'; use 'unknown' only if it really is unknown."
    ),
    "check_intracellular_electrode_location_allen_ccf": (
        "Set the electrode location to an Allen Brain Atlas structure name or acronym, e.g. 'CA1'."
    ),
    "check_imaging_plane_location_allen_ccf": (
        "Set the imaging plane location to an Allen Brain Atlas structure name or acronym."
    ),
    "check_data_orientation": (
        "Time must be the first dimension of the data. If this is a stub preview (100 samples, more "
        "channels than samples) it is expected and disappears in the full conversion; otherwise transpose "
        "the data."
    ),
    "check_large_dataset_compression": (
        "Convert again with compression enabled (the default gzip, or zstd/blosc)."
    ),
    "check_small_dataset_compression": (
        "Enable compression for this dataset when converting (the default backend configuration does)."
    ),
    "check_description": "Fill in the description of this object in the metadata (one plain sentence).",
    "check_empty_string_for_optional_attribute": "Remove the empty optional field or give it a real value.",
    "check_empty_table": "Leave the empty table out of the conversion, or check why no rows were written.",
    "check_single_row": "A one-row table is unusual; check that rows were not lost, or ignore if intended.",
    "check_electrical_series_unscaled_data": "Store the conversion factor so the data can be read in volts.",
    "check_missing_unit": "Set the unit of this data (e.g. 'volts').",
    "check_rate_is_not_zero": "Set the real sampling rate; a rate of 0 Hz is not valid.",
    "check_rate_is_positive": "Set the real, positive sampling rate.",
    "check_regular_timestamps": "The timestamps are regular: store starting_time and rate instead.",
    "check_timestamps_ascending": "Sort the timestamps; they must increase.",
    "check_timestamp_of_the_first_sample_is_not_negative": (
        "Align times to session_start_time so that no sample has a negative time."
    ),
    "check_file_extension": "Name the file with the .nwb extension.",
    "check_name_colons": "Remove ':' from object names.",
    "check_name_slashes": "Remove '/' from object names.",
    "check_units_table_has_spikes": "Remove units with no spikes, or check the spike sorting output.",
    "check_table_values_for_dict": "Store structured values as separate columns, not as a dict in one cell.",
}
GENERIC_FIX = "See the NWB Inspector best-practices guide for this check, then correct the metadata or data."
VALIDATION_FIX = (
    "The file does not follow the NWB schema: this is a conversion defect, not a metadata gap. Report it "
    "with the file; converting again with the current nwbagent may fix it."
)

#: Checks known to fire on stub previews only: 100 samples make time shorter than the channel axis,
#: and event tables cut to 100 samples are empty or hold a single row.
STUB_FALSE_POSITIVES: frozenset[str] = frozenset(
    {"check_data_orientation", "check_empty_table", "check_single_row", "check_time_series_data_is_not_empty"}
)

_CRASH = re.compile(
    r"^During evaluation of '(?P<check>[^']+)' - <class '(?P<cls>[^']+)'>: (?P<msg>.*)$", re.S
)
_READ_FAILURE = "During io.read()"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def inspect_nwb(path: Path, *, stub: bool = False) -> InspectionResult:
    """Inspect one NWB file (HDF5 ``.nwb`` or a ``.nwb.zarr`` folder) the way DANDI will.

    ``stub=True`` says the file is a stub preview, so findings known to fire only on stubs are labelled and
    left out of the verdict.
    """
    import nwbinspector
    from nwbinspector import inspect_nwbfile, load_config

    path = Path(path)
    is_zarr = _check_readable(path)
    notes: list[str] = []
    if is_zarr:
        notes.append("PyNWB schema validation was skipped: it cannot read Zarr files.")

    with warnings.catch_warnings(), _zarr_pickle_decoding(is_zarr):
        warnings.simplefilter("ignore")
        messages = list(
            inspect_nwbfile(nwbfile_path=path, config=load_config("dandi"), skip_validate=is_zarr)
        )

    findings: list[Finding] = []
    faults: dict[tuple[str, str], ToolFault] = {}
    for message in messages:
        check_name = message.check_function_name or "unknown"
        if check_name.startswith(_READ_FAILURE):
            raise UserFacingError(
                f"PyNWB could not read this file as NWB ({_last_line(message.message)}).",
                fix="Check that it is a complete NWB file (not still being written or truncated by a copy); "
                "convert again if it came from nwbagent.",
                path=path,
                code="not_nwb",
            )
        crash = _CRASH.match(check_name)
        if crash:
            exception = f"{crash['cls'].rsplit('.', 1)[-1]}: {crash['msg']}"
            key = (crash["check"], exception)
            if key in faults:
                faults[key].count += 1
            else:
                faults[key] = ToolFault(
                    check_name=crash["check"], exception=exception, traceback=message.message
                )
            continue
        importance = message.importance.name
        findings.append(
            Finding(
                check_name=check_name,
                importance=importance,
                severity=message.severity.name,
                message=message.message,
                object_type=message.object_type,
                object_name=message.object_name,
                location=message.location,
                fix=VALIDATION_FIX
                if importance == "PYNWB_VALIDATION"
                else FIX_HINTS.get(check_name, GENERIC_FIX),
                stub_false_positive=stub and check_name in STUB_FALSE_POSITIVES,
            )
        )

    return InspectionResult(
        path=str(path),
        stub=stub,
        verdict=verdict_for(findings),
        findings=findings,
        tool_faults=list(faults.values()),
        validated=not is_zarr,
        notes=notes,
        nwbinspector_version=nwbinspector.__version__,
    )


def _check_readable(path: Path) -> bool:
    """Fail in plain words before the inspector turns a wrong path into a traceback; return is-Zarr."""
    if not path.exists():
        raise UserFacingError(
            "No such file.",
            fix="Check the path; give the .nwb file the conversion wrote.",
            path=path,
            code="not_found",
        )
    if path.is_dir():
        if (path / ".zgroup").exists() or (path / "zarr.json").exists():
            return True
        raise UserFacingError(
            "This is a folder, not an NWB file (and not an NWB Zarr store).",
            fix="Give the path of one .nwb file (or a .nwb.zarr folder) inside it.",
            path=path,
            code="not_nwb",
        )
    with path.open("rb") as handle:
        head = handle.read(8)
    if head != _HDF5_SIGNATURE and not h5py.is_hdf5(path):
        raise UserFacingError(
            "This is not an NWB file: it is not HDF5 (NWB files are HDF5 or Zarr).",
            fix="Inspect the .nwb file written by the conversion, not the raw recording or another file.",
            path=path,
            code="not_nwb",
        )
    with h5py.File(path, "r") as h5:
        if "nwb_version" not in h5.attrs:
            raise UserFacingError(
                "This HDF5 file is not NWB: it has no nwb_version attribute.",
                fix="Inspect a file written by NeuroConv/PyNWB; convert the data first if this is raw HDF5.",
                path=path,
                code="not_nwb",
            )
    return False


@contextlib.contextmanager
def _zarr_pickle_decoding(enabled: bool) -> Iterator[None]:
    """NWB Zarr files store string columns (e.g. the electrodes table) with numcodecs' Pickle codec, which
    numcodecs refuses to decode unless the process opts in. Opt in only for the duration of a Zarr inspection,
    since decoding pickles from an untrusted file can run code."""
    if not enabled:
        yield
        return
    import numcodecs.pickles

    previous_env = os.environ.get("NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE")
    previous_flag = numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE
    os.environ["NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE"] = "1"
    numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE = True
    try:
        yield
    finally:
        numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE = previous_flag
        if previous_env is None:
            os.environ.pop("NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE", None)
        else:
            os.environ["NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE"] = previous_env


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"
