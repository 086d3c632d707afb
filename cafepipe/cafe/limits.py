"""AWS limits the pipeline is shaped by, each defined once.

CloudWatch Logs (PutLogEvents): events older than 14 days or more than 2 hours ahead are
refused; a call carries at most 10,000 events and 1,048,576 bytes, where every event counts
its UTF-8 message plus 26 bytes of metadata (the same 26 bytes are billed as ingested data);
one call may span at most 24 hours. EC2 user data is at most 16 KB.
"""

from __future__ import annotations

from datetime import timedelta

LOGS_MAX_EVENT_AGE_DAYS = 14
LOGS_MAX_EVENT_AGE = timedelta(days=LOGS_MAX_EVENT_AGE_DAYS)
LOGS_MAX_EVENT_FUTURE = timedelta(hours=2)
LOGS_EVENT_OVERHEAD_BYTES = 26
LOGS_MAX_BATCH_EVENTS = 10_000
LOGS_MAX_BATCH_BYTES = 1_048_576
LOGS_MAX_BATCH_SPAN = timedelta(hours=24)
# The longest retention CloudWatch Logs offers (3653 days): no log it keeps spans more.
LOGS_MAX_RETENTION = timedelta(days=3653)
EC2_USER_DATA_MAX_BYTES = 16_384
