"""What each NWB Inspector check means, in words a PI who has never read the NWB schema can follow.

The inspector's own messages say what is wrong with one object ("Subject is missing age"); a report reader
also needs to know why anyone cares, so each explanation says what the check protects. The fix comes from
:data:`nwbagent.inspect.FIX_HINTS`, the single place fixes are written, so the CLI and the report never
disagree on what to do.
"""

from __future__ import annotations

from nwbagent.inspect.run import FIX_HINTS, GENERIC_FIX, VALIDATION_FIX

EXPLANATIONS: dict[str, str] = {
    "check_subject_exists": (
        "The file says nothing about the animal. DANDI organises every dataset by subject, so a file "
        "without a Subject cannot be uploaded."
    ),
    "check_subject_id_exists": (
        "The subject has no identifier. DANDI names the file and its folder after it (sub-<id>), and it "
        "is how sessions from the same animal are linked."
    ),
    "check_subject_sex": (
        "The animal's sex is missing or not one of the standard codes DANDI can index and search on."
    ),
    "check_subject_species_exists": (
        "The species is missing, so nobody searching the archive for this organism will find the data."
    ),
    "check_subject_species_form": (
        "The species is written as a common name. The archive maps species to a taxonomy, which needs the "
        "Latin binomial or an NCBI taxonomy link."
    ),
    "check_subject_age": (
        "The animal's age (or date of birth) is missing or not in the ISO 8601 form the archive can "
        "compare across datasets. DANDI requires one of the two."
    ),
    "check_subject_proper_age_range": (
        "An age range was given with its bounds in the wrong order, so it cannot be read as a range."
    ),
    "check_subject_weight": ("The weight has no unit, so a reader cannot tell grams from kilograms."),
    "check_subject_id_no_slashes": (
        "The subject identifier contains '/', which would split the DANDI file path in two."
    ),
    "check_session_id_no_slashes": (
        "The session identifier contains '/', which would split the DANDI file path in two."
    ),
    "check_experimenter_exists": (
        "Nobody is named as having done the experiment, which the archive uses for credit and contact."
    ),
    "check_experimenter_form": (
        "Experimenter names are not in 'Last, First' form, which the archive needs to match people across "
        "datasets."
    ),
    "check_institution": "The institution is missing; it identifies where the data were recorded.",
    "check_keywords": "There are no keywords, which makes the dataset harder to find by search.",
    "check_experiment_description": (
        "There is no description of the experiment's purpose, which a reader needs to reuse the data."
    ),
    "check_description": (
        "An object has no description or only a placeholder, so a reader cannot tell what it holds."
    ),
    "check_session_start_time_old_date": (
        "The recording date is before 1980, which almost always means a placeholder date was written."
    ),
    "check_session_start_time_future_date": (
        "The recording date is in the future, which usually means a wrong clock or a wrong time zone."
    ),
    "check_electrodes_location_allen_ccf": (
        "The electrodes' brain region is not a name from the Allen mouse brain atlas, so tools cannot "
        "place the recording in the brain or search by region."
    ),
    "check_intracellular_electrode_location_allen_ccf": (
        "The electrode's brain region is not a name from the Allen brain atlas, so it cannot be searched "
        "by region."
    ),
    "check_imaging_plane_location_allen_ccf": (
        "The imaging plane's brain region is not a name from the Allen brain atlas."
    ),
    "check_data_orientation": (
        "Data must be stored time first (one row per sample). Here there are more columns than rows, which "
        "suggests the data are transposed; short stub previews trigger this harmlessly."
    ),
    "check_large_dataset_compression": (
        "A large dataset is stored uncompressed, which makes the file much bigger to store and download."
    ),
    "check_small_dataset_compression": (
        "A moderately sized dataset is stored uncompressed; compressing it would save space."
    ),
    "check_empty_string_for_optional_attribute": (
        "An optional field holds an empty string, which reads as information but carries none."
    ),
    "check_empty_table": "A table has no rows, which usually means something was lost during conversion.",
    "check_single_row": (
        "A table holds a single row, which often means rows were lost; short stub previews trigger this "
        "harmlessly."
    ),
    "check_electrical_series_unscaled_data": (
        "Raw integer samples are stored without the factor that turns them into volts, so readers cannot "
        "recover physical values."
    ),
    "check_electrical_series_dims": (
        "The number of data columns does not match the number of electrodes the series points to."
    ),
    "check_missing_unit": "The data have no unit, so a reader cannot tell what the numbers measure.",
    "check_rate_is_not_zero": "The sampling rate is 0 Hz, so sample times cannot be computed.",
    "check_rate_is_positive": "The sampling rate is negative, so sample times cannot be computed.",
    "check_rate_not_below_threshold": (
        "The sampling rate is implausibly low, which usually means it was written in the wrong unit."
    ),
    "check_regular_timestamps": (
        "Every sample carries its own timestamp although they are evenly spaced; a start time and a rate "
        "say the same thing in far less space."
    ),
    "check_timestamps_ascending": "Timestamps go backwards somewhere, so time order is broken.",
    "check_timestamps_without_nans": "Some timestamps are missing (NaN), so those samples have no time.",
    "check_timestamps_match_first_dimension": (
        "There are not as many timestamps as samples, so samples cannot be matched to times."
    ),
    "check_timestamp_of_the_first_sample_is_not_negative": (
        "The first sample is timed before the session started, which means the clocks were not aligned."
    ),
    "check_time_series_data_is_not_empty": "A time series holds no samples.",
    "check_file_extension": "The file name does not end in .nwb, so tools will not recognise it.",
    "check_name_colons": "An object name contains ':', which some tools cannot handle.",
    "check_name_slashes": "An object name contains '/', which the HDF5 file format reads as a path.",
    "check_ids_unique": "A table has duplicate row IDs, so rows cannot be referred to unambiguously.",
    "check_units_table_has_spikes": (
        "A sorted unit has no spikes at all, which usually means a sorting error."
    ),
    "check_ascending_spike_times": "A unit's spike times are not in order.",
    "check_negative_spike_times": "A unit has spikes timed before the session started.",
    "check_spike_times_not_in_samples": (
        "Spike times look like sample indices rather than seconds, so every time would be off by the "
        "sampling rate."
    ),
    "check_units_table_duration": "Spike times run implausibly long, which usually means wrong time units.",
    "check_table_values_for_dict": (
        "A table cell holds a dictionary written as text, which tools cannot query."
    ),
    "check_col_not_nan": "A table column holds only NaN values, so it carries no information.",
    "check_processing_module_name": (
        "A processing module has a non-standard name, which makes it harder for tools to find the data."
    ),
    "check_dynamic_table_region_data_validity": (
        "A reference into a table points to rows that do not exist."
    ),
    "check_time_intervals_stop_after_start": "An interval ends before it starts.",
    "check_resolution": "The recorded resolution of the data is not a valid value.",
}

VALIDATION_EXPLANATION = (
    "PyNWB's schema validation found that the file does not follow the NWB format specification. Other "
    "tools may fail to read it; this points to a defect in how the file was written, not to missing "
    "metadata."
)
GENERIC_EXPLANATION = (
    "An NWB Inspector best-practice check flagged this object. The message says what it found; the "
    "NWB Inspector documentation for this check explains the rule in detail."
)
ERROR_EXPLANATION = (
    "The inspector could not complete this check on the file, which usually means part of the file is "
    "unreadable or malformed."
)


def explain(check_name: str, importance: str | None = None) -> str:
    """The plain-language meaning of a check; unknown checks get a fallback rather than an empty cell."""
    if importance == "PYNWB_VALIDATION":
        return VALIDATION_EXPLANATION
    if check_name in EXPLANATIONS:
        return EXPLANATIONS[check_name]
    if importance == "ERROR":
        return ERROR_EXPLANATION
    return GENERIC_EXPLANATION


def fix_for(check_name: str, importance: str | None = None) -> str:
    """The fix the inspection module would give, so the report and the CLI say the same thing."""
    if importance == "PYNWB_VALIDATION":
        return VALIDATION_FIX
    return FIX_HINTS.get(check_name, GENERIC_FIX)
