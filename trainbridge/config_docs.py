"""docs/configuration.md, generated from the declared settings (trainbridge.configuration)
and the hand-written text around them (configuration.template.md, next to this module):

    python -m trainbridge.config_docs           # rewrite docs/configuration.md
    python -m trainbridge.config_docs --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from eventlog.config import Declared
from trainbridge.configuration import GROUPS, Group, readers

TEMPLATE = Path(__file__).with_name("configuration.template.md")
TARGET = Path(__file__).parents[1] / "docs" / "configuration.md"
TABLES = "<!-- settings tables -->"
REGENERATE = "python -m trainbridge.config_docs"


def render() -> str:
    template = TEMPLATE.read_text(encoding="utf-8")
    if TABLES not in template:
        raise ValueError(f"{TEMPLATE.name} has no {TABLES} line")
    return template.replace(TABLES, "\n\n".join(table(group) for group in GROUPS))


def table(group: Group) -> str:
    lines = [f"## {group.title}", ""]
    if group.about:
        lines += [group.about, ""]
    lines += ["| variable | default | accepts | read by | what it does |", "|---|---|---|---|---|"]
    lines += [row(setting) for setting in group.settings]
    return "\n".join(lines)


def row(setting: Declared) -> str:
    accepts = setting.accepted + (", secret" if setting.secret else "")
    read_by = ", ".join(c if " " in c else f"`{c}`" for c in readers(setting))
    cells = (f"`{setting.name}`", setting.shown_default, accepts, read_by, setting.description)
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def main(argv: Sequence[str] | None = None, target: Path = TARGET) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help=f"only check that {target.name} is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    wanted = render()
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        if current != wanted:
            print(f"{target} is out of date: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        target.write_text(wanted, encoding="utf-8")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
