"""The one error hierarchy of voipwatch.

    VoipwatchError
    ├── UsageError          a command was called wrongly (exit status 2)
    ├── InputError          a file, line or record could not be read (quarantined, counted)
    │   └── NotAMeasurement a JSON value that is not an OONI measurement
    ├── CatalogError        the service catalogue is malformed
    ├── FingerprintTableError  the table of censors' fingerprints is damaged
    ├── StoreError          the store cannot be opened or written
    │   └── StoreBusy       another process (a server, an ingest) holds it
    └── FetchError          a remote source (OONI's bucket or API) could not be read

Every message says what was wrong and where: a file, a line, a measurement id.
"""

from __future__ import annotations


class VoipwatchError(Exception):
    """Base of every error voipwatch raises on purpose."""


class UsageError(VoipwatchError):
    """A command was called with arguments it cannot work with."""


class InputError(VoipwatchError):
    """A record or file could not be read.

    ``source`` and ``line`` say where (line is 1-based; 0 when the whole file is bad).
    """

    def __init__(self, reason: str, *, source: str = "", line: int = 0) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.source or "<input>"
        if self.line:
            where = f"{where}:{self.line}"
        return f"{where}: {self.reason}"


class NotAMeasurement(InputError):
    """A JSON value that is not an OONI measurement (no test_name / test_keys object)."""


class CatalogError(VoipwatchError):
    """The service catalogue is malformed."""


class FingerprintTableError(VoipwatchError):
    """The table of censors' fingerprints cannot be read: no verdict could say ``confirmed``.

    ``source`` is the file, ``reason`` what is wrong with it.
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: the fingerprint table cannot be used: {reason}")

    def __reduce__(self) -> tuple[type[FingerprintTableError], tuple[str, str]]:
        # Raised in worker processes too: rebuild it from its data, not its message.
        return (type(self), (self.source, self.reason))


class StoreError(VoipwatchError):
    """The store cannot be opened or written."""


class StoreBusy(StoreError):
    """Another process holds the store (DuckDB allows one writing process)."""


class FetchError(VoipwatchError):
    """A remote source could not be read: an unreachable endpoint, an HTTP error."""
