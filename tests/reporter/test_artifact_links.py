"""What Labelbox's metadata says about a run's artifacts (the model, its metrics): a link a
user can open when the artifact store signs links (object storage), and otherwise where the
artifact is kept, never a path on a server. The signing store is a small fsspec filesystem
registered here, standing in for s3fs or gcsfs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from eventlog.artifacts import read_artifact, write_artifact
from services.reporter.plan import plan_run
from tests.reporter import events as ev
from tests.reporter.in_memory import InMemoryReporter, in_memory_reporter, unit_settings

RUN = "run-1"
PROTOCOL = "signing-test"


class SigningFileSystem(MemoryFileSystem):  # type: ignore[misc]
    """An object store in memory that presigns URLs the way s3fs and gcsfs do."""

    protocol = PROTOCOL

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return str(super()._strip_protocol(path.removeprefix(f"{PROTOCOL}://")))

    def sign(self, path: str, expiration: int = 100, **kwargs: object) -> str:
        return (f"https://objects.example.test/{self._strip_protocol(path).lstrip('/')}"
                f"?expires-in={expiration}&signature=secret-signature")


@pytest.fixture(autouse=True)
def signing_filesystem() -> Iterator[None]:
    fsspec.register_implementation(PROTOCOL, SigningFileSystem, clobber=True)
    yield
    SigningFileSystem.store.clear()


@pytest.fixture
def reporter_on(tmp_path: Path) -> Iterator[Callable[..., InMemoryReporter]]:
    """Builds in-memory reporters whose store is ``artifacts_url`` (default: a local
    directory), links valid for an hour."""
    built: list[InMemoryReporter] = []

    def build(artifacts_url: str | None = None) -> InMemoryReporter:
        settings = unit_settings(tmp_path)
        settings = dataclasses.replace(settings, artifact_link_seconds=3600,
                                       artifacts_url=artifacts_url or settings.artifacts_url)
        built.append(in_memory_reporter(tmp_path, settings=settings))
        return built[-1]

    yield build
    for reporter in built:
        reporter.calls.close()


async def metadata_sent(reporter: InMemoryReporter, model_uri: str, metrics_uri: str,
                        **trainer_metadata: str) -> dict[str, str]:
    """Deliver a trained run's scores and ``COMPLETE``; what Labelbox was shown, merged."""
    await reporter.append(RUN, ev.requested(RUN), ev.export_requested(RUN),
                          ev.evaluated(RUN, metrics_uri=metrics_uri),
                          ev.completed(RUN, model_uri=model_uri, **trainer_metadata))
    plan = plan_run(await reporter.stream(RUN))
    assert plan is not None
    shown: dict[str, str] = {}
    for delivery in plan.deliveries:
        if delivery.key.endswith(("/metrics", "/status/COMPLETE")):
            outcome = await reporter.deliverer.deliver(delivery, plan, {})
            if outcome.last_call is not None:  # audited with the ledger row, as the reconciler does
                await reporter.audit.record(outcome.last_call)
    for _, _, metadata, _ in reporter.port.statuses:
        shown |= metadata
    return shown


async def test_an_object_store_gives_labelbox_links_that_expire_as_configured(
    reporter_on: Callable[..., InMemoryReporter],
) -> None:
    store = f"{PROTOCOL}://bucket/artifacts"
    model = write_artifact(f"{store}/model_run-{RUN}/attempt-1/model.pkl", b"model bytes")
    metrics = write_artifact(f"{store}/model_run-{RUN}/attempt-1/metrics.json", b"{}")
    before = datetime.now(UTC)
    shown = await metadata_sent(reporter_on(store), model.uri, metrics.uri)

    assert read_artifact(model.uri, model.sha256) == b"model bytes"  # written via fsspec
    for key, name in (("model_weights", "model.pkl"), ("metrics", "metrics.json")):
        link = urlsplit(shown[key])
        assert (link.scheme, link.netloc) == ("https", "objects.example.test")
        assert link.path == f"/bucket/artifacts/model_run-{RUN}/attempt-1/{name}"
        assert parse_qs(link.query)["expires-in"] == ["3600"]
        expires = datetime.strptime(shown[f"{key}_expires"], "%Y-%m-%dT%H:%M:%SZ")
        assert (before + timedelta(seconds=3598) <= expires.replace(tzinfo=UTC)
                <= datetime.now(UTC) + timedelta(seconds=3600))
    assert shown["model_sha256"] == "cd"


async def test_the_audit_log_keeps_each_link_without_its_signature(
    reporter_on: Callable[..., InMemoryReporter],
) -> None:
    store = f"{PROTOCOL}://bucket/artifacts"
    reporter = reporter_on(store)
    shown = await metadata_sent(reporter, f"{store}/model.pkl", f"{store}/metrics.json")
    audited = [entry.request["metadata"] for entry in reporter.audit.entries
               if entry.sdk_method == "ModelRun.update_status"]

    assert "signature=secret-signature" in shown["model_weights"]
    assert all("secret-signature" not in str(metadata) for metadata in audited)
    assert any(metadata.get("model_weights") == "https://objects.example.test/bucket/"
               "artifacts/model.pkl?signature-removed" for metadata in audited)


async def test_a_local_store_puts_no_link_and_no_server_path_in_the_metadata(
    reporter_on: Callable[..., InMemoryReporter], tmp_path: Path,
) -> None:
    folder = tmp_path / "artifacts" / f"model_run-{RUN}" / "attempt-1"
    shown = await metadata_sent(
        reporter_on(),  # the default: a local directory
        (folder / "model.pkl").as_uri(), (folder / "metrics.json").as_uri(),
        model_weights=(folder / "model.pkl").as_uri())  # as an earlier trainer said it

    assert shown["model_weights"] == (f"kept on the trainer's host under model run {RUN}, "
                                      f"attempt 1 (no link: artifacts are stored locally)")
    assert shown["metrics"].startswith("kept on the trainer's host under model run run-1")
    assert "model_weights_expires" not in shown
    for key, value in shown.items():
        assert "file:" not in value and str(tmp_path) not in value, key
        assert not value.startswith("/"), key


async def test_a_store_that_cannot_sign_says_where_the_artifact_is_kept(
    reporter_on: Callable[..., InMemoryReporter],
) -> None:
    store = "memory://artifacts"  # fsspec's MemoryFileSystem has no sign()
    shown = await metadata_sent(reporter_on(store), f"{store}/model.pkl",
                                f"{store}/metrics.json")

    assert shown["model_weights"] == (f"kept in the memory:// artifact store under model run "
                                      f"{RUN}, attempt 1 (no link: none was signed)")
