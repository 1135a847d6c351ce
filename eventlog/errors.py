"""The event log's own errors. Driver exceptions are translated at one boundary
(:mod:`eventlog.postgres`); nothing else in the project sees asyncpg's."""


class EventLogError(Exception):
    """Base class of the event log's errors."""


class ConcurrencyError(EventLogError):
    """The stream was not at the expected version: someone else appended first."""

    def __init__(self, stream_id: str, expected: object, actual: int | None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {stream_id!r}: expected version {expected}, but it is at {actual}"
        )


class EventIdConflictError(EventLogError):
    """An event id is already stored in another stream, or only some of a batch's ids are."""


class StoreUnavailableError(EventLogError):
    """The database could not be reached; nothing was written."""


class UnstorableTextError(EventLogError):
    """Text PostgreSQL refuses (NUL, a lone surrogate) reached the database: nothing was
    written. Text from outside is made storable where it enters (:mod:`eventlog.text`); this
    error means some path skipped that, and repeating the write will not help."""


class MisconfiguredError(EventLogError):
    """The database or the broker refuses us for a reason that retrying cannot fix: wrong
    credentials, a missing database, a schema that needs ``trainbridge migrate``. The
    message is one line naming the setting (redacted) and the fix."""
