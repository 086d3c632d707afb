"""The S3 data lake of a stack: one place that names its layout, Glue table and Athena workgroup.

The daily archive copy (templates/instance/archive-logs.sh.j2), `simulate-logs` on a fleet, the
Glue table (terraform/modules/lake) and both readers (`insights --engine athena`, and DuckDB
with `--source s3://…/archive/`) all take their names from here.

Layout (Hive style): `archive/dt=YYYY-MM-DD/instance=<id>/access.log.gz`, one gzip of JSON
lines per server and day. `dt` is the table's only partition key, projected (no crawler, no
partition maintenance). `instance` is a folder below the partition, not a partition key:
with projection on, every partition key needs a projection rule and a place in
`storage.location.template` (else INVALID_TABLE_PROPERTY; AWS knowledge center,
"troubleshoot partition projection issues in Amazon Athena"), and the only rule that fits
unknown instance ids, `injected`, fails every query that does not name the instance with a
static equality (Athena guide, "Use dynamic ID partitioning"). Athena reads every file under
a partition's location, sub-folders included ("Athena reads all data stored in the Amazon S3
folder that you specify", Athena guide, "Specify a table location in Amazon S3"), so the
projected location `archive/dt=${dt}/` holds the files of every instance. Readers that need
the server take it from the key (DuckDB's hive partitioning) or the line's `host`.

A partition is the day its lines are from, as the archive knows it: logrotate runs just after
midnight and names the rotated file after the day before (`dateyesterday`), so `dt=D` also
holds the first minutes of D+1, until the rotation ran. `partition_range` says which
partitions to read for lines of given days. `simulate-logs` writes exact days.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from cafepipe.config import ARCHIVE_PREFIX as _CONFIG_ARCHIVE_PREFIX
from cafepipe.errors import UsageError

ARCHIVE_PREFIX = _CONFIG_ARCHIVE_PREFIX  # "archive/": what the instance role may write
RESULTS_PREFIX = "athena-results/"  # the workgroup's query results (expired by a lifecycle rule)
TABLE = "access_log"
ARCHIVE_FILE = "access.log.gz"
ARCHIVE_STEM, ARCHIVE_SUFFIX = "access", ".log.gz"  # a day's further files: access-<part>.log.gz
PARTITION_KEY = "dt"
DATE_FORMAT = "yyyy-MM-dd"  # Java date format of the dt projection (ISO dates, as date.isoformat)
# The columns of the Glue table: exactly the keys of the stack's JSON LogFormat
# (templates/instance/httpd-cafe.conf.j2, `_APACHE_KEYS` of the DuckDB engine), all strings
# (Apache writes every value quoted), lower-cased because Glue stores column names lower-case.
# The OpenX JSON SerDe matches keys case-insensitively (`case.insensitive` is true by default),
# so `remoteIP` in a line fills `remoteip`.
LAKE_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name.lower(), "string")
    for name in (
        "time", "process", "filename", "remoteIP", "host", "request", "query", "method",
        "status", "bytes", "userAgent", "referer", "country", "region", "city", "lat", "lon",
    )
)  # fmt: skip
PARTITION_COLUMNS: tuple[tuple[str, str], ...] = ((PARTITION_KEY, "string"),)

# An EC2 instance id, or a safe token (a simulated server's name): it ends up in S3 keys.
_INSTANCE_RE = re.compile(r"i-[0-9a-f]{8,17}|[a-z0-9][a-z0-9_-]{0,62}")
_PART_RE = re.compile(r"[0-9]{1,20}")


def validate_instance_id(instance_id: str) -> str:
    """The id if it is safe inside an S3 key, else a UsageError."""
    if not isinstance(instance_id, str) or not _INSTANCE_RE.fullmatch(instance_id):
        raise UsageError(
            f"{instance_id!r} is not an instance id the lake can name",
            "use an EC2 instance id (i-0123456789abcdef0) or lower-case letters, digits, - and _",
        )
    return instance_id


def partition_prefix(day: date) -> str:
    """`archive/dt=YYYY-MM-DD/`: the location of one day's partition."""
    return f"{ARCHIVE_PREFIX}{PARTITION_KEY}={day.isoformat()}/"


def partition_key(day: date, instance_id: str, part: str | None = None) -> str:
    """`archive/dt=YYYY-MM-DD/instance=<id>/access.log.gz`: one server's log of one day.

    `part` names a further file of the same server and day (`access-<part>.log.gz`), which
    the archive writes after a forced second rotation instead of overwriting the first.
    """
    name = ARCHIVE_FILE
    if part is not None:
        if not _PART_RE.fullmatch(part):
            raise UsageError(f"{part!r} is not a file part the lake can name", "use digits")
        name = f"{ARCHIVE_STEM}-{part}{ARCHIVE_SUFFIX}"
    return f"{partition_prefix(day)}instance={validate_instance_id(instance_id)}/{name}"


def partition_range(first_day: date, last_day: date) -> tuple[date, date]:
    """The dt partitions that can hold lines from `first_day` to `last_day` (both included):
    one more day before, whose file holds the first minutes after midnight."""
    return first_day - timedelta(days=1), last_day


def location_template(bucket: str) -> str:
    """The projected partition location (`storage.location.template`); `${dt}` stays literal."""
    return f"s3://{bucket}/{ARCHIVE_PREFIX}{PARTITION_KEY}=${{{PARTITION_KEY}}}/"


def database_name(stack: str) -> str:
    """The stack's Glue database: lower-case letters, digits and underscores, as Athena needs."""
    return "cafepipe_" + stack.replace("-", "_")


def WORKGROUP(stack: str) -> str:
    """The stack's Athena workgroup."""
    return f"cafepipe-{stack}"
