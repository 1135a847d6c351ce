"""The artifact store the trainer and the reporter share (fsspec: a local directory by
default, object storage in production). Everything written is addressed by URI and checked
by sha256. Only services whose extras bring fsspec import this module."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import fsspec


@dataclass(frozen=True)
class Artifact:
    uri: str
    sha256: str
    size: int


def join(base_url: str, *parts: str) -> str:
    return "/".join([base_url.rstrip("/"), *(p.strip("/") for p in parts)])


def write_artifact(uri: str, data: bytes) -> Artifact:
    with fsspec.open(uri, "wb", auto_mkdir=True) as stream:
        stream.write(data)
    return Artifact(uri, hashlib.sha256(data).hexdigest(), len(data))


def read_artifact(uri: str, expected_sha256: str | None = None) -> bytes:
    with fsspec.open(uri, "rb") as stream:
        data: bytes = stream.read()
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise ValueError(f"{uri}: sha256 does not match what the event recorded")
    return data
