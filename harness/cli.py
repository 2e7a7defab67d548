"""The `paycert` command.

    paycert catalog                 what the catalog holds, per API, kind and provenance
    paycert simulate                serve both APIs on loopback (the embedded simulator)
    paycert certify                 run the suites against a target and write the certification report
    paycert report RUN              print the summary of a written report
    paycert verify PACKAGE          check a signed certification package
    paycert diff A B                the behavioural difference between two runs

Every user error ends in one line on stderr and exit code 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness import __version__

# Off a terminal (CI logs, pipes) rich would assume 80 columns and truncate the tables.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False)


class UsageFailure(Exception):
    """An error the user can fix; printed as one line."""


def _cmd_catalog(args: argparse.Namespace) -> int:
    from harness.catalog import Requirement, all_requirements

    reqs = all_requirements()
    table = Table(title="paycert catalog: requirements per API and kind")
    table.add_column("API")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for prov in ("documented", "adopted", "simulator"):
        table.add_column(prov, justify="right")
    table.add_column("simulator-only", justify="right")
    groups: dict[tuple[str, str], list[Requirement]] = {}
    for r in reqs:
        groups.setdefault((r.api, r.kind), []).append(r)
    for (api, kind), items in groups.items():
        by_provenance = Counter(r.provenance.value for r in items)
        sim_only = sum(r.simulator_only for r in items)
        counts = (str(by_provenance.get(p, 0)) for p in ("documented", "adopted", "simulator"))
        table.add_row(api, kind, str(len(items)), *counts, str(sim_only))
    console.print(table)
    advisory = sum(r.weight.value == "advisory" for r in reqs)
    console.print(f"{len(reqs)} requirements in all, {advisory} advisory.")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from harness.config import load_settings
    from harness.simulator.server import serve
    from harness.simulator.state import SimulatorConfig

    settings = load_settings(args.env_file, target="simulator")
    bp, bc = settings.betterpayment, settings.bettercharge
    config = SimulatorConfig(
        data_dir=args.data_dir, strict=args.strict,
        bettercharge_api_key=bc.api_key, bettercharge_partner_id=bc.partner_id,
        betterpayment_api_key=bp.api_key, betterpayment_api_password=bp.api_password,
        betterpayment_incoming_key=bp.incoming_key, betterpayment_webhook_key=bp.webhook_key,
    )
    url = f"http://{args.host}:{args.port}"
    console.print(f"[bold]paycert simulator[/] on {url}  (state: {args.data_dir or 'in memory'})")
    console.print(f"  BetterCharge   {url}/payments  x-api-key: {bc.api_key}  x-partner-id: {bc.partner_id}")
    console.print(f"  Better Payment {url}/rest      Basic auth: {bp.api_key} / (BETTERPAYMENT_API_PASSWORD or the "
                  "documented example password)")
    console.print(f"  control        {url}/_simulator/...  (see README)")
    console.print("  Ctrl-C stops it.")
    serve(config, args.host, args.port)
    return 0


def _not_yet(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        raise UsageFailure(f"'paycert {name}' is not available in this version yet")

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paycert",
        description="Contract tests and go-live certification for the Better Payment and BetterCharge APIs. "
        "Runs offline against an embedded simulator by default, or against a sandbox with credentials from .env.",
    )
    parser.add_argument("--version", action="version", version=f"paycert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("catalog", help="show the catalog of documented facts (counts per kind and provenance)")
    p.set_defaults(run=_cmd_catalog)

    p = sub.add_parser("simulate", help="serve both APIs from the embedded simulator on loopback")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787, help="port (default 8787)")
    p.add_argument("--data-dir", type=Path, default=None, help="keep state in a SQLite file here (default: memory)")
    p.add_argument("--strict", action="store_true", help="Better Payment: refuse loopback http:// URLs as well")
    p.add_argument("--env-file", type=Path, default=None, help="a .env file overriding the simulator credentials")
    p.set_defaults(run=_cmd_simulate)

    for name, text in (("certify", "run the suites against a target and write the certification report"),
                       ("report", "print the summary of a written report"),
                       ("verify", "verify a signed certification package"),
                       ("diff", "compare two runs' report.json")):
        p = sub.add_parser(name, help=text)
        p.set_defaults(run=_not_yet(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from harness.catalog import CatalogError
    from harness.config import ConfigError

    try:
        return int(args.run(args))
    except (UsageFailure, ConfigError, CatalogError) as exc:
        err.print(f"paycert: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
