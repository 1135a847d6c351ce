"""``trainbridge fake-labelbox``: a fake Labelbox API for tests and demos."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "fake-labelbox",
        help="serve a fake Labelbox GraphQL API for tests and demos (control API: /_fake)",
        description="A stateful fake of the Labelbox API the SDK can be pointed at "
                    "(labelbox.Client(endpoint='http://HOST:PORT/graphql')).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (8081)")
    parser.add_argument("--api-key", default=None, help="require this API key (default: any)")
    parser.add_argument("--auto-create", action="store_true",
                        help="serve unknown model run ids (with the sample rows) instead of 404")
    parser.add_argument("--sample-model-run", action="append", metavar="ID",
                        help="register a model run serving the sample text rows (repeatable)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from eventlog.json_logs import use_json_logs
    from eventlog.settings import log_format, log_level
    from fake_labelbox.runner import serve

    use_json_logs(log_level(environ), log_format=log_format(environ))

    serve(host=args.host, port=args.port, api_key=args.api_key, auto_create=args.auto_create,
          sample_model_runs=args.sample_model_run or ())
    return 0
