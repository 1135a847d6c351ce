"""The fake installs and imports without the Labelbox SDK."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_fake_labelbox_extra_does_not_bring_labelbox() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert not any(r.startswith("labelbox") for r in extras["fake-labelbox"])
    assert any("fake-labelbox" in r for r in extras["dev"])


def test_the_fake_never_imports_the_labelbox_sdk() -> None:
    code = (
        "import sys\n"
        "import fake_labelbox.server, fake_labelbox.control\n"
        "import fake_labelbox.runner\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('labelbox', 'lbox')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
