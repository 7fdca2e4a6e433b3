"""Ingest: read events and profiles from files or tables, account for every row, and the sample.

- `sources`: which files a path names (file, glob, folder, Hive partitions, list), their format,
  presets (`snowplow_enriched`) and declared types;
- `readers`: files (csv/tsv/whitespace, parquet, jsonl, .gz) and database tables as Ibis tables;
- `nested`: key/value arrays, maps, arrays of objects and lists made into fields;
- `identity`: profile id and event type from several fields, the identity table;
- `warehouse`: a database table read with the work pushed into the database;
- `timestamps`: every timestamp form, one day order per column;
- `events`: canonical columns, quarantine with reasons, dedupe, `data_quality.json`;
- `profiles`: one row per profile, and how well its ids match the events';
- `sample`: the bundled synthetic XDM-style sample.
"""

from workbench.ingest.events import IngestTargets, build_event_mix, ingest_events
from workbench.ingest.profiles import ingest_profiles, profile_match
from workbench.ingest.sources import detect_format

__all__ = [
    "IngestTargets",
    "build_event_mix",
    "detect_format",
    "ingest_events",
    "ingest_profiles",
    "profile_match",
]
