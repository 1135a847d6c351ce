"""The type of the arrays passed between the detection modules."""

from typing import Any

Array = Any
"""A numpy array (numpy is imported lazily, as every heavy library here)."""
