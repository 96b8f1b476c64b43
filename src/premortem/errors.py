"""One error tree for the whole of premortem.

    PremortemError
     ├── IngestError        a record or batch could not be read (names the offending field)
     │    └── PayloadTooLarge
     ├── NotFound           the thing asked for does not exist
     ├── Conflict           the request contradicts what is stored
     ├── ConfigError        settings are invalid
     └── StoreError         the database failed (retryable unless said otherwise)

The HTTP service maps these onto RFC 9457 problem+json in one place (service/problems.py); the
CLI prints one line and exits non-zero.
"""

from __future__ import annotations


class PremortemError(Exception):
    """Base of every error premortem raises on purpose."""


class IngestError(PremortemError):
    """Input could not be read. `pointer` is a JSON pointer to the offending field."""

    def __init__(self, message: str, *, pointer: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.pointer = pointer

    def at(self, prefix: str) -> IngestError:
        """The same error, located under `prefix` (used when a record sits inside a batch)."""
        return IngestError(self.message, pointer=f"{prefix}{self.pointer}")

    def __str__(self) -> str:
        return f"{self.pointer}: {self.message}" if self.pointer else self.message


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
