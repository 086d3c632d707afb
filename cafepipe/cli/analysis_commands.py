"""Commands that answer questions: cost, insights, dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cafepipe.cli.context import CliState, pass_state
from cafepipe.cli.views import emit_json, err_console, out_console, print_cost_table

COST_EPILOG = """\b
Examples:
  cafepipe cost                              # the default stack at the default usage
  cafepipe cost --usage usage.toml           # your own traffic assumptions
  cafepipe --region us-east-2 cost --instance-type t4g.micro --format json
  cafepipe cost --site-access public-ip     # a public IPv4 address instead of CloudFront
  cafepipe cost --format csv --months 24 > cost.csv

\b
usage.toml (also accepted as [usage] in cafepipe.toml), e.g.:
  log_lines_per_month = 3000000
  s3_storage_gb = 30
  data_out_gb_per_month = 5
"""


@click.command("cost", epilog=COST_EPILOG)
@click.option(
    "--usage",
    "usage_file",
    type=click.Path(dir_okay=False),
    help="TOML file of usage assumptions (overrides cafepipe.toml [usage]).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--months", type=int, default=12, show_default=True, help="Also total this many months."
)
@click.option("--instance-type", help="Price another instance type (default: the config's).")
@click.option(
    "--site-access",
    type=click.Choice(["cloudfront", "public-ip"]),
    help="Price another way of reaching the site (default: the config's site_access).",
)
@click.option(
    "--rendered",
    "rendered_dir",
    type=click.Path(file_okay=False, exists=True),
    help="Price this already rendered Terraform directory instead of rendering the config.",
)
@pass_state
def cost_command(
    state: CliState,
    usage_file: str | None,
    output_format: str,
    months: int,
    instance_type: str | None,
    site_access: str | None,
    rendered_dir: str | None,
) -> None:
    """What the stack costs per month and per year — offline, before anything is created.

    Fixed items are read from the rendered Terraform (instance, volume, public IPv4, metrics,
    alarms, dashboards, log groups, bucket); usage items (log volume, queries, S3, data out)
    come from documented defaults you can override. Prices are an embedded, dated table of
    AWS list prices, with the always-free tiers applied.
    """
    from cafepipe import cost

    overrides = {"instance_type": instance_type, "site_access": site_access}
    config = state.config(**{k: v for k, v in overrides.items() if v})
    usage = cost.read_usage_file(usage_file) if usage_file else None
    report = cost.estimate_cost(
        config, usage, months=months, terraform_dir=Path(rendered_dir) if rendered_dir else None
    )
    if output_format == "json":
        emit_json(report.to_dict())
    elif output_format == "csv":
        click.echo(cost.report_csv(report), nl=False)
    else:
        print_cost_table(report)


INSIGHTS_EPILOG = """\b
Examples:
  cafepipe insights                                  # the stack's latest simulated log
  cafepipe insights --source access_log.gz --format json > insights.json
  cafepipe insights --source s3://my-bucket/simulated-logs/access_log.json.gz
  cafepipe insights --source logs:apache/access --since 7d       # events pulled back
  cafepipe insights --engine cloudwatch --since 24h               # Logs Insights, priced
  cafepipe insights --engine athena --since 30d      # the S3 data lake on Athena, priced
  cafepipe insights --source s3://my-bucket/archive/ --since 30d  # the same lake, read here
  cafepipe insights --engine athena --show-sql       # the Trino statements, nothing run
  cafepipe insights --since 7d                  # the last week, beside the week before
  cafepipe insights --since 2026-11-01 --until 2026-12-01 --compare none
  cafepipe insights --where country=France --where device=phone   # French phones only
  cafepipe insights --format html --out report.html               # self-contained report
  cafepipe insights --format csv > insights.csv   # long format: insight,row,column,value
"""


def _insights_clients(state: CliState, source: str | None, engine: str) -> Any:
    from cafepipe.insights.sources import parse_source

    if source:
        parse_source(source)  # a malformed source is bad input (exit 2), whatever the credentials
        if engine == "athena":
            from cafepipe.errors import UsageError

            raise UsageError(
                "--engine athena reads the stack's data lake, not --source",
                "leave out --source (or use --engine duckdb --source s3://BUCKET/archive/)",
            )
    cloud = engine in ("cloudwatch", "athena") or (source or "").startswith(("s3://", "logs:"))
    if not cloud:
        return None
    from cafepipe.aws import AwsClients  # boto3 takes 0.1 s to import: only for the cloud

    clients = AwsClients.for_config(state.config())
    clients.check_credentials()
    return clients


def _lake_names(state: CliState) -> Any:
    """The stack's Glue database, table and Athena workgroup: its outputs, else lake.py's names."""
    from cafepipe.deploy.stack import stack_outputs
    from cafepipe.errors import CafepipeError
    from cafepipe.insights import LakeNames

    config = state.config()
    try:
        outputs = stack_outputs(config)
    except CafepipeError:  # not created from here: the names the lake module gives it
        outputs = {}
    return LakeNames.of_stack(config.stack, outputs)


def _compute_insights(
    state: CliState,
    source: str | None,
    log_format: str,
    engine: str,
    since: str | None,
    until: str | None = None,
    compare: str | None = None,
    where: tuple[str, ...] = (),
) -> Any:
    from cafepipe.insights import check_scope, compute_insights
    from cafepipe.insights.sources import latest_simulated_log

    config = state.config()
    # Bad periods and filters are exit 2 before any credential check or cloud call.
    check_scope(engine, since, until, compare, where, config.timezone)
    clients = _insights_clients(state, source, engine)
    with err_console.status("reading the log and answering the questions…"):
        return compute_insights(
            source,
            latest_simulated_log(config.stack_dir),
            config.access_log_group,
            clients,
            engine=engine,
            log_format=log_format,
            since=since,
            until=until,
            compare=compare,
            where=where,
            zone=config.timezone,
            lake=_lake_names(state) if engine == "athena" else None,
            # DuckDB spills to the stack's state dir (a log without a stack: the system's).
            temp_dir=config.stack_dir / "tmp" if config.stack_dir.is_dir() else None,
        )


def _show_sql(
    state: CliState, engine: str, since: str | None, until: str | None, where: tuple[str, ...]
) -> None:
    """`--show-sql`: each insight's statement for `engine`, nothing run, no AWS call."""
    from cafepipe.insights import engine_statements

    config = state.config()
    lake = _lake_names(state) if engine == "athena" else None
    for insight, statement in engine_statements(engine, since, until, where, config.timezone, lake):
        click.echo(f"-- {insight.id}: {insight.title}\n{statement.rstrip().rstrip(';')};\n")


def _print_comparison(data: dict[str, Any]) -> None:
    """The headline figures beside the previous period's: change and %."""
    from rich.table import Table

    from cafepipe.insights.report import label
    from cafepipe.insights.scope import RATE_KEYS, comparison_rows

    rows = comparison_rows(data)
    if not rows:
        return
    table = Table(title="Compared with the previous period", title_justify="left", show_edge=False)
    for index, heading in enumerate(("Measure", "This period", "Previous", "Change", "%")):
        table.add_column(heading, justify="right" if index else "left")
    for key, now, before, change, percent in rows:
        if key in RATE_KEYS:
            cells = [f"{100 * now:.1f} %", f"{100 * before:.1f} %", f"{100 * change:+.1f} pts"]
        else:
            cells = [f"{now:,}", f"{before:,}", f"{change:+,}"]
        shown = "new" if not before and now else "–" if percent is None else f"{percent:+.1f} %"
        table.add_row(label(key), *cells, shown)
    out_console.print(table)


_source_option = click.option(
    "--source",
    help="FILE (plain or .gz, JSON or combined), s3://bucket/key, s3://bucket/archive/ "
    "(the stack's data lake, partitions pruned by --since/--until), or logs:<group> "
    "(default: the stack's latest simulated log).",
)


@click.command("insights", epilog=INSIGHTS_EPILOG)
@_source_option
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "combined"]),
    default="auto",
    show_default=True,
    help="Log line format (auto: detected from the first lines).",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "cloudwatch", "athena"]),
    default="duckdb",
    show_default=True,
    help="duckdb: computed here; cloudwatch: Logs Insights on the log group (priced); "
    "athena: the stack's S3 data lake on Amazon Athena (priced per TB scanned).",
)
@click.option(
    "--since",
    help="Only lines from this long ago or this date on: 7d, 24h, 2026-11-01 (a date or time "
    "without an offset is the café's, config timezone).",
)
@click.option(
    "--until",
    help="Only lines before this (exclusive): a date, a time, or a duration back from now.",
)
@click.option(
    "--compare",
    type=click.Choice(["previous", "none"]),
    help="previous: every headline figure beside the period of the same length just before "
    "(the default when --since is given); none: no comparison.",
)
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Only lines where FIELD is VALUE (any case), for every insight; repeatable: one field "
    "given twice is either value. Fields: city, region, country (name or code), referrer (host), "
    "campaign (utm_campaign), device, browser, page (path). Every engine (cloudwatch: Logs "
    "Insights filter commands in front of each query).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv", "html"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout."
)
@click.option(
    "--show-sql",
    is_flag=True,
    help="Print the statements the engine would run, one per insight, and run nothing "
    "(athena: the Trino form; cloudwatch: the Logs Insights queries).",
)
@pass_state
def insights_command(
    state: CliState,
    source: str | None,
    log_format: str,
    engine: str,
    since: str | None,
    until: str | None,
    compare: str | None,
    where: tuple[str, ...],
    output_format: str,
    out: Path | None,
    show_sql: bool,
) -> None:
    """What the café owner wants to know, from the access log.

    Traffic by day, hour and weekday; visitors; top pages; menu items looked at and
    ordered; menu visitors vs purchasers and the conversion rate; cities, regions and
    countries; referrers and campaigns; devices and browsers; errors and slow pages; bots,
    scanner probes and the addresses behind them. Malformed lines are counted
    (invalid_lines) and skipped.

    \b
    JSON: the schema in docs/insights.schema.json (requests, invalid_lines, bytes, unique_ips,
    status_classes, top_paths, menu_views, order_requests, menu_visitors, purchasers,
    conversion_rate, by_city, by_region, by_country, hourly, bot_requests,
    scanner_requests) plus one key per other insight, and "meta" (source, engine; for
    cloudwatch: bytes_scanned and cost_usd at Logs Insights' price per GB; for athena: the
    same at $5/TB with 10 MB minimum per query, and each query's own).
    """
    from cafepipe.insights.report import write_output
    from cafepipe.insights.summary import program_json

    if show_sql:
        _show_sql(state, engine, since, until, where)
        return
    run = _compute_insights(state, source, log_format, engine, since, until, compare, where)
    # JSON is for programs: rows as named objects (cafepipe.insights.summary.program_json).
    shown = program_json(run.data) if output_format == "json" else run.data
    write_output(shown, run.meta, output_format, out, out_console)
    if output_format == "table" and out is None:
        _print_comparison(run.data)
    if engine == "cloudwatch" and output_format == "table":
        err_console.print(
            f"Logs Insights scanned {run.meta['bytes_scanned']:,} bytes "
            f"(${run.meta['cost_usd']:.6f} at ${run.meta['price_per_gb_usd']}/GB)"
        )
    if engine == "athena" and output_format == "table":
        err_console.print(
            f"Athena scanned {run.meta['bytes_scanned']:,} bytes in {len(run.meta['queries'])} "
            f"queries (${run.meta['cost_usd']:.6f} at ${run.meta['price_per_tb_usd']}/TB, "
            "10 MB minimum per query)"
        )
    if out is not None:
        err_console.print(f"wrote {out}")


@click.command("dashboard")
@click.option(
    "--preview",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write FILE: the dashboard's answers computed locally, as an HTML report.",
)
@_source_option
@pass_state
def dashboard_command(state: CliState, preview: Path | None, source: str | None) -> None:
    """Print the CloudWatch dashboard body the stack deploys (JSON), generated from the catalog.

    Markdown section headers (Traffic, Customers, Menu and orders, Where customers are,
    Noise and security, Operations) and one Logs Insights widget per insight.

    \b
    Examples:
      cafepipe dashboard > dashboard.json
      cafepipe dashboard --preview report.html                 # from the simulated log
      cafepipe dashboard --preview report.html --source access_log
    """
    from cafepipe.deploy.dashboard import dashboard_body
    from cafepipe.insights.report import write_output

    config = state.config()
    body = dashboard_body(config)
    if preview is not None:
        run = _compute_insights(state, source, "auto", "duckdb", None)
        run.meta["engine"] = f"preview of dashboard {config.dashboard_name}, computed locally"
        write_output(run.data, run.meta, "html", preview, out_console)
        err_console.print(f"wrote {preview}")
    emit_json(body)


COMMANDS = (cost_command, insights_command, dashboard_command)
