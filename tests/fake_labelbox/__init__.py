"""The fake Labelbox server, running in-process for a test: ``running_fake_labelbox()`` and
the ``fake_labelbox`` fixture (tests/conftest.py). Tests in this package drive it with the
real ``labelbox`` SDK.

(The helper lives in this package's ``__init__`` so that ``tests.fake_labelbox`` is both
the import path of the helper and the home of its tests.)"""

from __future__ import annotations

from tests.fake_labelbox.running import FakeLabelbox, running_fake_labelbox, without_sdk_retries

__all__ = ["FakeLabelbox", "running_fake_labelbox", "without_sdk_retries"]
