"""``openenv-gym validate PATH_OR_NAME`` / ``openenv-gym validate --url URL``.

Static checks of an environment's folder (:mod:`.static_checks`) or checks of a running server,
ours or upstream's (:mod:`.server_checks`). Exit code 0 when every required check passes, 1
otherwise.
"""

from __future__ import annotations

import argparse
import json

from ..errors import UsageError
from .checks import report, text


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "validate", help="check an environment folder, or a running server with --url",
        description="Check an environment without running it (manifest, app, models, spaces, "
                    "Dockerfile), or a running server with --url (upstream's criteria: OpenAPI, "
                    "health, metadata, schema, MCP, mode routes; ours: a reset/step round trip over "
                    "/ws and the Gym spaces).",
        epilog="Exit code 0: every required check passed; 1: one failed; 2: usage error.")
    parser.add_argument("target", metavar="PATH_OR_NAME", nargs="?",
                        help="an environment folder or name (not with --url)")
    parser.add_argument("--url", help="check the server running at this URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for each reply (--url; default 5)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if (args.url is None) == (args.target is None):
        raise UsageError("give an environment folder or name, or --url URL (one of them)")
    if args.url is not None:
        from .server_checks import check_server

        if not args.url.startswith(("http://", "https://")):
            raise UsageError(f"--url {args.url!r} must start with http:// or https://")
        where, kind, checks = args.url, "running_environment", check_server(args.url, args.timeout)
    else:
        from .static_checks import check_path

        kind = "local_environment"
        where, checks = check_path(args.target)
    result = report(where, kind, checks)
    print(json.dumps(result, indent=1) if args.json else
          f"{where}\n{text(checks)}\n{'passed' if result['passed'] else 'FAILED'}: "
          f"{result['summary']['passed_count']}/{result['summary']['total_count']} checks")
    return 0 if result["passed"] else 1
