"""The simulated café clickstream: a realistic, deterministic, fast access-log generator.

`generate_log(build_options(...), out)` writes a log that looks like the café site's Apache
access log (`lines`) and returns its ground truth (`truth`), counted from the generated lines.
Who visits and how is in `visitors`; `profiles` holds the options, `tables` and `batches` the
model, `writer` the output.

The same options (seed included, and an explicit `end`) give byte-identical output on any
machine: every random draw comes from numpy's PCG64 bit stream, seeded per batch of output,
and only exact operations turn draws into integer choices (`sampling`).
"""

from cafepipe.logs.generate.profiles import (
    DEFAULT_PROFILE,
    FORMATS,
    PROFILES,
    GeneratorOptions,
    Profile,
    build_options,
    parse_time,
    profile_name,
    window_warnings,
)
from cafepipe.logs.generate.writer import (
    Progress,
    check_writable,
    generate_log,
    iter_log_chunks,
    write_log,
    write_truth,
)

__all__ = [
    "DEFAULT_PROFILE",
    "FORMATS",
    "PROFILES",
    "GeneratorOptions",
    "Profile",
    "Progress",
    "build_options",
    "check_writable",
    "generate_log",
    "iter_log_chunks",
    "parse_time",
    "profile_name",
    "window_warnings",
    "write_log",
    "write_truth",
]
