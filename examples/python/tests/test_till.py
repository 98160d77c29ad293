"""Till: opening and closing, the log callback, lookups, status, enrollment, sync, and what it refuses."""

from __future__ import annotations

import gc
import json
import sys
import threading
import unittest

import support

import loyalty
from loyalty import till as till_module


class OpenCloseTest(support.TempDirCase):
    def test_open_and_close_in_a_with_block(self):
        with loyalty.Till.open(self.config) as till:
            self.assertFalse(till.closed)
            self.assertEqual(till.status().rules_version, "")
        self.assertTrue(till.closed)

    def test_a_closed_till_raises_state_error_and_closes_once(self):
        till = loyalty.Till(self.config)
        till.close()
        till.close()
        for call in (lambda: till.lookup(support.MEMBER_PHONE), till.status, till.sync, till.checkout,
                     lambda: till.apply_rules("{}"), lambda: till.refund("F-1", "R-1")):
            with self.subTest(call=call), self.assertRaises(loyalty.StateError) as raised:
                call()
            self.assertEqual(raised.exception.status, loyalty.E_STATE)
        with self.assertRaises(loyalty.StateError):
            with till:
                pass

    def test_a_checkout_alive_when_its_till_closes_answers_state_error(self):
        till = loyalty.Till(self.config)
        till.apply_rules((support.DATA / "demo-chain.json").read_bytes())
        with till.checkout() as checkout:
            checkout.add_line("1", "TEE-3", "apparel", 1, 9900)
            till.close()
            with self.assertRaises(loyalty.StateError) as raised:
                checkout.quote()
            self.assertEqual(raised.exception.status, loyalty.E_STATE)
            with self.assertRaises(loyalty.StateError):
                checkout.commit("R-1")

    def test_a_missing_configuration_is_a_config_error_that_names_the_file(self):
        missing = self.folder / "nowhere.json"
        with self.assertRaises(loyalty.ConfigError) as raised:
            loyalty.Till(missing)
        self.assertEqual(raised.exception.status, loyalty.E_CONFIG)
        self.assertIn(str(missing), raised.exception.detail)

    def test_an_invalid_configuration_is_a_config_error_that_names_the_key(self):
        config = support.write_till_config(self.folder, store_id="S 001")
        with self.assertRaises(loyalty.ConfigError) as raised:
            loyalty.Till(config)
        self.assertIn("store_id", raised.exception.detail)

    def test_a_path_with_a_nul_is_refused_before_the_library_sees_it(self):
        with self.assertRaises(ValueError):
            loyalty.Till(str(self.config) + "\0.json")


class LogTest(support.TempDirCase):
    def test_the_log_callback_gets_the_librarys_messages_as_level_and_str(self):
        messages = []
        with loyalty.Till(self.config, log=lambda level, text: messages.append((level, text))) as till:
            till.apply_rules((support.DATA / "demo-chain.json").read_bytes())
        self.assertIn((loyalty.LOG_INFO, "rules demo-2026.1 installed"), messages)
        self.assertTrue(any("opened" in text for _, text in messages), messages)
        for level, text in messages:
            self.assertIsInstance(level, loyalty.LogLevel)
            self.assertIsInstance(text, str)

    def test_messages_below_the_log_level_are_not_passed(self):
        messages = []
        with loyalty.Till(self.config, log=lambda level, text: messages.append(level),
                          log_level=loyalty.LOG_WARN) as till:
            till.apply_rules((support.DATA / "demo-chain.json").read_bytes())
        self.assertTrue(all(level >= loyalty.LOG_WARN for level in messages), messages)

    def test_the_till_keeps_the_callback_alive_when_nothing_else_references_it(self):
        messages = []
        till = loyalty.Till(self.config, log=lambda level, text: messages.append(text))  # the lambda: only here
        self.addCleanup(till.close)
        gc.collect()
        till.apply_rules((support.DATA / "demo-chain.json").read_bytes())
        self.assertIn("rules demo-2026.1 installed", messages)

    def test_an_exception_in_the_callback_is_reported_and_the_call_still_succeeds(self):
        def log(level, text):
            raise RuntimeError("the POS's logger failed")

        reported = []
        hook, sys.unraisablehook = sys.unraisablehook, reported.append
        try:
            with loyalty.Till(self.config, log=log) as till:
                till.apply_rules((support.DATA / "demo-chain.json").read_bytes())
                self.assertEqual(till.status().rules_version, "demo-2026.1")
        finally:
            sys.unraisablehook = hook
        self.assertTrue(reported)
        self.assertIsInstance(reported[0].exc_value, RuntimeError)

    def test_a_log_that_is_not_callable_is_refused(self):
        with self.assertRaises(TypeError):
            loyalty.Till(self.config, log="stderr")


class WithoutRulesTest(support.TempDirCase):
    def test_a_lookup_before_any_rule_set_is_no_rules(self):
        with loyalty.Till(self.config) as till:
            with self.assertRaises(loyalty.NoRules) as raised:
                till.lookup(support.MEMBER_PHONE)
            self.assertEqual(raised.exception.status, loyalty.E_NO_RULES)


class LookupTest(support.OfflineTillCase):
    def test_a_phone_number_finds_the_member_with_the_cached_record(self):
        member = self.till.lookup(support.MEMBER_PHONE)
        record = support.MEMBER
        tier = next(t for t in support.RULES["tiers"] if t["id"] == record["tier"])
        self.assertEqual(member.member_id, record["id"])
        self.assertEqual(member.masked_name, record["masked_name"])
        self.assertEqual((member.tier_id, member.tier_name), (tier["id"], tier["name"]))
        self.assertEqual((member.confirmed_points, member.pending_points, member.available_points),
                         (record["points"], 0, record["points"]))

    def test_spaces_dashes_and_a_leading_plus_86_are_ignored(self):
        self.assertEqual(self.till.lookup("13800138000"), self.till.lookup(support.MEMBER_PHONE))

    def test_the_prompts_are_every_one_of_the_members_and_say_the_till_never_synced(self):
        member = self.till.lookup(support.MEMBER_PHONE)
        self.assertTrue(all(isinstance(p, loyalty.Prompt) for p in member.prompts))
        offline = [p for p in member.prompts if p.code == loyalty.PROMPT_OFFLINE]
        self.assertEqual(len(offline), 1)
        self.assertEqual(offline[0].minutes, -1)
        # The record's last purchase is 2026-04-20: from 90 days after it on, a win-back is offered.
        self.assertTrue(any(p.code == loyalty.PROMPT_WINBACK and p.rate_bp >= 2000 for p in member.prompts))

    def test_an_unknown_code_is_not_found_with_the_librarys_detail(self):
        with self.assertRaises(loyalty.NotFound) as raised:
            self.till.lookup("13700000000")
        error = raised.exception
        self.assertEqual(error.status, loyalty.E_NOT_FOUND)
        self.assertIsInstance(error.status, loyalty.StatusCode)
        self.assertIsInstance(error.detail, str)
        self.assertNotEqual(error.detail, "")
        self.assertIsInstance(error, loyalty.LoyaltyError)

    def test_text_with_a_nul_is_a_value_error_before_the_library_sees_it(self):
        with self.assertRaises(ValueError):
            self.till.lookup("138\x0000138000")

    def test_bytes_that_are_not_utf8_are_a_utf8_error(self):
        with self.assertRaises(loyalty.Utf8Error) as raised:
            self.till.lookup(b"\xff\xfe13800138000")
        self.assertEqual(raised.exception.status, loyalty.E_UTF8)

    def test_a_str_that_cannot_be_utf8_is_a_value_error(self):
        with self.assertRaises(ValueError):
            self.till.lookup("\ud800")

    def test_scanned_text_over_256_bytes_is_too_large(self):
        with self.assertRaises(loyalty.TooLarge):
            self.till.lookup("1" * 257)

    def test_a_non_str_is_a_type_error(self):
        with self.assertRaises(TypeError):
            self.till.lookup(13800138000)


class ThreadsTest(support.OfflineTillCase):
    def test_a_till_serves_several_threads_at_once_each_with_its_own_last_error(self):
        failures = []
        with self.assertRaises(loyalty.NotFound) as raised:
            self.till.lookup("13700000000")
        not_found = raised.exception.detail  # what each thread must read for its own call, not another's error

        def cashier(n: int) -> None:
            try:
                for _ in range(50):
                    self.assertEqual(self.till.lookup(support.MEMBER_PHONE).member_id, support.MEMBER["id"])
                    with self.assertRaises(loyalty.NotFound) as raised:
                        self.till.lookup(f"1370000{n:04d}")
                    self.assertEqual(raised.exception.detail, not_found)
                    with self.assertRaises(loyalty.TooLarge) as raised:
                        self.till.lookup("9" * 300)
                    self.assertIn("256", raised.exception.detail)
            except BaseException as e:  # noqa: BLE001  (reported by the test's thread)
                failures.append(e)

        threads = [threading.Thread(target=cashier, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(failures, [])


class StatusTest(support.OfflineTillCase):
    def test_the_status_of_a_till_that_never_synced(self):
        status = self.till.status()
        self.assertEqual((status.rules_version, status.currency, status.minor_per_unit),
                         (support.RULES["version"], support.RULES["currency"], support.RULES["minor_per_unit"]))
        self.assertEqual((status.members, status.cache_version), (1, support.CHANGES["next"]))
        self.assertEqual((status.outbox_depth, status.oldest_unsynced_seconds, status.last_sync_unix), (0, -1, -1))
        self.assertEqual((status.rejected, status.held, status.last_sync_error, status.rules_error), (0, 0, "", ""))

    def test_a_commit_is_queued_in_the_outbox(self):
        with self.till.checkout() as checkout:
            checkout.add_line("1", "TEE-3", "apparel", 1, 9900)
            checkout.commit("R-1")
        status = self.till.status()
        self.assertEqual(status.outbox_depth, 1)
        self.assertGreaterEqual(status.oldest_unsynced_seconds, 0)

    def test_money_is_written_in_the_rule_sets_currency(self):
        status = self.till.status()
        self.assertEqual(status.format_money(68160), "CNY 681.60")
        self.assertEqual(status.format_money(5), "CNY 0.05")
        self.assertEqual(status.format_money(-12078), "CNY -120.78")


class RulesAndChangesTest(support.OfflineTillCase):
    def test_an_invalid_rule_set_is_a_rules_error_and_keeps_the_installed_one(self):
        with self.assertRaises(loyalty.RulesError) as raised:
            self.till.apply_rules("{}")
        self.assertEqual(raised.exception.status, loyalty.E_RULES)
        self.assertEqual(self.till.status().rules_version, "demo-2026.1")

    def test_an_invalid_changes_document_is_a_document_error(self):
        with self.assertRaises(loyalty.DocumentError):
            self.till.apply_changes(b"not json")

    def test_a_changes_document_as_str_with_a_newer_record_updates_the_member(self):
        record = dict(support.MEMBER, version=2, points=7000)
        self.till.apply_changes(json.dumps({"members": [record], "coupons": [], "next": 2, "more": False}))
        self.assertEqual(self.till.lookup(support.MEMBER_PHONE).available_points, 7000)
        self.assertEqual(self.till.status().cache_version, 2)

    def test_a_document_that_is_neither_bytes_nor_str_is_a_type_error(self):
        with self.assertRaises(TypeError):
            self.till.apply_rules(support.RULES)


class EnrollTest(support.OfflineTillCase):
    PHONE = "137 1234 5678"

    def enroll(self, **fields):
        return self.till.enroll(self.PHONE, **{"name": "Zhao Lei", "birthday": "03-15",
                                               "consent": "consent form v2 signed at till T01", **fields})

    def test_an_enrolled_customer_is_a_member_at_once_with_the_first_purchase_offer(self):
        member = self.enroll()
        lowest = min(support.RULES["tiers"], key=lambda t: t["min_spend_minor"])
        self.assertNotEqual(member.member_id, "")
        self.assertEqual((member.tier_id, member.tier_name), (lowest["id"], lowest["name"]))
        self.assertEqual(member.available_points, 0)
        self.assertNotIn("Zhao", member.masked_name)
        self.assertTrue(member.masked_name.startswith("Z"))
        first = [p for p in member.prompts if p.code == loyalty.PROMPT_FIRST_PURCHASE]
        self.assertEqual([p.rate_bp for p in first], [support.RULES["first_purchase"]["discount_bp"]])
        self.assertEqual(self.till.lookup("13712345678").member_id, member.member_id)
        self.assertEqual(self.till.status().outbox_depth, 1)

    def test_a_phone_that_is_a_member_already_is_a_conflict(self):
        self.enroll()
        with self.assertRaises(loyalty.Conflict):
            self.enroll()
        with self.assertRaises(loyalty.Conflict):
            self.till.enroll(support.MEMBER_PHONE, consent="signed")

    def test_an_enrollment_without_consent_is_refused(self):
        for consent in (None, ""):
            with self.subTest(consent=consent), self.assertRaises(loyalty.ConsentRequired) as raised:
                self.enroll(consent=consent)
            self.assertEqual(raised.exception.status, loyalty.E_CONSENT)

    def test_a_birthday_that_is_not_mm_dd_is_refused(self):
        with self.assertRaises(loyalty.InvalidArgument):
            self.enroll(birthday="13-45")
        with self.assertRaises(loyalty.TooLarge):  # longer than "MM-DD": beyond the header's limit
            self.enroll(birthday="1990-03-15")

    def test_a_name_with_a_nul_is_a_value_error(self):
        with self.assertRaises(ValueError):
            self.enroll(name="Zhao\0Lei")
        with self.assertRaises(loyalty.NotFound):  # and nothing was enrolled
            self.till.lookup(self.PHONE)


class SyncTest(support.OfflineTillCase):
    def test_a_sync_that_cannot_reach_headquarters_is_a_network_error_the_status_keeps(self):
        with self.assertRaises(loyalty.NetworkError) as raised:
            self.till.sync()
        self.assertEqual(raised.exception.status, loyalty.E_NETWORK)
        self.assertNotEqual(raised.exception.detail, "")
        status = self.till.status()
        self.assertEqual(status.last_sync_error, raised.exception.detail)
        self.assertEqual(status.last_sync_unix, -1)


class ConversionTest(unittest.TestCase):
    def test_integers_beyond_64_bits_are_an_overflow_error_not_a_wrapped_value(self):
        self.assertEqual(till_module._int64(2**63 - 1, "x"), 2**63 - 1)
        with self.assertRaises(OverflowError):
            till_module._int64(2**63, "x")
        with self.assertRaises(OverflowError):
            till_module._int64(-(2**63) - 1, "x")

    def test_money_and_counts_must_be_ints(self):
        for value in (1.0, "1", True, None):
            with self.subTest(value=value), self.assertRaises(TypeError):
                till_module._int64(value, "x")

    def test_prompts_are_read_again_with_room_for_all_when_a_member_has_more_than_the_first_array_holds(self):
        capacities = []

        def call(array, capacity, count):  # a member with 11 prompts
            capacities.append(capacity)
            for i in range(min(capacity, 11)):
                array[i].code = loyalty.PROMPT_POINTS_EXPIRING
                array[i].points = i
            count._obj.value = 11
            return loyalty.OK

        prompts = till_module._read_prompts(call, lambda status: None)
        self.assertEqual(capacities, [loyalty.MAX_PROMPTS, 11])
        self.assertEqual([p.points for p in prompts], list(range(11)))


if __name__ == "__main__":
    unittest.main()
