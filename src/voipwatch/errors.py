"""The one error hierarchy of voipwatch.

    VoipwatchError
    ├── UsageError          a command was called wrongly (exit status 2)
    │   └── InvalidValue    one named field holds a value that cannot be used
    ├── InputError          a file, line or record could not be read (quarantined, counted)
    │   └── NotAMeasurement a JSON value that is not an OONI measurement
    ├── CatalogError        the service catalogue is malformed
    ├── FingerprintTableError  the table of censors' fingerprints is damaged
    ├── StoreError          the store cannot be opened or written
    │   └── StoreBusy       another process (a server, an ingest) holds it
    ├── FetchError          a remote source (OONI's bucket or API) could not be read
    ├── LocationDbError     an IP-to-country/network database cannot be read
    └── UploadError         a collector refused or could not be reached

Every message says what was wrong and where: a file, a line, a measurement id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


class VoipwatchError(Exception):
    """Base of every error voipwatch raises on purpose."""


class UsageError(VoipwatchError):
    """A command was called with arguments it cannot work with."""


class InvalidValue(UsageError):
    """``field`` (a domain name: ``country``, ``workers``) holds ``value``, unusable.

    The error carries data, not the words of a face: the CLI names the field by its
    flag (``--country``), the API by its query parameter (``probe_cc``), through
    :meth:`worded`. ``reason`` says what is wrong without naming either.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def worded(self, names: Mapping[str, str], default: Callable[[str], str] = str) -> str:
        """The message with the field named as ``names`` (else ``default(field)``) says."""
        name = names.get(self.field)
        return f"{name if name is not None else default(self.field)}: {self.reason}"

    def __reduce__(self) -> tuple[type[InvalidValue], tuple[str, object, str]]:
        return (type(self), (self.field, self.value, self.reason))


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


class LocationDbError(VoipwatchError):
    """An IP-to-country/network database cannot be read (``source``: its path)."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: not a usable location database: {reason}")

    def __reduce__(self) -> tuple[type[LocationDbError], tuple[str, str]]:
        return (type(self), (self.source, self.reason))


class UploadError(VoipwatchError):
    """A collector refused a measurement (``status`` its HTTP status, ``reason`` its
    words) or could not be reached (``status`` 0)."""

    def __init__(self, url: str, status: int, reason: str) -> None:
        self.url = url
        self.status = status
        self.reason = reason
        super().__init__(f"{url}: {reason}" + (f" (HTTP {status})" if status else ""))

    def __reduce__(self) -> tuple[type[UploadError], tuple[str, int, str]]:
        return (type(self), (self.url, self.status, self.reason))

    @property
    def retryable(self) -> bool:
        """Worth trying again later: unreachable, rate-limited or a server error."""
        return self.status == 0 or self.status == 429 or self.status >= 500
