"""Small, deterministic vendor exports for the tests, each in its vendor's published layout.

One simulated population of shoppers (`world.simulate`) rendered as:

    ga4/json/events_YYYYMMDD.json        GA4's BigQuery JSON export (INT64 as text, NULLs left out,
                                         `& < >` escaped; one busy day split into numbered files)
    ga4/parquet/events_YYYYMMDD.parquet  the same shards as Parquet
    xdm/jsonl/experience_events_YYYY-MM.json            XDM ExperienceEvents, JSON lines
    xdm/parquet/year=YYYY/month=MM/part-00000.parquet   the same, identityMap a real MAP
    segment/segment-logs/<source>/<day>/<name>.gz       Segment's S3 archive (gzipped NDJSON)
    segment/identities.csv               anonymous_id -> user_id (from identify calls)
    snowplow/enriched/YYYY/MM/part-00000.tsv.gz         enriched TSV, 131 fields, no header
    mixpanel/export_YYYY-MM.json         raw export API output, with its duplicates

Each writer returns a manifest of counts to reconcile against (rows, rows without a user id,
profiles under the id fallback, purchases, duplicates). `reference.goal_counts` computes the
natural goal's counts per cutoff in plain DuckDB SQL, independently of the workbench.
"""

from __future__ import annotations

from pathlib import Path

from vendors.ga4 import write_ga4
from vendors.mixpanel import write_mixpanel
from vendors.segment import write_segment
from vendors.snowplow import write_snowplow
from vendors.world import AS_OF, DEFAULT_SEED, simulate
from vendors.xdm import write_xdm

EXPORTS = ("ga4", "xdm", "segment", "snowplow", "mixpanel")


def write_all(folder: str | Path, n_profiles: int = 200, seed: int = DEFAULT_SEED) -> dict:
    """Every export of one simulated population under `folder`: {vendor: manifest}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    people = simulate(n_profiles, seed)
    return {
        "ga4": write_ga4(folder, people=people, seed=seed),
        "xdm": write_xdm(folder, people=people, seed=seed),
        "segment": write_segment(folder, people=people, seed=seed),
        "snowplow": write_snowplow(folder, people=people, seed=seed),
        "mixpanel": write_mixpanel(folder, people=people, seed=seed),
    }


__all__ = [
    "AS_OF",
    "EXPORTS",
    "simulate",
    "write_all",
    "write_ga4",
    "write_mixpanel",
    "write_segment",
    "write_snowplow",
    "write_xdm",
]
