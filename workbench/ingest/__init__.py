"""Ingest: read events and profiles from files or tables, account for every row, and the sample.

- `readers`: files (csv/tsv/whitespace, parquet, jsonl, .gz) and database tables as Ibis tables;
- `timestamps`: every timestamp form, one day order per column;
- `events`: canonical columns, quarantine with reasons, dedupe, `data_quality.json`;
- `profiles`: one row per profile, and how well its ids match the events';
- `sample`: the bundled synthetic XDM-style sample.
"""

from workbench.ingest.events import IngestTargets, build_event_mix, ingest_events
from workbench.ingest.profiles import ingest_profiles, profile_match
from workbench.ingest.readers import detect_format

__all__ = [
    "IngestTargets",
    "build_event_mix",
    "detect_format",
    "ingest_events",
    "ingest_profiles",
    "profile_match",
]
