"""One module per ``trainbridge`` subcommand, each with ``add_parser(subparsers)`` and
``run(args, environ)``; ``trainbridge.cli`` assembles them. A command imports its service
inside ``run``, so ``trainbridge migrate`` never loads the Labelbox SDK (and this package
imports none of them)."""
