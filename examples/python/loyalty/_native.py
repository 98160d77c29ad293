"""The C interface of libloyalty (loyalty.h 1.2) as ctypes: the structs, the functions and the loading.

Every struct mirrors the header's field for field, in its order; every function has its argtypes and
restype. Nothing here is Pythonic: loyalty.till builds the API on it.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_void_p,
)

from .constants import HEADER_VERSION_MAJOR, HEADER_VERSION_MINOR
from .errors import LibraryError

DEFAULT_LIBRARY = "libloyalty.so.1"  # found by the system loader, where an installed package puts it
LIBRARY_ENV = "LOYALTY_LIBRARY"  # when set (and not empty): the path of the library to load instead

loy_status = c_int32


class Till(Structure):
    """The opaque loy_till: only ever used through POINTER(Till)."""


class Checkout(Structure):
    """The opaque loy_checkout: only ever used through POINTER(Checkout)."""


TillP = POINTER(Till)
CheckoutP = POINTER(Checkout)

# typedef void(LOY_CALL *loy_log_fn)(int32_t level, const char *message, void *userdata);
# (LOY_CALL is the platform's C convention: CFUNCTYPE.)
LogFn = CFUNCTYPE(None, c_int32, c_char_p, c_void_p)


class TillOptions(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("log", LogFn),
        ("log_userdata", c_void_p),
        ("log_level", c_int32),
    ]


class Prompt(Structure):
    """loy_prompt: frozen since 1.0 (embedded in loy_member_info)."""

    _fields_ = [
        ("code", c_int32),
        ("rate_bp", c_int32),
        ("days", c_int64),
        ("points", c_int64),
        ("spend_minor", c_int64),
        ("minutes", c_int64),
        ("date", c_char * 40),
        ("tier", c_char * 64),
    ]


MAX_PROMPTS = 8  # LOY_MAX_PROMPTS


class MemberInfo(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("member_id", c_char * 64),
        ("masked_name", c_char * 96),
        ("tier_id", c_char * 64),
        ("tier_name", c_char * 64),
        ("confirmed_points", c_int64),
        ("pending_points", c_int64),
        ("available_points", c_int64),
        ("prompt_count", c_uint32),
        ("prompts", Prompt * MAX_PROMPTS),
    ]


class PromptInfo(Structure):
    """loy_prompt_info (since 1.2): a prompt with its own size."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("code", c_int32),
        ("rate_bp", c_int32),
        ("reserved", c_int32),
        ("days", c_int64),
        ("points", c_int64),
        ("spend_minor", c_int64),
        ("minutes", c_int64),
        ("date", c_char * 40),
        ("tier", c_char * 64),
    ]


class TillStatus(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("outbox_depth", c_int64),
        ("oldest_unsynced_seconds", c_int64),
        ("cache_version", c_int64),
        ("last_sync_unix", c_int64),
        ("members", c_int64),
        ("rules_version", c_char * 64),
        ("currency", c_char * 8),
        ("minor_per_unit", c_int64),
        # Since 1.1:
        ("rejected", c_int64),
        ("last_sync_error", c_char * 256),
        # Since 1.2:
        ("held", c_int64),
        ("rules_error", c_char * 256),
    ]


class SyncResult(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("sent", c_int64),
        ("applied", c_int64),
        ("duplicates", c_int64),
        ("rejected", c_int64),
        ("members", c_int64),
        ("coupons", c_int64),
        ("rules_updated", c_int32),
        ("reserved", c_int32),
    ]


class Line(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("id", c_char_p),
        ("sku", c_char_p),
        ("category", c_char_p),
        ("qty", c_int64),
        ("amount_minor", c_int64),
    ]


class Quote(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("gross_minor", c_int64),
        ("member_discount_minor", c_int64),
        ("member_discount_reason", c_int32),
        ("member_discount_bp", c_int32),
        ("coupon_discount_minor", c_int64),
        ("coupon_rejected", c_int32),
        ("redeem_rejected", c_int32),
        ("redeem_points", c_int64),
        ("redeem_value_minor", c_int64),
        ("max_redeemable_points", c_int64),
        ("payable_minor", c_int64),
        ("points_earned", c_int64),
        ("birthday", c_int32),
        ("line_count", c_uint32),
        ("replayed", c_int32),
        ("reserved", c_int32),
    ]


class LineQuote(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("id", c_char * 64),
        ("member_discount_minor", c_int64),
        ("coupon_discount_minor", c_int64),
        ("redeem_value_minor", c_int64),
        ("net_minor", c_int64),
        ("points_earned", c_int64),
        ("points_redeemed", c_int64),
    ]


class RefundItem(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("line_id", c_char_p),
        ("units", c_int64),
    ]


class RefundResult(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("amount_minor", c_int64),
        ("points_taken_back", c_int64),
        ("points_given_back", c_int64),
        ("balance_after", c_int64),
        ("negative_balance", c_int32),
        ("replayed", c_int32),
    ]


class Enrollment(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("phone", c_char_p),
        ("name", c_char_p),
        ("birthday", c_char_p),
        ("consent", c_char_p),
    ]


def new(struct_type):
    """A zeroed `struct_type` whose struct_size is its own size, as every call wants it."""
    s = struct_type()
    s.struct_size = ctypes.sizeof(struct_type)
    return s


# name: (restype, argtypes), every function of loyalty.h 1.2.
_SIGNATURES = {
    "loy_version": (c_uint32, []),
    "loy_status_str": (c_char_p, [loy_status]),
    "loy_till_open": (loy_status, [c_char_p, POINTER(TillOptions), POINTER(TillP), c_char_p, c_size_t]),
    "loy_till_close": (None, [TillP]),
    "loy_till_last_error": (c_char_p, [TillP]),
    "loy_till_apply_rules": (loy_status, [TillP, c_char_p, c_size_t]),
    "loy_till_apply_changes": (loy_status, [TillP, c_char_p, c_size_t]),
    "loy_till_lookup": (loy_status, [TillP, c_char_p, POINTER(MemberInfo)]),
    "loy_till_lookup_v2": (
        loy_status,
        [TillP, c_char_p, POINTER(MemberInfo), POINTER(PromptInfo), c_size_t, c_size_t, POINTER(c_size_t)],
    ),
    "loy_till_status_get": (loy_status, [TillP, POINTER(TillStatus)]),
    "loy_till_sync": (loy_status, [TillP, POINTER(SyncResult)]),
    "loy_checkout_begin": (loy_status, [TillP, POINTER(CheckoutP)]),
    "loy_checkout_free": (None, [CheckoutP]),
    "loy_checkout_last_error": (c_char_p, [CheckoutP]),
    "loy_checkout_set_time": (loy_status, [CheckoutP, c_char_p]),
    "loy_checkout_identify": (loy_status, [CheckoutP, c_char_p, POINTER(MemberInfo)]),
    "loy_checkout_prompts": (
        loy_status,
        [CheckoutP, POINTER(PromptInfo), c_size_t, c_size_t, POINTER(c_size_t)],
    ),
    "loy_checkout_add_line": (loy_status, [CheckoutP, POINTER(Line)]),
    "loy_checkout_set_coupon": (loy_status, [CheckoutP, c_char_p]),
    "loy_checkout_redeem": (loy_status, [CheckoutP, c_int64]),
    "loy_coupon_refusal_str": (c_char_p, [c_int32]),
    "loy_redeem_refusal_str": (c_char_p, [c_int32]),
    "loy_checkout_quote": (loy_status, [CheckoutP, POINTER(Quote)]),
    "loy_checkout_line_quote": (loy_status, [CheckoutP, c_uint32, POINTER(LineQuote)]),
    "loy_checkout_commit": (loy_status, [CheckoutP, c_char_p, POINTER(Quote)]),
    "loy_till_refund": (
        loy_status,
        [TillP, c_char_p, c_char_p, POINTER(RefundItem), c_size_t, POINTER(RefundResult)],
    ),
    "loy_till_refund_at": (
        loy_status,
        [TillP, c_char_p, c_char_p, c_char_p, POINTER(RefundItem), c_size_t, POINTER(RefundResult)],
    ),
    "loy_till_enroll": (loy_status, [TillP, POINTER(Enrollment), POINTER(MemberInfo)]),
    "loy_checkout_enroll": (loy_status, [CheckoutP, POINTER(Enrollment), POINTER(MemberInfo)]),
}

FUNCTIONS = tuple(_SIGNATURES)

_lock = threading.Lock()
_library: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """The loaded libloyalty with every function bound, loaded at the first call.

    The path is $LOYALTY_LIBRARY when set, else libloyalty.so.1 through the system loader. Raises
    LibraryError when it cannot be loaded, lacks a function, or is not 1.x with x >= 2.
    """
    global _library
    with _lock:
        if _library is None:
            _library = _load(os.environ.get(LIBRARY_ENV) or DEFAULT_LIBRARY)
        return _library


def _load(path: str) -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise LibraryError(
            f"cannot load libloyalty from {path!r} ({e}); set {LIBRARY_ENV} to the library's path"
        ) from e
    try:
        lib.loy_version.restype, lib.loy_version.argtypes = _SIGNATURES["loy_version"]
    except AttributeError:
        raise LibraryError(f"{path} is not libloyalty: it has no loy_version") from None
    version = lib.loy_version()
    major, minor = version >> 16, (version >> 8) & 0xFF
    if major != HEADER_VERSION_MAJOR:
        raise LibraryError(f"{path} is libloyalty {format_version(version)}: this package needs {HEADER_VERSION_MAJOR}.x")
    if minor < HEADER_VERSION_MINOR:
        # Its structs would be a newer header's to that library (LOY_E_STRUCT_SIZE), and it lacks the _v2 calls.
        raise LibraryError(
            f"{path} is libloyalty {format_version(version)}: this package needs "
            f"{HEADER_VERSION_MAJOR}.{HEADER_VERSION_MINOR} or later"
        )
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise LibraryError(f"{path} (libloyalty {format_version(version)}) has no {name}") from None
        function.restype = restype
        function.argtypes = argtypes
    return lib


def format_version(version: int) -> str:
    return f"{version >> 16}.{(version >> 8) & 0xFF}.{version & 0xFF}"
