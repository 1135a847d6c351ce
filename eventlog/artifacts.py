"""The artifact store the trainer and the reporter share: a local directory (``file://``, the
default), or object storage through fsspec (``s3://``, ``gs://``, any fsspec URL), which needs
the ``artifacts`` extra and the filesystem's own package (s3fs, gcsfs, ...). fsspec is imported
only for such a store. Everything written is addressed by URI and checked by sha256.

A store that can presign URLs (s3fs, gcsfs) also gives links a user can open for a while
(:func:`signed_link`); a local directory gives none: its paths mean nothing off its host."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname


class ArtifactStoreError(ValueError):
    """The store's URL names a filesystem that cannot be used here (a configuration error)."""


@dataclass(frozen=True)
class Artifact:
    uri: str
    sha256: str
    size: int


def join(base_url: str, *parts: str) -> str:
    return "/".join([base_url.rstrip("/"), *(p.strip("/") for p in parts)])


def is_local(uri: str) -> bool:
    return urlsplit(uri).scheme in ("", "file")


def _local_path(uri: str) -> Path:
    return Path(url2pathname(urlsplit(uri).path))


def _fsspec(protocol: str) -> Any:
    """The fsspec module: optional (the ``artifacts`` extra), so the one place importing it."""
    try:
        import fsspec
    except ImportError:
        raise ArtifactStoreError(
            f"an artifact store at {protocol}:// needs fsspec: install the artifacts extra "
            f"(pip install 'trainbridge[artifacts]') and the filesystem's package (s3fs for "
            f"s3://, gcsfs for gs://)") from None
    return fsspec


def _filesystem(uri: str) -> tuple[Any, str]:
    """fsspec's filesystem for ``uri`` and the path within it."""
    check_store(uri)
    fs, path = _fsspec(urlsplit(uri).scheme).core.url_to_fs(uri)
    return fs, str(path)


def check_store(url: str) -> None:
    """Refuse, with what to install, a store whose filesystem cannot be loaded: fsspec
    missing (the ``artifacts`` extra), or its package (s3fs for ``s3://``, gcsfs for
    ``gs://``)."""
    if is_local(url):
        return
    protocol = urlsplit(url).scheme
    fsspec = _fsspec(protocol)
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        raise ArtifactStoreError(
            f"the {protocol}:// filesystem is not installed ({exc})") from None
    except ValueError:
        raise ArtifactStoreError(f"fsspec knows no {protocol}:// filesystem") from None


def write_artifact(uri: str, data: bytes) -> Artifact:
    if is_local(uri):
        path = _local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half an artifact
    else:
        fs, path_in_store = _filesystem(uri)
        with fs.open(path_in_store, "wb", auto_mkdir=True) as stream:
            stream.write(data)
    return Artifact(uri, hashlib.sha256(data).hexdigest(), len(data))


def read_artifact(uri: str, expected_sha256: str | None = None) -> bytes:
    if is_local(uri):
        data = _local_path(uri).read_bytes()
    else:
        fs, path_in_store = _filesystem(uri)
        with fs.open(path_in_store, "rb") as stream:
            data = stream.read()
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise ValueError(f"{uri}: sha256 does not match what the event recorded")
    return data


def signed_link(uri: str, expires_in: int) -> str | None:
    """An ``https://`` URL from which anyone holding it may download ``uri`` for
    ``expires_in`` seconds (a presigned URL), or ``None`` when the store cannot make one: a
    local directory, or a filesystem without ``sign``."""
    if is_local(uri):
        return None
    fs, path_in_store = _filesystem(uri)
    try:
        link = str(fs.sign(path_in_store, expiration=expires_in))
    except NotImplementedError:
        return None
    return link if urlsplit(link).scheme in ("https", "http") else None
