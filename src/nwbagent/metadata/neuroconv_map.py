"""Write the agreed values into NeuroConv 0.10 metadata, and name the output file the DANDI way."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from nwbagent.errors import UserFacingError
from nwbagent.metadata.schema import FIELDS, SessionMetadata


def to_neuroconv(session: SessionMetadata, base: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` (from ``converter.get_metadata()``) with the session's values applied; ``base`` is kept.

    Values go where ``make_nwbfile_from_metadata`` reads them: ``NWBFile`` kwargs, ``Subject`` kwargs
    (``subject_description`` becomes ``Subject.description``) and each electrode group's ``location``.
    Malformed values are refused here because NeuroConv would fail later with a less helpful message.
    """
    errors = session.errors()
    if errors:
        raise UserFacingError(
            "Some metadata values are not valid: " + " ".join(errors.values()),
            fix="Correct these fields (run 'nwbagent check-metadata' to see all issues) and convert again.",
            code="invalid_metadata",
        )
    metadata: dict[str, Any] = copy.deepcopy(dict(base))
    nwbfile: dict[str, Any] = dict(metadata.get("NWBFile") or {})
    subject: dict[str, Any] = dict(metadata.get("Subject") or {})
    values = session.values()
    for spec in FIELDS:
        if spec.name not in values:
            continue
        value = copy.deepcopy(values[spec.name])
        if spec.group == "NWBFile":
            nwbfile[spec.nwb_key] = value
        elif spec.group == "Subject":
            subject[spec.nwb_key] = value
    nwbfile["identifier"] = values.get("identifier") or str(uuid.uuid4())
    metadata["NWBFile"] = nwbfile
    if subject:
        metadata["Subject"] = subject
    region = values.get("brain_region")
    if region:
        ecephys = metadata.get("Ecephys")
        groups = ecephys.get("ElectrodeGroups") if isinstance(ecephys, Mapping) else None
        entries = groups.values() if isinstance(groups, Mapping) else groups or []
        for group in entries:
            if isinstance(group, dict):
                group["location"] = region
    describe_devices(metadata)
    return metadata


def describe_devices(metadata: dict[str, Any]) -> None:
    """Give each device without a description one built from its model entry in the same metadata.

    NeuroConv's SpikeGLX interface registers the probe's model ("Neuropixels 1.0 probe", imec, part
    number) but leaves the device itself undescribed, which NWB Inspector flags. The text only restates
    what the recording's header said; nothing is invented.
    """
    devices = metadata.get("Devices")
    models = metadata.get("DeviceModels") or {}
    if not isinstance(devices, Mapping) or not isinstance(models, Mapping):
        return
    for device in devices.values():
        if not isinstance(device, dict) or device.get("description"):
            continue
        model = models.get(device.get("device_model_metadata_key", ""), {})
        if not isinstance(model, Mapping) or not (model.get("description") or model.get("name")):
            continue
        text = str(model.get("description") or model.get("name"))
        parts = [f"by {model['manufacturer']}" if model.get("manufacturer") else ""]
        if model.get("model_number"):
            parts.append(f"part number {model['model_number']}")
        if device.get("serial_number"):
            parts.append(f"serial {device['serial_number']}")
        details = ", ".join(p for p in parts if p)
        device["description"] = f"{text} ({details})." if details else f"{text}."


def apply_brain_region(session: SessionMetadata, interfaces: Iterable[Any]) -> None:
    """Set the ``brain_area`` property on each recording interface's extractor.

    The electrode group location alone does not reach the electrodes table's ``location`` column, which
    is what NWB Inspector's ``check_electrodes_location_allen_ccf`` reads; NeuroConv maps ``brain_area``
    there. Interfaces without a recording extractor (sorting, events) are skipped.
    """
    region = session.values().get("brain_region")
    if not region:
        return
    for interface in interfaces:
        recording = getattr(interface, "recording_extractor", None)
        if recording is not None:
            recording.set_property("brain_area", [region] * recording.get_num_channels())


def dandi_id(value: str) -> str:
    """An id as DANDI writes it in file names: every character other than letters, digits and '-' is '-'."""
    return re.sub(r"[^A-Za-z0-9-]", "-", value.strip())


def dandi_filename(session: SessionMetadata, modality: str = "ecephys") -> str:
    """``sub-<id>/sub-<id>_ses-<id>_ecephys.nwb``, the name ``dandi organize`` would give the file."""
    values = session.values()
    subject_id = values.get("subject_id")
    if not subject_id or session.errors().get("subject_id"):
        raise UserFacingError(
            "The file cannot be named for DANDI without a valid subject ID.",
            fix="Give the subject ID, e.g. 'subject_id: M12'.",
            code="missing_subject_id",
        )
    sub = dandi_id(str(subject_id))
    name = f"sub-{sub}"
    session_id = values.get("session_id")
    if session_id and not session.errors().get("session_id"):
        name += f"_ses-{dandi_id(str(session_id))}"
    return f"sub-{sub}/{name}_{modality}.nwb"
