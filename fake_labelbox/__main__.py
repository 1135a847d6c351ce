"""``python -m fake_labelbox [options]`` is ``trainbridge fake-labelbox [options]``."""

from __future__ import annotations

import sys

from trainbridge.cli import main

if __name__ == "__main__":
    sys.exit(main(["fake-labelbox", *sys.argv[1:]]))
