"""Exceptions: one class per loy_status error code, all under LoyaltyError."""

from __future__ import annotations

from .constants import StatusCode, _enum_or_int


class LibraryError(OSError):
    """libloyalty could not be loaded, or the loaded one is not a version this package can use."""


class LoyaltyError(Exception):
    """A call into libloyalty failed.

    ``status`` is the loy_status (a negative int, a StatusCode when this package knows it), ``name`` the
    library's text for it (loy_status_str) and ``detail`` the handle's last error for the call.
    """

    def __init__(self, status: int, detail: str = "", name: str | None = None) -> None:
        self.status = _enum_or_int(StatusCode, status)
        self.detail = detail
        self.name = name if name is not None else _status_name(status)
        super().__init__(status, detail)

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}" if self.detail else self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={int(self.status)}, detail={self.detail!r})"


class InvalidArgument(LoyaltyError):
    """LOY_E_INVALID_ARGUMENT: a value out of range or a malformed field."""


class StructSizeError(LoyaltyError):
    """LOY_E_STRUCT_SIZE: the library does not know a struct size this package passed."""


class Utf8Error(LoyaltyError):
    """LOY_E_UTF8: a string is not valid UTF-8 (only bytes passed as such can be)."""


class NotFound(LoyaltyError):
    """LOY_E_NOT_FOUND: no such member, receipt or line."""


class StateError(LoyaltyError):
    """LOY_E_STATE: a call out of order, or on a closed till or a freed checkout."""


class ConfigError(LoyaltyError):
    """LOY_E_CONFIG: the till's configuration file is missing or invalid."""


class StorageError(LoyaltyError):
    """LOY_E_STORAGE: the till's database failed."""


class RulesError(LoyaltyError):
    """LOY_E_RULES: a rule set is invalid."""


class NoRules(LoyaltyError):
    """LOY_E_NO_RULES: the till has no rule set yet."""


class DocumentError(LoyaltyError):
    """LOY_E_DOCUMENT: a changes document (or a cached record against the rules) is invalid."""


class Conflict(LoyaltyError):
    """LOY_E_CONFLICT: an id already used for something else, or a sale priced otherwise since its quote."""


class ConsentRequired(LoyaltyError):
    """LOY_E_CONSENT: an enrollment without the customer's recorded consent."""


class TooLarge(LoyaltyError):
    """LOY_E_TOO_LARGE: an input beyond the library's limits."""


class NetworkError(LoyaltyError):
    """LOY_E_NETWORK: headquarters could not be reached, or answered with an error."""


class InternalError(LoyaltyError):
    """LOY_E_INTERNAL: a bug in the library (report it with the log)."""


_BY_STATUS: dict[int, type[LoyaltyError]] = {
    StatusCode.INVALID_ARGUMENT: InvalidArgument,
    StatusCode.STRUCT_SIZE: StructSizeError,
    StatusCode.UTF8: Utf8Error,
    StatusCode.NOT_FOUND: NotFound,
    StatusCode.STATE: StateError,
    StatusCode.CONFIG: ConfigError,
    StatusCode.STORAGE: StorageError,
    StatusCode.RULES: RulesError,
    StatusCode.NO_RULES: NoRules,
    StatusCode.DOCUMENT: DocumentError,
    StatusCode.CONFLICT: Conflict,
    StatusCode.CONSENT: ConsentRequired,
    StatusCode.TOO_LARGE: TooLarge,
    StatusCode.NETWORK: NetworkError,
    StatusCode.INTERNAL: InternalError,
}


def error_for(status: int, detail: str, name: str | None = None) -> LoyaltyError:
    """The exception for a failed call's status (LoyaltyError itself for a code this package does not know)."""
    return _BY_STATUS.get(status, LoyaltyError)(status, detail, name)


def _status_name(status: int) -> str:
    # Without the library (an exception made by this package), the enum's name stands in for loy_status_str.
    code = _enum_or_int(StatusCode, status)
    return code.name.lower().replace("_", " ") if isinstance(code, StatusCode) else "unknown status"
