"""Till and Checkout: the handles of libloyalty, owned by Python objects.

A Till is loy_till (closed by close(), by leaving its ``with`` block, or when it is collected); a Checkout
is loy_checkout (freed likewise). Every failed call raises the LoyaltyError subclass of its status, with
the handle's last error as ``detail``. Text goes in as UTF-8 and a str with a NUL in it is refused with
ValueError before the library sees it (C would read it cut short).

Threading, as the C API's: a Till may be used from several threads at once (the library serialises the
calls, and ctypes releases the GIL during them); a Checkout belongs to one thread at a time. Do not close
a Till while another thread is in a call on it.
"""

from __future__ import annotations

import ctypes
import datetime as _datetime
import operator
import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from ctypes import byref, sizeof

from . import _native
from .constants import E_STATE, OK, LogLevel, _enum_or_int
from .errors import StateError, error_for
from .models import LineQuote, Member, Prompt, Quote, RefundResult, Status, SyncResult

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

LogCallback = Callable[[int, str], object]  # (level: LogLevel, message: str)
RefundItems = Mapping[str, int] | Iterable[tuple[str, int]]


def library_version() -> str:
    """The loaded library's version, "X.Y.Z" (loads it if it is not yet)."""
    return _native.format_version(_native.library().loy_version())


class Till:
    """An open till: ``Till(config_path, log=None)`` or ``Till.open(...)``, closed by close() or ``with``.

    `log`, when given, is called as log(level, message) for each message of at least `log_level`, on the
    thread of the call being logged (the background sync's own thread for its messages). It should return
    quickly; an exception it raises is reported by ctypes and otherwise ignored.
    """

    def __init__(self, config_path: str | os.PathLike, log: LogCallback | None = None, *,
                 log_level: int = LogLevel.INFO) -> None:
        self._handle: _native.TillP | None = None
        lib = _native.library()
        path = os.fsencode(config_path)
        if b"\0" in path:
            raise ValueError("config_path contains a NUL character")
        self._log_callback = None  # the C function pointer: referenced as long as the till is open
        options = None
        if log is not None:
            if not callable(log):
                raise TypeError("log must be callable as log(level, message)")
            self._log_callback = _native.LogFn(_log_trampoline(log))
            options = _native.new(_native.TillOptions)
            options.log = self._log_callback
            options.log_level = _int32(log_level, "log_level")
        handle = _native.TillP()
        error = ctypes.create_string_buffer(1024)
        status = lib.loy_till_open(path, byref(options) if options is not None else None, byref(handle), error,
                                   sizeof(error))
        if status != OK:
            raise error_for(status, _text(error.value), _text(lib.loy_status_str(status)))
        self._lib = lib
        self._handle = handle
        # Closes the till when the object is collected or at exit; it holds the callback until then too.
        self._finalizer = weakref.finalize(self, _close_till, lib, handle, self._log_callback)

    @classmethod
    def open(cls, config_path: str | os.PathLike, log: LogCallback | None = None, *,
             log_level: int = LogLevel.INFO) -> Till:
        return cls(config_path, log, log_level=log_level)

    def close(self) -> None:
        """Closes the till (once; again is a no-op). Its live checkouts can no longer quote or commit
        (StateError) and are still to be freed."""
        if self._handle is not None:
            self._handle = None
            self._finalizer()
            self._log_callback = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> Till:
        self._live()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<loyalty.Till {'closed' if self.closed else 'open'}>"

    # -- rules and members ---------------------------------------------------------------------------

    def apply_rules(self, document: bytes | str) -> None:
        """Installs a rule set (JSON text), replacing the current one if its version differs."""
        data = _document(document, "document")
        self._check(self._lib.loy_till_apply_rules(self._live(), data, len(data)))

    def apply_changes(self, document: bytes | str) -> None:
        """Applies a member-changes document (JSON text) in one transaction: all of it or nothing."""
        data = _document(document, "document")
        self._check(self._lib.loy_till_apply_changes(self._live(), data, len(data)))

    def lookup(self, scanned: str) -> Member:
        """The member of a card code or phone number, with every prompt. Raises NotFound when none."""
        code = _encode(scanned, "scanned")
        handle = self._live()
        info = _native.new(_native.MemberInfo)

        def call(prompts, capacity, count):
            return self._lib.loy_till_lookup_v2(handle, code, byref(info), prompts, sizeof(_native.PromptInfo),
                                                capacity, count)

        prompts = _read_prompts(call, self._check)
        return Member._from_c(info, prompts)

    def enroll(self, phone: str, *, consent: str | None, name: str | None = None,
               birthday: str | None = None) -> Member:
        """Enrolls a new member (usable at once); `birthday` is "MM-DD", `consent` the POS's record of it.

        The member's prompts are those loy_member_info holds (its first LOY_MAX_PROMPTS): loy_till_enroll
        has no _v2 form. Checkout.enroll gives every one."""
        info = _native.new(_native.MemberInfo)
        enrollment, strings = _enrollment(phone, consent, name, birthday)  # strings: alive during the call
        self._check(self._lib.loy_till_enroll(self._live(), byref(enrollment), byref(info)))
        return Member._from_c(info, Member._embedded_prompts(info))

    # -- the till's state and headquarters -----------------------------------------------------------

    def status(self) -> Status:
        out = _native.new(_native.TillStatus)
        self._check(self._lib.loy_till_status_get(self._live(), byref(out)))
        return Status._from_c(out)

    def sync(self) -> SyncResult:
        """Syncs with headquarters now, on this thread. Raises NetworkError when it cannot."""
        out = _native.new(_native.SyncResult)
        self._check(self._lib.loy_till_sync(self._live(), byref(out)))
        return SyncResult._from_c(out)

    # -- sales ---------------------------------------------------------------------------------------

    def checkout(self) -> Checkout:
        """A new checkout of this till (use it in a ``with`` block, or free() it)."""
        return Checkout(self)

    def refund(self, refund_id: str, receipt_id: str, items: RefundItems | None = None) -> RefundResult:
        """Refunds units of lines ({line_id: units} or (line_id, units) pairs) of a sale of this till,
        or, with items None, all that is left of it."""
        refund = _encode(refund_id, "refund_id")
        receipt = _encode(receipt_id, "receipt_id")
        array, count, strings = _refund_items(items)  # strings: alive during the call
        out = _native.new(_native.RefundResult)
        self._check(self._lib.loy_till_refund(self._live(), refund, receipt, array, count, byref(out)))
        return RefundResult._from_c(out)

    def refund_at(self, refund_id: str, sale_store_id: str, receipt_id: str,
                  items: RefundItems | None = None) -> RefundResult:
        """As refund(), for a sale made at any till of the chain (store `sale_store_id`)."""
        refund = _encode(refund_id, "refund_id")
        store = _encode(sale_store_id, "sale_store_id")
        receipt = _encode(receipt_id, "receipt_id")
        array, count, strings = _refund_items(items)  # strings: alive during the call
        out = _native.new(_native.RefundResult)
        self._check(self._lib.loy_till_refund_at(self._live(), refund, store, receipt, array, count, byref(out)))
        return RefundResult._from_c(out)

    # -- plumbing ------------------------------------------------------------------------------------

    def _live(self) -> _native.TillP:
        if self._handle is None:
            raise StateError(E_STATE, "the till is closed")
        return self._handle

    def _check(self, status: int) -> None:
        if status != OK:
            detail = self._lib.loy_till_last_error(self._handle) if self._handle is not None else b""
            raise error_for(status, _text(detail), _text(self._lib.loy_status_str(status)))


class Checkout:
    """One sale at a till: ``with till.checkout() as c: ...``; freed when the block ends (an uncommitted
    sale is abandoned), by free(), or when it is collected."""

    def __init__(self, till: Till) -> None:
        self._handle: _native.CheckoutP | None = None
        till_handle = till._live()
        lib = till._lib
        handle = _native.CheckoutP()
        till._check(lib.loy_checkout_begin(till_handle, byref(handle)))
        self._lib = lib
        self._till = till  # the till, and its log callback, stay alive while the checkout is
        self._handle = handle
        self._line_count: int | None = None  # of the last quote or the commit
        self._finalizer = weakref.finalize(self, lib.loy_checkout_free, handle)

    @property
    def till(self) -> Till:
        return self._till

    def free(self) -> None:
        """Frees the checkout (once; again is a no-op), abandoning a sale that was not committed."""
        if self._handle is not None:
            self._handle = None
            self._finalizer()

    close = free

    @property
    def freed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> Checkout:
        self._live()
        return self

    def __exit__(self, *exc_info) -> None:
        self.free()

    def __repr__(self) -> str:
        return f"<loyalty.Checkout {'freed' if self.freed else 'live'}>"

    def set_time(self, when: str | _datetime.datetime) -> None:
        """The sale's time: ISO-8601 with its offset ("2026-05-03T10:00:00+08:00") or an aware datetime."""
        if isinstance(when, _datetime.datetime):
            if when.utcoffset() is None:
                raise ValueError("the sale's time needs a UTC offset: pass an aware datetime")
            when = when.isoformat(timespec="seconds")
        self._check(self._lib.loy_checkout_set_time(self._live(), _encode(when, "when")))

    def identify(self, scanned: str) -> Member:
        """Identifies the sale's member (prompts read at the sale's time). Raises NotFound when none; the
        sale then has no member."""
        code = _encode(scanned, "scanned")
        info = _native.new(_native.MemberInfo)
        self._check(self._lib.loy_checkout_identify(self._live(), code, byref(info)))
        return Member._from_c(info, self.prompts())

    def enroll(self, phone: str, *, consent: str | None, name: str | None = None,
               birthday: str | None = None) -> Member:
        """Enrolls a new member (as Till.enroll) and identifies them in this sale."""
        info = _native.new(_native.MemberInfo)
        enrollment, strings = _enrollment(phone, consent, name, birthday)  # strings: alive during the call
        self._check(self._lib.loy_checkout_enroll(self._live(), byref(enrollment), byref(info)))
        return Member._from_c(info, self.prompts())

    def prompts(self) -> list[Prompt]:
        """Every prompt of the sale's member ([] without a member)."""
        handle = self._live()

        def call(prompts, capacity, count):
            return self._lib.loy_checkout_prompts(handle, prompts, sizeof(_native.PromptInfo), capacity, count)

        return _read_prompts(call, self._check)

    def add_line(self, id: str, sku: str, category: str, qty: int, amount_minor: int) -> None:
        """Adds a line: `amount_minor` is its price after the POS's own pricing, qty included."""
        line = _native.new(_native.Line)
        keep = (_encode(id, "id"), _encode(sku, "sku"), _encode(category, "category"))
        line.id, line.sku, line.category = keep
        line.qty = _int64(qty, "qty")
        line.amount_minor = _int64(amount_minor, "amount_minor")
        self._check(self._lib.loy_checkout_add_line(self._live(), byref(line)))

    def set_coupon(self, code: str | None) -> None:
        """Presents a coupon code; None removes it. Whether it applies is part of the quote."""
        self._check(self._lib.loy_checkout_set_coupon(self._live(), _encode(code, "code", optional=True)))

    def redeem(self, points: int) -> None:
        """Asks to pay with `points` (0: none). Whether it is accepted is part of the quote."""
        self._check(self._lib.loy_checkout_redeem(self._live(), _int64(points, "points")))

    def quote(self) -> Quote:
        out = _native.new(_native.Quote)
        self._check(self._lib.loy_checkout_quote(self._live(), byref(out)))
        self._line_count = out.line_count
        return Quote._from_c(out, self._lib)

    def lines(self) -> list[LineQuote]:
        """The line quotes of the last quote, or of the committed sale."""
        handle = self._live()
        if self._line_count is None:
            raise StateError(E_STATE, "nothing has been quoted yet")
        result = []
        for index in range(self._line_count):
            out = _native.new(_native.LineQuote)
            self._check(self._lib.loy_checkout_line_quote(handle, index, byref(out)))
            result.append(LineQuote._from_c(out))
        return result

    def commit(self, receipt_id: str) -> Quote:
        """Commits the sale, durably, under `receipt_id`: the committed quote, ``replayed`` when that receipt
        was committed before for the same sale (its first result; no second sale). Raises Conflict when the
        receipt id was another sale's, or the sale would now be priced otherwise than its quote."""
        receipt = _encode(receipt_id, "receipt_id")
        out = _native.new(_native.Quote)
        self._check(self._lib.loy_checkout_commit(self._live(), receipt, byref(out)))
        self._line_count = out.line_count
        return Quote._from_c(out, self._lib)

    def _live(self) -> _native.CheckoutP:
        if self._handle is None:
            raise StateError(E_STATE, "the checkout is freed")
        return self._handle

    def _check(self, status: int) -> None:
        if status != OK:
            detail = self._lib.loy_checkout_last_error(self._handle) if self._handle is not None else b""
            raise error_for(status, _text(detail), _text(self._lib.loy_status_str(status)))


# -- conversions ---------------------------------------------------------------------------------------


def _close_till(lib, handle, log_callback) -> None:
    # log_callback is an argument only to be referenced until the till is closed.
    lib.loy_till_close(handle)


def _log_trampoline(log: LogCallback):
    def trampoline(level: int, message: bytes | None, userdata) -> None:
        log(_enum_or_int(LogLevel, level), _text(message or b""))

    return trampoline


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", errors="replace")


def _encode(value, what: str, *, optional: bool = False) -> bytes | None:
    """`value` as the NUL-terminated UTF-8 the C API reads: str is encoded, bytes passed as they are."""
    if value is None:
        if optional:
            return None
        raise TypeError(f"{what} must be a str, not None")
    if isinstance(value, str):
        data = value.encode("utf-8")  # a lone surrogate: UnicodeEncodeError, a ValueError
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL character")
    return data


def _document(value, what: str) -> bytes:
    """A JSON document passed with its size: str is encoded, bytes passed as they are (NULs included)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or a str, not {type(value).__name__}")


def _int64(value, what: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not bool")
    number = operator.index(value)  # TypeError for a float: money and points are whole numbers
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise OverflowError(f"{what} {number} does not fit in 64 bits")
    return number


def _int32(value, what: str) -> int:
    number = _int64(value, what)
    if not -(2**31) <= number < 2**31:
        raise OverflowError(f"{what} {number} does not fit in 32 bits")
    return number


def _read_prompts(call, check) -> list[Prompt]:
    """Every prompt from a call that writes them into an array (loy_till_lookup_v2, loy_checkout_prompts),
    again with room for all of them when the first array was too small."""
    capacity = _native.MAX_PROMPTS
    while True:
        array = (_native.PromptInfo * capacity)()
        for element in array:
            element.struct_size = sizeof(_native.PromptInfo)
        count = ctypes.c_size_t()
        check(call(array, capacity, byref(count)))
        if count.value <= capacity:
            return [Prompt._from_c(array[i]) for i in range(count.value)]
        capacity = count.value


def _enrollment(phone, consent, name, birthday):
    keep = (_encode(phone, "phone"), _encode(name, "name", optional=True),
            _encode(birthday, "birthday", optional=True), _encode(consent, "consent", optional=True))
    enrollment = _native.new(_native.Enrollment)
    enrollment.phone, enrollment.name, enrollment.birthday, enrollment.consent = keep
    return enrollment, keep


def _refund_items(items: RefundItems | None):
    """The loy_refund_item array of `items`, its length, and the encoded ids it points into."""
    if items is None:
        return None, 0, ()
    pairs = list(items.items()) if isinstance(items, Mapping) else [tuple(pair) for pair in items]
    if not pairs:
        raise ValueError("no refund items: pass items=None to refund all that is left of the sale")
    array = (_native.RefundItem * len(pairs))()
    keep = []
    for item, (line_id, units) in zip(array, pairs):
        keep.append(_encode(line_id, "line_id"))
        item.struct_size = sizeof(_native.RefundItem)
        item.line_id = keep[-1]
        item.units = _int64(units, "units")
    return array, len(pairs), keep
