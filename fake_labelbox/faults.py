"""Fault rules: which requests fail, how, how often.

A rule matches a request by operation name (``"*"``: any) and optionally by model run id.
The first matching rule whose probability draw succeeds applies; its ``times`` counts down
and the rule expires at zero. Draws come from the state's seeded ``random.Random``, so a run
with the same seed and the same requests injects the same faults."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

GRAPHQL_ERROR_CODES = frozenset({
    "AUTHENTICATION_ERROR",
    "AUTHORIZATION_ERROR",
    "RESOURCE_NOT_FOUND",
    "RESOURCE_CONFLICT",
    "MALFORMED_REQUEST",
    "INTERNAL_SERVER_ERROR",
    "GRAPHQL_VALIDATION_FAILED",
    "OPERATION_NOT_ALLOWED",
})


class FaultRuleError(ValueError):
    """A fault rule that cannot be applied."""


@dataclass(frozen=True)
class FaultRule:
    id: str
    operation: str = "*"
    model_run_id: str | None = None
    status: int | None = None
    """Answer with this HTTP status (429 answers Labelbox's rate-limit message)."""
    graphql_error: str | None = None
    """Answer 200 with a GraphQL error of this ``extensions.code``."""
    latency: float = 0.0
    """Seconds to wait before answering (the fault's answer, or the normal one)."""
    hang: bool = False
    """Do not answer for far longer than any client timeout."""
    times: int | None = None
    """Apply this many more times, then expire; None: forever."""
    probability: float = 1.0
    after_effect: bool = False
    """Apply the operation's change first, then answer with the fault."""
    message: str | None = None
    """The error message the answer carries (any text: NUL, lone surrogates, megabytes);
    a 429's still starts with Labelbox's rate-limit message, so the SDK recognises it."""
    retry_after: int | float | str | None = None
    """A ``Retry-After`` header on the answer: seconds, or an HTTP date."""
    applied: int = 0

    @classmethod
    def from_json(cls, rule_id: str, body: Mapping[str, Any]) -> FaultRule:
        unknown = set(body) - {f for f in cls.__dataclass_fields__ if f not in ("id", "applied")}
        if unknown:
            raise FaultRuleError(f"unknown fault fields: {sorted(unknown)}")
        rule = cls(id=rule_id, **body)
        rule.validate()
        return rule

    def validate(self) -> None:
        if not isinstance(self.operation, str) or not self.operation:
            raise FaultRuleError("operation must be a non-empty string ('*' for any)")
        if self.status is not None and not (
            isinstance(self.status, int) and 400 <= self.status <= 599
        ):
            raise FaultRuleError(f"status must be an HTTP error status, not {self.status!r}")
        if self.graphql_error is not None and self.graphql_error not in GRAPHQL_ERROR_CODES:
            raise FaultRuleError(
                f"graphql_error must be one of {sorted(GRAPHQL_ERROR_CODES)}, "
                f"not {self.graphql_error!r}"
            )
        if self.status is not None and self.graphql_error is not None:
            raise FaultRuleError("give status or graphql_error, not both")
        if not isinstance(self.latency, int | float) or self.latency < 0:
            raise FaultRuleError(f"latency must be >= 0 seconds, not {self.latency!r}")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise FaultRuleError(f"times must be None or >= 1, not {self.times!r}")
        if not isinstance(self.hang, bool) or not isinstance(self.after_effect, bool):
            raise FaultRuleError("hang and after_effect must be booleans")
        if self.model_run_id is not None and not isinstance(self.model_run_id, str):
            raise FaultRuleError("model_run_id must be a string or null")
        if self.message is not None and not isinstance(self.message, str):
            raise FaultRuleError("message must be a string or null")
        if self.retry_after is not None and (
            isinstance(self.retry_after, bool)
            or not isinstance(self.retry_after, int | float | str)
        ):
            raise FaultRuleError("retry_after must be seconds, an HTTP date, or null")
        if not isinstance(self.probability, int | float) or not 0 <= self.probability <= 1:
            raise FaultRuleError(f"probability must be in [0, 1], not {self.probability!r}")

    @property
    def answers(self) -> bool:
        """Whether the rule replaces the normal answer (else it only delays it)."""
        return self.status is not None or self.graphql_error is not None or self.hang

    def matches(self, operation: str, model_run_id: str | None) -> bool:
        if self.operation not in ("*", operation):
            return False
        return self.model_run_id is None or self.model_run_id == model_run_id

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    """The active rules, in the order they were added. Not thread-safe: the state locks."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._next = 1

    def add(self, body: Mapping[str, Any]) -> FaultRule:
        rule = FaultRule.from_json(f"fault-{self._next}", body)
        self._next += 1
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def draw(
        self, operation: str, model_run_id: str | None, rng: random.Random
    ) -> FaultRule | None:
        """The rule to apply to this request, if any; counts it as applied."""
        for index, rule in enumerate(self._rules):
            if not rule.matches(operation, model_run_id):
                continue
            if rule.probability < 1.0 and rng.random() >= rule.probability:
                continue
            times = None if rule.times is None else rule.times - 1
            applied = replace(rule, times=times, applied=rule.applied + 1)
            if times == 0:
                del self._rules[index]
            else:
                self._rules[index] = applied
            return applied
        return None
