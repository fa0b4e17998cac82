"""Session metadata: what NWB and DANDI need, where each value came from, and whether it will pass.

Layers come from the recording (``from_neuroconv``), its names (``from_path``), the user (``from_user``)
and ``defaults``; ``merge`` picks per field by source precedence and keeps the rest as provenance;
``check_metadata`` judges the result with NWB Inspector; ``to_neuroconv`` hands it to the converter.
"""

from nwbagent.metadata.check import MetadataIssue, check_metadata, check_metadata_file
from nwbagent.metadata.extract import (
    defaults,
    from_neuroconv,
    from_path,
    from_user,
    load_user_file,
)
from nwbagent.metadata.merge import merge
from nwbagent.metadata.neuroconv_map import apply_brain_region, dandi_filename, dandi_id, to_neuroconv
from nwbagent.metadata.normalize import (
    normalize_age,
    normalize_date_of_birth,
    normalize_experimenter,
    normalize_keywords,
    normalize_session_start_time,
    normalize_sex,
    normalize_species,
    normalize_weight,
)
from nwbagent.metadata.schema import (
    FIELD_NAMES,
    FieldValue,
    MetadataValues,
    SessionMetadata,
    metadata_json_schema,
)

__all__ = [
    "FIELD_NAMES",
    "FieldValue",
    "MetadataIssue",
    "MetadataValues",
    "SessionMetadata",
    "apply_brain_region",
    "check_metadata",
    "check_metadata_file",
    "dandi_filename",
    "dandi_id",
    "defaults",
    "from_neuroconv",
    "from_path",
    "from_user",
    "load_user_file",
    "merge",
    "metadata_json_schema",
    "normalize_age",
    "normalize_date_of_birth",
    "normalize_experimenter",
    "normalize_keywords",
    "normalize_session_start_time",
    "normalize_sex",
    "normalize_species",
    "normalize_weight",
    "to_neuroconv",
]
