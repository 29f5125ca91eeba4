"""``openenv-gym serve PATH_OR_NAME``: run an environment's server on this machine.

Through :mod:`openenv_gym.server.serve` (keepalive pings off, credentials redacted from logs);
``--reload`` restarts it whenever a file of the environment's folder changes.
"""

from __future__ import annotations

import argparse
import os

from ..errors import UsageError
from .targets import resolve

WEB_VARIABLE = "ENABLE_WEB_INTERFACE"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve", help="run an environment's server",
        description="Serve an environment folder (its openenv.yaml names the app) or a bundled or "
                    "installed environment by name, until Ctrl-C.",
        epilog="Set OPENENV_TOKEN to require 'Authorization: Bearer <token>' on every route but /health.")
    parser.add_argument("target", metavar="PATH_OR_NAME",
                        help="an environment folder (e.g. . or my_env) or a name (e.g. echo)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; 0.0.0.0 serves the network)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--reload", action="store_true",
                        help="restart the server when a file in the environment's folder changes")
    parser.add_argument("--web", action="store_true",
                        help=f"serve the web interface at /web (sets {WEB_VARIABLE}=true)")
    parser.add_argument("--log-level", default="info", help="uvicorn's log level (default info)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from uvicorn.importer import ImportFromStringError, import_from_string

    from openenv_gym.server.serve import serve, serve_reloading

    target = resolve(args.target)
    if args.web:
        os.environ[WEB_VARIABLE] = "true"
    print(f"serving {target.name} ({target.app}) on http://{args.host}:{args.port}"
          f"{' with the web interface at /web' if args.web else ''}; Ctrl-C stops it", flush=True)
    if args.reload:
        serve_reloading(target.app, watch=str(target.folder), host=args.host, port=args.port,
                        log_level=args.log_level, app_dir=str(target.import_root or ""))
    else:
        target.make_importable()
        try:
            app = import_from_string(target.app)
        except ImportFromStringError as exc:
            raise UsageError(f"cannot import the app {target.app!r} named by {target.folder}/openenv.yaml: "
                             f"{exc}") from None
        serve(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
