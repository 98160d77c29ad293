"""loyalty: the till's loyalty plugin (libloyalty, C API 1.2) for Python POS software, over ctypes.

    import loyalty

    with loyalty.Till("/etc/loyalty/till.json") as till:
        member = till.lookup("LC-0001-2345")
        with till.checkout() as sale:
            sale.identify("LC-0001-2345")
            sale.add_line("1", "COAT-01", "apparel", 1, 59900)
            quote = sale.quote()
            sale.commit("R-0001")

The library is libloyalty.so.1 as the system loader finds it, or the file that the environment variable
LOYALTY_LIBRARY names; it is loaded at the first Till (or library_version()). Money is an int count of
minor units (fen, cents), never a float.
"""

from .constants import *  # noqa: F401,F403  (the header's constants: PROMPT_WINBACK, E_NOT_FOUND, ...)
from .constants import __all__ as _constants_all
from .constants import (
    CouponRefusal,
    DiscountReason,
    LogLevel,
    PromptCode,
    RedeemRefusal,
    StatusCode,
)
from .errors import (
    Conflict,
    ConfigError,
    ConsentRequired,
    DocumentError,
    InternalError,
    InvalidArgument,
    LibraryError,
    LoyaltyError,
    NetworkError,
    NoRules,
    NotFound,
    RulesError,
    StateError,
    StorageError,
    StructSizeError,
    TooLarge,
    Utf8Error,
)
from .models import LineQuote, Member, Prompt, Quote, RefundResult, Status, SyncResult
from .till import Checkout, Till, library_version

__version__ = "1.2.0"

__all__ = [
    "Checkout",
    "Conflict",
    "ConfigError",
    "ConsentRequired",
    "CouponRefusal",
    "DiscountReason",
    "DocumentError",
    "InternalError",
    "InvalidArgument",
    "LibraryError",
    "LineQuote",
    "LogLevel",
    "LoyaltyError",
    "Member",
    "NetworkError",
    "NoRules",
    "NotFound",
    "Prompt",
    "PromptCode",
    "Quote",
    "RedeemRefusal",
    "RefundResult",
    "RulesError",
    "StateError",
    "Status",
    "StatusCode",
    "StorageError",
    "StructSizeError",
    "SyncResult",
    "Till",
    "TooLarge",
    "Utf8Error",
    "library_version",
] + [name for name in _constants_all if name not in ("CouponRefusal", "DiscountReason", "LogLevel", "PromptCode",
                                                      "RedeemRefusal", "StatusCode")]
