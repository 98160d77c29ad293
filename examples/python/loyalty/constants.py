"""The constants of loyalty.h (version 1.2), as IntEnums and as plain module-level names.

An IntEnum member equals its integer, so ``quote.coupon_rejected == COUPON_EXPIRED`` works either way. A
code a newer library returns that this package does not know stays a plain int (see ``_enum_or_int``).
"""

from __future__ import annotations

import enum

# The header this package mirrors: loy_version() of a library it can use is 1.x with x >= 2.
HEADER_VERSION_MAJOR = 1
HEADER_VERSION_MINOR = 2
HEADER_VERSION_PATCH = 0


class StatusCode(enum.IntEnum):
    """loy_status: 0 or a negative error code (append-only in the C API, never renumbered)."""

    OK = 0
    INVALID_ARGUMENT = -1
    STRUCT_SIZE = -2
    UTF8 = -3
    NOT_FOUND = -4
    STATE = -5
    CONFIG = -6
    STORAGE = -7
    RULES = -8
    NO_RULES = -9
    DOCUMENT = -10
    CONFLICT = -11
    CONSENT = -12
    TOO_LARGE = -13
    NETWORK = -14
    INTERNAL = -99


class LogLevel(enum.IntEnum):
    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40


class PromptCode(enum.IntEnum):
    """LOY_PROMPT_*: what the cashier is told, with the figures each code uses."""

    BIRTHDAY_WINDOW = 1
    FIRST_PURCHASE = 2  # rate_bp
    WINBACK = 3  # days, rate_bp
    POINTS_EXPIRING = 4  # points, date
    NEXT_TIER = 5  # tier, spend_minor
    NEGATIVE_BALANCE = 6  # points
    OFFLINE = 7  # minutes (-1: never synced)


class DiscountReason(enum.IntEnum):
    """LOY_REASON_*: why a member discount applies."""

    NONE = 0
    TIER = 1
    FIRST_PURCHASE = 2
    WINBACK = 3


class CouponRefusal(enum.IntEnum):
    """LOY_COUPON_*: why a coupon was not applied (NONE: it was, or none was presented)."""

    NONE = 0
    UNKNOWN = 1
    USED = 2
    NOT_YET_VALID = 3
    EXPIRED = 4
    MIN_SPEND_NOT_MET = 5
    NOT_ALLOWED = 6
    MEMBER_REQUIRED = 7


class RedeemRefusal(enum.IntEnum):
    """LOY_REDEEM_*: why a redemption was refused (NONE: it was accepted, or none was asked for)."""

    NONE = 0
    NOT_MULTIPLE_OF_STEP = 1
    BELOW_MIN = 2
    INSUFFICIENT_POINTS = 3
    OFFLINE_LIMIT = 4
    EXCEEDS_MAX_SHARE = 5
    MEMBER_REQUIRED = 6


def _enum_or_int(enum_type: type[enum.IntEnum], value: int) -> int:
    """The member of `enum_type` for `value`, or `value` itself when this package does not know it."""
    try:
        return enum_type(value)
    except ValueError:
        return value


# The same values under the header's names without the LOY_ prefix.
OK = StatusCode.OK
E_INVALID_ARGUMENT = StatusCode.INVALID_ARGUMENT
E_STRUCT_SIZE = StatusCode.STRUCT_SIZE
E_UTF8 = StatusCode.UTF8
E_NOT_FOUND = StatusCode.NOT_FOUND
E_STATE = StatusCode.STATE
E_CONFIG = StatusCode.CONFIG
E_STORAGE = StatusCode.STORAGE
E_RULES = StatusCode.RULES
E_NO_RULES = StatusCode.NO_RULES
E_DOCUMENT = StatusCode.DOCUMENT
E_CONFLICT = StatusCode.CONFLICT
E_CONSENT = StatusCode.CONSENT
E_TOO_LARGE = StatusCode.TOO_LARGE
E_NETWORK = StatusCode.NETWORK
E_INTERNAL = StatusCode.INTERNAL

LOG_DEBUG = LogLevel.DEBUG
LOG_INFO = LogLevel.INFO
LOG_WARN = LogLevel.WARN
LOG_ERROR = LogLevel.ERROR

PROMPT_BIRTHDAY_WINDOW = PromptCode.BIRTHDAY_WINDOW
PROMPT_FIRST_PURCHASE = PromptCode.FIRST_PURCHASE
PROMPT_WINBACK = PromptCode.WINBACK
PROMPT_POINTS_EXPIRING = PromptCode.POINTS_EXPIRING
PROMPT_NEXT_TIER = PromptCode.NEXT_TIER
PROMPT_NEGATIVE_BALANCE = PromptCode.NEGATIVE_BALANCE
PROMPT_OFFLINE = PromptCode.OFFLINE

MAX_PROMPTS = 8  # LOY_MAX_PROMPTS: the prompts loy_member_info itself holds

REASON_NONE = DiscountReason.NONE
REASON_TIER = DiscountReason.TIER
REASON_FIRST_PURCHASE = DiscountReason.FIRST_PURCHASE
REASON_WINBACK = DiscountReason.WINBACK

COUPON_UNKNOWN = CouponRefusal.UNKNOWN
COUPON_USED = CouponRefusal.USED
COUPON_NOT_YET_VALID = CouponRefusal.NOT_YET_VALID
COUPON_EXPIRED = CouponRefusal.EXPIRED
COUPON_MIN_SPEND_NOT_MET = CouponRefusal.MIN_SPEND_NOT_MET
COUPON_NOT_ALLOWED = CouponRefusal.NOT_ALLOWED
COUPON_MEMBER_REQUIRED = CouponRefusal.MEMBER_REQUIRED

REDEEM_NOT_MULTIPLE_OF_STEP = RedeemRefusal.NOT_MULTIPLE_OF_STEP
REDEEM_BELOW_MIN = RedeemRefusal.BELOW_MIN
REDEEM_INSUFFICIENT_POINTS = RedeemRefusal.INSUFFICIENT_POINTS
REDEEM_OFFLINE_LIMIT = RedeemRefusal.OFFLINE_LIMIT
REDEEM_EXCEEDS_MAX_SHARE = RedeemRefusal.EXCEEDS_MAX_SHARE
REDEEM_MEMBER_REQUIRED = RedeemRefusal.MEMBER_REQUIRED

__all__ = ["CouponRefusal", "DiscountReason", "LogLevel", "PromptCode", "RedeemRefusal", "StatusCode"] + [
    name for name in dir() if name.isupper() and not name.startswith("_")
]
