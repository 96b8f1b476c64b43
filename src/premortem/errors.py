"""One error tree for the whole of premortem.

    PremortemError
     ├── IngestError        a record or batch could not be read (names the offending field)
     │    └── PayloadTooLarge
     ├── NotFound           the thing asked for does not exist
     ├── Conflict           the request contradicts what is stored
     ├── ConfigError        settings are invalid
     ├── StoreError         the database failed (retryable unless said otherwise)
     └── Busy               analysis is too far behind: try again later (HTTP 429)

The HTTP service maps these onto RFC 9457 problem+json in one place (service/problems.py); the
CLI prints one line and exits non-zero.
"""

from __future__ import annotations


class PremortemError(Exception):
    """Base of every error premortem raises on purpose."""


class IngestError(PremortemError):
    """Input could not be read. `pointer` is a JSON pointer to the offending field; `more` holds
    the input's other errors (every record of a batch is checked), listed after this one."""

    def __init__(
        self, message: str, *, pointer: str = "", more: tuple[IngestError, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.pointer = pointer
        self.more = more

    @property
    def errors(self) -> list[IngestError]:
        """This error and the others found in the same input, in input order."""
        return [IngestError(self.message, pointer=self.pointer), *self.more]

    def at(self, prefix: str) -> IngestError:
        """The same error, located under `prefix` (used when a record sits inside a batch)."""
        return IngestError(
            self.message,
            pointer=f"{prefix}{self.pointer}",
            more=tuple(e.at(prefix) for e in self.more),
        )

    @classmethod
    def combine(cls, errors: list[IngestError]) -> IngestError:
        """One error standing for several: the first leads, the rest are its `more`."""
        flat = [one for error in errors for one in error.errors]
        return cls(flat[0].message, pointer=flat[0].pointer, more=tuple(flat[1:]))

    def __str__(self) -> str:
        text = f"{self.pointer}: {self.message}" if self.pointer else self.message
        return f"{text} (and {len(self.more)} more errors)" if self.more else text


class PayloadTooLarge(IngestError):
    pass


class NotFound(PremortemError):
    pass


class Conflict(PremortemError):
    pass


class ConfigError(PremortemError):
    pass


class StoreError(PremortemError):
    pass


class Busy(PremortemError):
    """Analysis is further behind than its bound: nothing was stored; send again after
    `retry_after_s` seconds."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(Busy):
    """A service premortem hands records to (the log stream in scale-out) did not take them:
    nothing was acknowledged; send again after `retry_after_s` seconds (HTTP 503)."""
