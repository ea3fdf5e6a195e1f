"""The store: DuckDB schema, idempotent ingest, rejudge, aggregation and Parquet export.

One DuckDB file holds raw measurements (zstd-compressed), their observations and
role verdicts, and a quarantine of records that could not be read. Every write is a
batch committed atomically, so commands can be killed and re-run safely.

The verbs are re-exported here under their own names (``ingest``, ``rejudge``,
``aggregate``), which hides the submodules of the same names as attributes of this
package: ``from voipwatch.store.ingest import judge_record`` works, but
``import voipwatch.store.ingest as m`` binds the function, not the module.
"""

from voipwatch.store.aggregate import AggregateQuery, Axis, aggregate, parse_query, to_csv
from voipwatch.store.db import Store, default_db_path, open_store
from voipwatch.store.export import export_tier
from voipwatch.store.ingest import IngestProgress, IngestStats, ingest
from voipwatch.store.rejudge import RejudgeStats, rejudge
from voipwatch.store.schema import SCHEMA_VERSION, TIERS
from voipwatch.store.via import ToolResult, what_still_works

__all__ = [
    "SCHEMA_VERSION",
    "TIERS",
    "AggregateQuery",
    "Axis",
    "IngestProgress",
    "IngestStats",
    "RejudgeStats",
    "Store",
    "ToolResult",
    "aggregate",
    "default_db_path",
    "export_tier",
    "ingest",
    "open_store",
    "parse_query",
    "rejudge",
    "to_csv",
    "what_still_works",
]
