"""The ctypes mirror of loyalty.h: struct layouts, the bound functions, the version and struct_size handling."""

from __future__ import annotations

import ctypes
import re
import unittest
from ctypes import byref, sizeof

import support  # noqa: F401  (puts the package on the path)

import loyalty
from loyalty import _native

# sizeof and offsetof of every struct of loyalty.h 1.2 on x86-64 (LP64), as a C compiler gives them
# (gcc -std=c99 on the header); the order of the fields is the header's.
LAYOUT_LP64 = {
    "TillOptions": (32, [("struct_size", 0), ("log", 8), ("log_userdata", 16), ("log_level", 24)]),
    "Prompt": (144, [("code", 0), ("rate_bp", 4), ("days", 8), ("points", 16), ("spend_minor", 24),
                     ("minutes", 32), ("date", 40), ("tier", 80)]),
    "MemberInfo": (1480, [("struct_size", 0), ("member_id", 4), ("masked_name", 68), ("tier_id", 164),
                          ("tier_name", 228), ("confirmed_points", 296), ("pending_points", 304),
                          ("available_points", 312), ("prompt_count", 320), ("prompts", 328)]),
    "PromptInfo": (152, [("struct_size", 0), ("code", 4), ("rate_bp", 8), ("reserved", 12), ("days", 16),
                         ("points", 24), ("spend_minor", 32), ("minutes", 40), ("date", 48), ("tier", 88)]),
    "TillStatus": (656, [("struct_size", 0), ("outbox_depth", 8), ("oldest_unsynced_seconds", 16),
                         ("cache_version", 24), ("last_sync_unix", 32), ("members", 40), ("rules_version", 48),
                         ("currency", 112), ("minor_per_unit", 120), ("rejected", 128), ("last_sync_error", 136),
                         ("held", 392), ("rules_error", 400)]),
    "SyncResult": (64, [("struct_size", 0), ("sent", 8), ("applied", 16), ("duplicates", 24), ("rejected", 32),
                        ("members", 40), ("coupons", 48), ("rules_updated", 56), ("reserved", 60)]),
    "Line": (48, [("struct_size", 0), ("id", 8), ("sku", 16), ("category", 24), ("qty", 32),
                  ("amount_minor", 40)]),
    "Quote": (104, [("struct_size", 0), ("gross_minor", 8), ("member_discount_minor", 16),
                    ("member_discount_reason", 24), ("member_discount_bp", 28), ("coupon_discount_minor", 32),
                    ("coupon_rejected", 40), ("redeem_rejected", 44), ("redeem_points", 48),
                    ("redeem_value_minor", 56), ("max_redeemable_points", 64), ("payable_minor", 72),
                    ("points_earned", 80), ("birthday", 88), ("line_count", 92), ("replayed", 96),
                    ("reserved", 100)]),
    "LineQuote": (120, [("struct_size", 0), ("id", 4), ("member_discount_minor", 72),
                        ("coupon_discount_minor", 80), ("redeem_value_minor", 88), ("net_minor", 96),
                        ("points_earned", 104), ("points_redeemed", 112)]),
    "RefundItem": (24, [("struct_size", 0), ("line_id", 8), ("units", 16)]),
    "RefundResult": (48, [("struct_size", 0), ("amount_minor", 8), ("points_taken_back", 16),
                          ("points_given_back", 24), ("balance_after", 32), ("negative_balance", 40),
                          ("replayed", 44)]),
    "Enrollment": (40, [("struct_size", 0), ("phone", 8), ("name", 16), ("birthday", 24), ("consent", 32)]),
}

# Every function loyalty.h 1.2 declares.
HEADER_FUNCTIONS = {
    "loy_version", "loy_status_str", "loy_till_open", "loy_till_close", "loy_till_last_error",
    "loy_till_apply_rules", "loy_till_apply_changes", "loy_till_lookup", "loy_till_lookup_v2",
    "loy_till_status_get", "loy_till_sync", "loy_checkout_begin", "loy_checkout_free", "loy_checkout_last_error",
    "loy_checkout_set_time", "loy_checkout_identify", "loy_checkout_prompts", "loy_checkout_add_line",
    "loy_checkout_set_coupon", "loy_checkout_redeem", "loy_coupon_refusal_str", "loy_redeem_refusal_str",
    "loy_checkout_quote", "loy_checkout_line_quote", "loy_checkout_commit", "loy_till_refund",
    "loy_till_refund_at", "loy_till_enroll", "loy_checkout_enroll",
}

HEADER = support.PACKAGE_ROOT.parents[1] / "include" / "loyalty" / "loyalty.h"


@unittest.skipUnless(sizeof(ctypes.c_void_p) == 8 and sizeof(ctypes.c_long) == 8, "the table is LP64's")
class StructLayoutTest(unittest.TestCase):
    def test_every_struct_has_the_headers_size_and_field_offsets_in_the_headers_order(self):
        for name, (size, fields) in LAYOUT_LP64.items():
            struct = getattr(_native, name)
            with self.subTest(struct=name):
                self.assertEqual(sizeof(struct), size)
                self.assertEqual([f[0] for f in struct._fields_], [f for f, _ in fields])
                self.assertEqual([getattr(struct, f).offset for f, _ in fields], [o for _, o in fields])

    def test_the_sizes_the_brief_names(self):
        self.assertEqual(sizeof(_native.MemberInfo), 1480)
        self.assertEqual(sizeof(_native.TillStatus), 656)
        self.assertEqual(sizeof(_native.Prompt), 144)  # frozen since 1.0

    def test_the_fixed_text_buffers_are_char_arrays_of_the_headers_lengths(self):
        self.assertEqual(_native.MemberInfo.member_id.size, 64)
        self.assertEqual(_native.MemberInfo.masked_name.size, 96)
        self.assertEqual(_native.TillStatus.currency.size, 8)
        self.assertEqual(_native.TillStatus.last_sync_error.size, 256)
        self.assertEqual(_native.PromptInfo.date.size, 40)
        self.assertEqual(_native.LineQuote.id.size, 64)
        self.assertEqual(_native.MemberInfo.prompts.size, loyalty.MAX_PROMPTS * sizeof(_native.Prompt))


class BindingTest(unittest.TestCase):
    def test_every_function_of_the_header_is_bound_with_its_argtypes_and_restype(self):
        lib = _native.library()
        self.assertEqual(set(_native.FUNCTIONS), HEADER_FUNCTIONS)
        for name in HEADER_FUNCTIONS:
            restype, argtypes = _native._SIGNATURES[name]
            function = getattr(lib, name)
            with self.subTest(function=name):
                self.assertIs(function.restype, restype)
                self.assertEqual(function.argtypes, argtypes)
        self.assertIsNone(lib.loy_till_close.restype)  # void: not ctypes' default int
        self.assertIsNone(lib.loy_checkout_free.restype)

    @unittest.skipUnless(HEADER.is_file(), "the repository's header is not beside the package")
    def test_the_bound_functions_are_those_the_repositorys_header_declares(self):
        declared = set(re.findall(r"LOY_API\s[^;]*?LOY_CALL\s*\*?\s*(loy_\w+)\s*\(", HEADER.read_text()))
        self.assertEqual(declared, HEADER_FUNCTIONS)

    def test_the_loaded_library_is_version_1_and_says_so(self):
        version = _native.library().loy_version()
        self.assertEqual(version >> 16, 1)
        self.assertGreaterEqual((version >> 8) & 0xFF, 2)
        self.assertEqual(loyalty.library_version(), f"{version >> 16}.{(version >> 8) & 0xFF}.{version & 0xFF}")

    def test_every_status_code_has_its_exception_class_and_the_librarys_name(self):
        lib = _native.library()
        classes = {
            loyalty.E_INVALID_ARGUMENT: loyalty.InvalidArgument, loyalty.E_STRUCT_SIZE: loyalty.StructSizeError,
            loyalty.E_UTF8: loyalty.Utf8Error, loyalty.E_NOT_FOUND: loyalty.NotFound,
            loyalty.E_STATE: loyalty.StateError, loyalty.E_CONFIG: loyalty.ConfigError,
            loyalty.E_STORAGE: loyalty.StorageError, loyalty.E_RULES: loyalty.RulesError,
            loyalty.E_NO_RULES: loyalty.NoRules, loyalty.E_DOCUMENT: loyalty.DocumentError,
            loyalty.E_CONFLICT: loyalty.Conflict, loyalty.E_CONSENT: loyalty.ConsentRequired,
            loyalty.E_TOO_LARGE: loyalty.TooLarge, loyalty.E_NETWORK: loyalty.NetworkError,
            loyalty.E_INTERNAL: loyalty.InternalError,
        }
        self.assertEqual(set(classes), set(loyalty.StatusCode) - {loyalty.OK})
        for status, cls in classes.items():
            name = lib.loy_status_str(status).decode()
            error = loyalty.errors.error_for(status, "why", name)
            with self.subTest(status=status):
                self.assertIs(type(error), cls)
                self.assertEqual((error.status, error.detail, error.name), (status, "why", name))
                self.assertNotEqual(name, "unknown status")
                self.assertEqual(str(error), f"{name}: why")
        unknown = loyalty.errors.error_for(-50, "", lib.loy_status_str(-50).decode())
        self.assertIs(type(unknown), loyalty.LoyaltyError)
        self.assertEqual((unknown.status, str(unknown)), (-50, "unknown status"))

    def test_the_refusal_names_are_the_librarys(self):
        lib = _native.library()
        self.assertEqual(lib.loy_coupon_refusal_str(loyalty.COUPON_EXPIRED), b"coupon_expired")
        self.assertEqual(lib.loy_redeem_refusal_str(loyalty.REDEEM_OFFLINE_LIMIT), b"offline_limit")
        self.assertEqual(lib.loy_redeem_refusal_str(0), b"")


class StructSizeTest(support.OfflineTillCase):
    """struct_size through the raw bindings: what the package relies on when it sets it."""

    def test_a_struct_size_no_header_had_is_refused_with_struct_size(self):
        lib = _native.library()
        status = _native.new(_native.TillStatus)
        status.struct_size = 100
        self.assertEqual(lib.loy_till_status_get(self.till._handle, byref(status)), loyalty.E_STRUCT_SIZE)
        member = _native.new(_native.MemberInfo)
        member.struct_size += 8  # a newer header's size
        self.assertEqual(lib.loy_till_lookup(self.till._handle, support.MEMBER_PHONE.encode(), byref(member)),
                         loyalty.E_STRUCT_SIZE)

    def test_the_release_1_1_size_of_the_status_is_filled_only_as_far_as_it_reaches(self):
        lib = _native.library()
        status = _native.new(_native.TillStatus)
        status.struct_size = _native.TillStatus.held.offset  # loyalty.h 1.1 ended before `held`
        status.held = 12345
        self.assertEqual(lib.loy_till_status_get(self.till._handle, byref(status)), loyalty.OK)
        self.assertEqual((status.members, status.rules_version, status.held), (1, b"demo-2026.1", 12345))

    def test_a_prompt_element_size_that_is_no_releases_is_refused(self):
        lib = _native.library()
        prompts = (_native.PromptInfo * 8)()
        count = ctypes.c_size_t()
        status = lib.loy_till_lookup_v2(self.till._handle, support.MEMBER_PHONE.encode(), None, prompts,
                                        sizeof(_native.Prompt), 8, byref(count))
        self.assertEqual(status, loyalty.E_STRUCT_SIZE)

    def test_the_package_raises_struct_size_error_for_it(self):
        with self.assertRaises(loyalty.StructSizeError) as raised:
            self.till._check(loyalty.E_STRUCT_SIZE)
        self.assertEqual(raised.exception.status, loyalty.E_STRUCT_SIZE)


if __name__ == "__main__":
    unittest.main()
