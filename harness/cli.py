"""The `paycert` command.

    paycert catalog                 what the catalog holds, per API, kind and provenance
    paycert simulate                serve both APIs on loopback (the embedded simulator)
    paycert certify                 run the suites against a target and write the certification report
    paycert report RUN              print the summary of a written report
    paycert verify PACKAGE          check a signed certification package
    paycert diff A B                the behavioural difference between two runs, or two OpenAPI documents
    paycert history [DIR]           each requirement's outcome over the last runs; flaky ones, regressions
    paycert init [DIR]              .env.example, .gitignore, waivers and CI workflows for a team's repository

Every user error ends in one line on stderr and exit code 2; no traceback reaches the user. How: argparse's own
errors are one line (`_Parser`); every command runs inside `_report_layer`, which prints the one line of a
user error (any `PaycertError`), translates what the operating system refuses (`_os_error`) and, for a defect
of paycert itself, prints one line pointing to a file holding the traceback.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import re
import socket
import sqlite3
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from harness import __version__
from harness.errors import PaycertError

# Off a terminal (CI logs, pipes) rich would assume 80 columns and truncate the tables.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False)


class UsageFailure(PaycertError):
    """An error the user can fix; printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line: its default prints the whole usage block before the reason."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.partition(" ")[2]  # "paycert certify" -> "certify"
        self.exit(2, f"paycert: {command + ': ' if command else ''}{message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0-65535; 0 picks a free one)")
    return value


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _host(text: str) -> str:
    """An IPv4 address or a host name, checked by syntax (resolving happens at bind time)."""
    host = text.strip()
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None and address.version == 6:
        raise argparse.ArgumentTypeError(f"{text!r}: the simulator listens on IPv4 only; use 127.0.0.1")
    if address is None:
        labels = host.rstrip(".").split(".")
        if not host or len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels) \
                or labels[-1].isdigit():
            raise argparse.ArgumentTypeError(f"{text!r} is neither an IPv4 address nor a host name")
    return host


def _cmd_catalog(args: argparse.Namespace) -> int:
    from harness.catalog import Provenance, Requirement, all_requirements

    provenances = tuple(p.value for p in Provenance)
    reqs = all_requirements()
    table = Table(title="paycert catalog: requirements per API and kind")
    table.add_column("API")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for prov in provenances:
        table.add_column(prov, justify="right")
    table.add_column("simulator-only", justify="right")
    groups: dict[tuple[str, str], list[Requirement]] = {}
    for r in reqs:
        groups.setdefault((r.api, r.kind), []).append(r)
    for (api, kind), items in groups.items():
        by_provenance = Counter(r.provenance.value for r in items)
        sim_only = sum(r.simulator_only for r in items)
        counts = (str(by_provenance.get(p, 0)) for p in provenances)
        table.add_row(api, kind, str(len(items)), *counts, str(sim_only))
    console.print(table)
    advisory = sum(r.weight.value == "advisory" for r in reqs)
    console.print(f"{len(reqs)} requirements in all, {advisory} advisory.")
    from harness.report.boundaries import print_catalog_boundaries

    return print_catalog_boundaries(console)


def _cmd_simulate(args: argparse.Namespace) -> int:
    port = _check_bind(args.host, args.port)  # before the imports below: a bad argument is refused at once
    if args.data_dir is not None:
        _check_data_dir(args.data_dir)
    from harness.config import load_settings
    from harness.simulator.server import serve
    from harness.simulator.state import SimulatorConfig, simulator_token

    settings = load_settings(args.env_file, target="simulator")
    bp, bc = settings.betterpayment, settings.bettercharge
    config = SimulatorConfig(
        data_dir=args.data_dir, strict=args.strict,
        bettercharge_api_key=bc.api_key, bettercharge_partner_id=bc.partner_id,
        betterpayment_api_key=bp.api_key, betterpayment_api_password=bp.api_password,
        betterpayment_incoming_key=bp.incoming_key, betterpayment_webhook_key=bp.webhook_key,
        control_token=simulator_token(args.control_token, args.env_file),
    )
    if args.bp_error_transport:
        from harness.simulator.betterpayment.context import ERROR_TRANSPORT_ENV

        os.environ[ERROR_TRANSPORT_ENV] = args.bp_error_transport
    url = f"http://{args.host}:{port}"
    console.print(f"[bold]paycert simulator[/] on {url}  (state: {args.data_dir or 'in memory'})")
    console.print(f"  BetterCharge   {url}/payments  x-api-key: {_hidden(bc.api_key)}  x-partner-id: {bc.partner_id}",
                  markup=False)
    console.print(f"  Better Payment {url}/rest      Basic auth: {_hidden(bp.api_key)} / {_hidden(bp.api_password)}",
                  markup=False)
    console.print("  credentials    BETTERCHARGE_API_KEY, BETTERPAYMENT_API_KEY, BETTERPAYMENT_API_PASSWORD "
                  "(environment or .env), else the simulator defaults in README", markup=False)
    console.print(f"  control        {url}/_simulator/...  (see README)"
                  + ("  token required (X-Paycert-Control-Token)" if config.control_token else ""))
    console.print("  Ctrl-C stops it.")
    try:
        serve(config, args.host, port)
    except (OSError, sqlite3.Error) as exc:
        raise UsageFailure(_store_error(exc, args.data_dir)) from None
    return 0


def _hidden(secret: str | None) -> str:
    """A credential in the banner: never its characters (a banner ends up in CI logs and screenshots)."""
    return f"<hidden, {len(secret)} characters>" if secret else "<none>"


def _check_bind(host: str, port: int) -> int:
    """Bind once and let go, so a port in use or a foreign address is one line before anything is printed; the
    port to serve on (for --port 0, the free one the system picked, so the banner shows the real URL)."""
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageFailure(f"--host {host}: cannot resolve it to an IPv4 address ({exc.strerror})") from None
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(infos[0][4])
        return int(probe.getsockname()[1])
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageFailure(f"--port {port}: {host}:{port} is already in use (another simulator?); choose "
                               "another --port, or 0 for a free one") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageFailure(f"--host {host}: not an address of this machine") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UsageFailure(f"--port {port}: not allowed to listen on {host}:{port} (ports below 1024 need "
                               "privileges)") from None
        raise UsageFailure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        probe.close()


def _check_data_dir(path: Path) -> None:
    """A directory that is, or can be created, and written to: refused in one line before anything is printed.

    Nothing is created here: the store creates the directory itself, with the mode it wants."""
    if path.exists() and not path.is_dir():
        raise UsageFailure(f"--data-dir {path}: is a file, not a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageFailure(f"--data-dir {path}: {existing} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        doing = "cannot write in it" if existing == path else f"cannot create it in {existing}"
        raise UsageFailure(f"--data-dir {path}: {doing} ({exc.strerror or exc})") from None


def _store_error(exc: OSError | sqlite3.Error, data_dir: Path | None) -> str:
    """What the store under --data-dir refused (serve has bound already, so the rest is the store)."""
    if isinstance(exc, sqlite3.Error):
        return (f"--data-dir {data_dir}: the simulator store cannot be used ({exc}); move it away or choose "
                "another --data-dir")
    where = exc.filename if isinstance(exc, OSError) and exc.filename else data_dir
    if data_dir is not None and where:
        return f"--data-dir {data_dir}: {where}: {exc.strerror or exc}"
    return f"the simulator could not start: {exc.strerror or exc}"


def _say(message: str) -> int:
    """One line on stderr (never wrapped: paths can be long), exit code 2."""
    line = " ".join(message.split()).encode("utf-8", "backslashreplace").decode()  # a name that is not UTF-8
    err.print(f"paycert: {line}", markup=False, highlight=False, soft_wrap=True)
    return 2


def _os_error(exc: OSError) -> str:
    """What the operating system refused, naming the file when it says which."""
    what = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {what}" if exc.filename else what


def _defect(exc: BaseException) -> str:
    """A defect of paycert itself: the traceback goes to a file, the user gets one line pointing at it."""
    try:
        fd, name = tempfile.mkstemp(prefix="paycert-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(traceback.format_exception(exc)))
        where = f"; the traceback is in {name}"
    except OSError:
        where = ""
    return f"unexpected error ({type(exc).__name__}: {exc}){where}; please report it"


def _report_layer(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Every command runs inside this: a user error or an OS refusal is one line on stderr and exit 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except KeyboardInterrupt:
            return 130
        except PaycertError as exc:  # raised on purpose: str() is the one line (harness/errors.py)
            return _say(str(exc))
        except OSError as exc:
            return _say(_os_error(exc))
        except Exception as exc:  # the last resort: never a traceback on the user's terminal
            return _say(_defect(exc))

    return run


@_report_layer
def _cmd_certify(args: argparse.Namespace) -> int:
    from harness.report.certify import CertifyOptions, certify, parse_apis

    options = CertifyOptions(apis=parse_apis(args.api), target=args.target, env_file=args.env_file,
                             workers=args.workers, out_dir=args.out, waivers=args.waivers,
                             allow_production=args.allow_production, suites_dir=args.suites,
                             baseline=args.baseline, fixtures=args.fixtures, resume=args.resume)
    return certify(options, console).exit_code


@_report_layer
def _cmd_check(args: argparse.Namespace) -> int:
    from harness.report.certify import parse_apis
    from harness.report.console import say
    from harness.report.preflight import check_command

    return check_command(parse_apis(args.api), args.target, args.env_file, args.allow_production,
                         lambda line: say(console, line))


@_report_layer
def _cmd_calibrate(args: argparse.Namespace) -> int:
    from harness.report.calibration import calibrate_command
    from harness.report.console import say

    return calibrate_command(args.run_ref, args.out, lambda line: say(console, line))


@_report_layer
def _cmd_report(args: argparse.Namespace) -> int:
    from harness.report.console import print_summary
    from harness.report.model import load_report
    from harness.report.runs import resolve_report

    path = resolve_report(args.run_ref, args.out)
    print_summary(console, load_report(path), location=str(path))
    return 0


@_report_layer
def _cmd_verify(args: argparse.Namespace) -> int:
    from harness.report.package import verify_package
    from harness.report.trust import trust_anchor

    if not args.package.is_file():
        what = ("is a directory, not a package zip" if args.package.is_dir() else
                "is not a regular file" if args.package.exists() else "no such file")
        raise UsageFailure(f"verify: {args.package}: {what}")
    trust = trust_anchor(args.public_key, args.trusted_keys)
    result = verify_package(args.package, trust, allow_expired=args.allow_expired)
    console.print(result.message, markup=False, highlight=False, soft_wrap=True)
    return 0 if result.ok else 1


@_report_layer
def _cmd_diff(args: argparse.Namespace) -> int:
    from harness.report.compare import diff_command

    return diff_command(console, args.a, args.b, openapi=args.openapi, out=args.out)


@_report_layer
def _cmd_history(args: argparse.Namespace) -> int:
    from harness.report.console import print_history
    from harness.report.history import history

    result = history(args.reports_dir, args.last)
    print_history(console, result, show_all=args.all)
    return 1 if result.regressions else 0


@_report_layer
def _cmd_init(args: argparse.Namespace) -> int:
    from harness.errors import ScaffoldError
    from harness.scaffold import init

    try:
        steps = init(args.directory)
    except ScaffoldError as exc:
        raise UsageFailure(str(exc)) from None
    for step in steps:
        console.print(f"{step.action:>8}  {args.directory / step.path}" + (f"  ({step.note})" if step.note else ""),
                      markup=False, highlight=False, soft_wrap=True)
    return 0


@_report_layer
def _cmd_mutate(args: argparse.Namespace) -> int:
    from harness.mutation import run_mutations

    result = run_mutations(args.api, workers=args.workers, suites_dir=args.suites, defects=args.defect or None,
                           console=console)
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="paycert",
        description="Contract tests and go-live certification for the Better Payment and BetterCharge APIs. "
        "Runs offline against an embedded simulator by default, or against a sandbox with credentials from .env.",
    )
    parser.add_argument("--version", action="version", version=f"paycert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("catalog", help="show the catalog of documented facts (counts per kind and provenance)")
    p.set_defaults(run=_cmd_catalog)

    p = sub.add_parser("simulate", help="serve both APIs from the embedded simulator on loopback")
    p.add_argument("--host", type=_host, default="127.0.0.1", help="IPv4 address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8787, help="port (default 8787; 0 picks a free one)")
    p.add_argument("--data-dir", type=Path, default=None, help="keep state in a SQLite file here (default: memory)")
    p.add_argument("--strict", action="store_true", help="Better Payment: refuse loopback http:// URLs as well")
    p.add_argument("--env-file", type=Path, default=None, help="a .env file overriding the simulator credentials")
    p.add_argument("--control-token", default=None,
                   help="a shared simulator: /_simulator needs this token (X-Paycert-Control-Token); "
                        "default PAYCERT_SIMULATOR_CONTROL_TOKEN")
    p.add_argument("--bp-error-transport", choices=("in_band", "http"), default=None,
                   help="Better Payment application errors: in_band (HTTP 200, the default) or http (row statuses)")
    p.set_defaults(run=_cmd_simulate)

    p = sub.add_parser(
        "certify", help="run the suites against a target and write the certification report",
        description="Run the suites, write <out>/<run-id>/ (report.html, report.json, junit.xml, "
        "allure-results.tar.xz, evidence/, a signed package when ready) and point <out>/latest at it. Exit 0 "
        "only when the verdict is ready for go-live, the leak audit is clean and the package is signed; 1 "
        "otherwise; 2 on a usage error.")
    p.add_argument("--api", default="all", choices=["betterpayment", "bettercharge", "all"],
                   help="which API to certify (default: all)")
    p.add_argument("--target", choices=["simulator", "sandbox"], default=None,
                   help="where to send requests (default: PAYCERT_TARGET, else simulator)")
    p.add_argument("--env-file", type=Path, default=None, metavar="F",
                   help="a .env file with the settings (default: ./.env)")
    p.add_argument("--workers", type=_count(0), default=4, metavar="N",
                   help="pytest-xdist worker processes (default 4; 0 runs in one process)")
    p.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                   help="output directory (default ./reports)")
    p.add_argument("--waivers", type=Path, default=None, metavar="FILE",
                   help="YAML waiver register: requirement, owner, reason, expiry per entry")
    p.add_argument("--allow-production", action="store_true", help="allow production hosts (refused by default)")
    p.add_argument("--suites", type=Path, default=None, metavar="DIR",
                   help="run these suites instead of the shipped ones (default: PAYCERT_SUITES_DIR, else the "
                   "installed suites)")
    p.add_argument("--baseline", default=None, metavar="RUN",
                   help="compare with this earlier run (a run directory, run id or 'latest'); any requirement that "
                   "passed there and fails now fails the run and is named first")
    p.add_argument("--fixtures", type=Path, default=None, metavar="DIR",
                   help="another API version's fixtures directory (catalog/ and <api>/openapi.yaml, a copy of the "
                   "shipped one); sets PAYCERT_FIXTURES for the whole run")
    p.add_argument("--resume", default=None, metavar="RUN",
                   help="finish an interrupted run: its passed tests are not run again (no requests spent on them)")
    p.set_defaults(run=_cmd_certify)

    p = sub.add_parser("check", help="preflight a target: reachability, TLS, credentials, clock, rate limit "
                       "(at most 5 requests per API)")
    p.add_argument("--api", default="all", choices=["betterpayment", "bettercharge", "all"])
    p.add_argument("--target", choices=["simulator", "sandbox"], default=None)
    p.add_argument("--env-file", type=Path, default=None, metavar="F")
    p.add_argument("--allow-production", action="store_true")
    p.set_defaults(run=_cmd_check)

    p = sub.add_parser("calibrate", help="write a sandbox run's unconfirmed assumptions into "
                       "./paycert-calibration.yaml (the catalog overlay) for review")
    p.add_argument("run_ref", metavar="RUN", help="a run directory, its report.json, a run id under --out, or 'latest'")
    p.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR")
    p.set_defaults(run=_cmd_calibrate)

    p = sub.add_parser("mutate", help="run the suites against each deliberate simulator defect; print the score")
    p.add_argument("--api", choices=["all", "bettercharge", "betterpayment"], default="all")
    p.add_argument("--workers", type=_count(1), default=2, help="suite runs at once (default 2)")
    p.add_argument("--suites", type=Path, default=None, help="a suites directory to judge (default: the shipped one)")
    p.add_argument("--defect", action="append", help="only this defect (repeatable)")
    p.set_defaults(run=_cmd_mutate)

    p = sub.add_parser("report", help="print the summary of a written report")
    p.add_argument("run_ref", metavar="RUN", help="a run directory, its report.json, a run id under --out, or 'latest'")
    p.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                   help="where run ids are looked up (default ./reports)")
    p.set_defaults(run=_cmd_report)

    p = sub.add_parser(
        "verify", help="verify a signed certification package (exit 0 valid, 1 not, 2 usage error)",
        description="Valid only when intact AND signed by a key you chose to trust: --public-key, else the "
        "allowed-signers file --trusted-keys / $PAYCERT_TRUSTED_KEYS / ~/.config/paycert/allowed_signers.")
    p.add_argument("package", type=Path, metavar="PACKAGE", help="the package zip")
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--public-key", type=Path, default=None, metavar="KEY",
                       help="trust exactly this key: an OpenSSH .pub line (e.g. <out>/.signing-key.pub) or PEM")
    trust.add_argument("--trusted-keys", type=Path, default=None, metavar="FILE",
                       help="an OpenSSH allowed-signers file of trusted keys (default: $PAYCERT_TRUSTED_KEYS, "
                       "else ~/.config/paycert/allowed_signers)")
    p.add_argument("--allow-expired", action="store_true", help="accept a package whose certificate has expired")
    p.set_defaults(run=_cmd_verify)

    p = sub.add_parser("diff", help="compare two runs' report.json, or two OpenAPI documents (exit 0 identical, "
                       "1 different)")
    p.add_argument("a", metavar="A", nargs="?", help="the earlier run (a run directory, a report.json, a run id or "
                   "'latest') or OpenAPI document (.yaml/.json)")
    p.add_argument("b", metavar="B", nargs="?", help="the later run or OpenAPI document")
    p.add_argument("--openapi", nargs=2, type=Path, default=None, metavar=("A.yaml", "B.yaml"),
                   help="also (or only) compare two OpenAPI documents: breaking changes first")
    p.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                   help="where run ids are looked up (default ./reports)")
    p.set_defaults(run=_cmd_diff)

    p = sub.add_parser("history", help="each requirement's outcome over the last runs; flaky ones and regressions "
                       "(exit 1 when the newest run regressed)")
    p.add_argument("reports_dir", metavar="REPORTS_DIR", nargs="?", type=Path, default=Path("reports"),
                   help="the directory holding the run directories (default ./reports)")
    p.add_argument("--last", type=int, default=10, metavar="N", help="how many of the newest runs (default 10)")
    p.add_argument("--all", action="store_true", help="also list requirements that passed in every run")
    p.set_defaults(run=_cmd_history)

    p = sub.add_parser("init", help="write .env.example, .gitignore entries, a waiver file and CI workflows "
                       "(GitHub Actions, GitLab CI); never overwrites")
    p.add_argument("directory", metavar="DIR", nargs="?", type=Path, default=Path("."),
                   help="the repository to set up (default: the current directory)")
    p.set_defaults(run=_cmd_init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or argparse's one-line error
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "run", None):
        parser.print_usage(sys.stdout)
        return _say("no command given; `paycert --help` lists them")
    return int(_report_layer(args.run)(args))


if __name__ == "__main__":
    sys.exit(main())
