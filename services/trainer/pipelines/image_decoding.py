"""Decoding a data row's image: the one place where a row that is not a readable image
becomes a :class:`DataError` naming the row, whichever pipeline reads it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from services.trainer.pipeline import DataError, Example


@contextmanager
def opened_image(example: Example) -> Iterator[Any]:
    """The row's image, opened with Pillow (pixels decode lazily, e.g. at ``convert``).
    A decoding failure inside the block — an unknown format, a truncated file, a
    decompression bomb — is a ``DataError`` naming the row."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(example.content, bytes):
        raise DataError(f"data row {example.data_row_id}: expected image bytes, got text")
    try:
        yield Image.open(io.BytesIO(example.content))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"data row {example.data_row_id}: not a readable image ({reason})"
                        ) from exc
