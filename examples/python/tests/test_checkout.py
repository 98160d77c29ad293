"""Checkout: quotes checked against docs/rules.md's arithmetic, commits and their replay, refunds, enrollment."""

from __future__ import annotations

import datetime
import unittest

import support

import loyalty

# In the member's birthday month, 12 days after her last purchase: her Gold discount, double points.
MAY = "2026-05-03T10:00:00+08:00"
# 224 days after her last purchase: the win-back offer beats her tier's discount.
DECEMBER = "2026-12-01T10:00:00+08:00"
COAT = ("1", "COAT-01", "apparel", 1, 59900)
SCARF = ("2", "SCARF-07", "accessories", 1, 12900)


class QuoteTest(support.OfflineTillCase):
    def quote(self, lines, now, points=0):
        checkout = self.checkout()
        checkout.set_time(now)
        checkout.identify(support.MEMBER_PHONE)
        for line in lines:
            checkout.add_line(*line)
        checkout.redeem(points)
        return checkout, checkout.quote()

    def assert_quote_is(self, checkout, quote, expected):
        for name, value in expected.items():
            if name != "lines":
                self.assertEqual(getattr(quote, name), value, name)
        lines = checkout.lines()
        self.assertEqual(len(lines), quote.line_count)
        for line, want in zip(lines, expected["lines"]):
            for name, value in want.items():
                self.assertEqual(getattr(line, name), value, f"line {want['id']}: {name}")
        # What holds of every quote.
        self.assertEqual(quote.payable_minor, quote.gross_minor - quote.member_discount_minor
                         - quote.coupon_discount_minor - quote.redeem_value_minor)
        self.assertEqual(sum(line.net_minor for line in lines), quote.payable_minor)
        self.assertEqual(sum(line.member_discount_minor for line in lines), quote.member_discount_minor)
        self.assertEqual(sum(line.redeem_value_minor for line in lines), quote.redeem_value_minor)
        self.assertEqual(sum(line.points_earned for line in lines), quote.points_earned)
        self.assertEqual(sum(line.points_redeemed for line in lines), quote.redeem_points)

    def test_a_gold_member_in_her_birthday_month_redeeming_offline_gets_the_rules_figures(self):
        checkout, quote = self.quote([COAT, SCARF], MAY, points=1000)
        expected = support.expected_quote(support.MEMBER, [COAT, SCARF], MAY, points=1000)
        self.assert_quote_is(checkout, quote, expected)
        self.assertEqual(quote.member_discount_reason, loyalty.REASON_TIER)
        self.assertTrue(quote.birthday)
        self.assertEqual((quote.redeem_rejected, quote.redeem_refusal), (0, ""))
        # The figures of docs/rules.md worked by hand, so that the reference above is checked too.
        self.assertEqual((quote.gross_minor, quote.member_discount_minor, quote.redeem_value_minor,
                          quote.payable_minor, quote.points_earned, quote.max_redeemable_points),
                         (72800, 3640, 1000, 68160, 2044, 2000))

    def test_a_member_back_after_224_days_gets_the_win_back_rate_and_no_tobacco_benefits(self):
        lines = [COAT, ("2", "BAG-ECO", "eco", 1, 4900), ("3", "CIG-20", "tobacco", 1, 3500)]
        checkout, quote = self.quote(lines, DECEMBER)
        expected = support.expected_quote(support.MEMBER, lines, DECEMBER)
        self.assert_quote_is(checkout, quote, expected)
        self.assertEqual(quote.member_discount_reason, loyalty.REASON_WINBACK)
        self.assertEqual(quote.member_discount_bp, 3000)
        self.assertFalse(quote.birthday)
        tobacco = checkout.lines()[2]
        self.assertEqual((tobacco.member_discount_minor, tobacco.net_minor, tobacco.points_earned), (0, 3500, 0))
        winback = [p for p in checkout.prompts() if p.code == loyalty.PROMPT_WINBACK]
        self.assertEqual([(p.days, p.rate_bp) for p in winback], [(224, 3000)])

    def test_the_identified_member_carries_the_prompts_at_the_sales_time(self):
        checkout = self.checkout()
        checkout.set_time(datetime.datetime(2026, 5, 3, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=8))))
        member = checkout.identify(support.MEMBER_PHONE)
        self.assertEqual(member.member_id, support.MEMBER["id"])
        self.assertEqual(member.prompts, checkout.prompts())
        self.assertIn(loyalty.PROMPT_BIRTHDAY_WINDOW, [p.code for p in member.prompts])

    def test_an_anonymous_sale_is_at_gross_and_refuses_coupons_and_points(self):
        checkout = self.checkout()
        checkout.add_line(*COAT)
        checkout.set_coupon("WELCOME-20")
        checkout.redeem(1000)
        quote = checkout.quote()
        self.assertEqual((quote.payable_minor, quote.points_earned, quote.member_discount_minor), (59900, 0, 0))
        self.assertEqual((quote.coupon_rejected, quote.redeem_rejected),
                         (loyalty.COUPON_MEMBER_REQUIRED, loyalty.REDEEM_MEMBER_REQUIRED))
        self.assertEqual(quote.redeem_refusal, "member_required")
        self.assertEqual(checkout.prompts(), [])

    def test_a_refused_coupon_or_redemption_is_still_a_quote_and_none_removes_the_coupon(self):
        checkout, _ = self.quote([COAT], MAY, points=150)
        checkout.set_coupon("NO-SUCH-COUPON")
        quote = checkout.quote()
        self.assertEqual((quote.coupon_rejected, quote.coupon_refusal), (loyalty.COUPON_UNKNOWN, "coupon_unknown"))
        self.assertEqual((quote.redeem_rejected, quote.redeem_refusal),
                         (loyalty.REDEEM_NOT_MULTIPLE_OF_STEP, "not_multiple_of_step"))
        self.assertEqual(quote.redeem_value_minor, 0)
        checkout.set_coupon(None)
        checkout.redeem(3000)  # more than the offline allowance of a day
        quote = checkout.quote()
        self.assertEqual(quote.coupon_rejected, 0)
        self.assertEqual(quote.redeem_rejected, loyalty.REDEEM_OFFLINE_LIMIT)
        self.assertEqual(quote.max_redeemable_points, support.RULES["redeem"]["offline_daily_limit_points"])


class InvalidInputTest(support.OfflineTillCase):
    def test_a_negative_redemption_is_an_invalid_argument(self):
        checkout = self.checkout()
        with self.assertRaises(loyalty.LoyaltyError) as raised:
            checkout.redeem(-100)
        self.assertEqual(raised.exception.status, loyalty.E_INVALID_ARGUMENT)
        self.assertIsInstance(raised.exception, loyalty.InvalidArgument)
        with self.assertRaises(loyalty.InvalidArgument):
            checkout.redeem(10**15 + 1)
        with self.assertRaises(OverflowError):
            checkout.redeem(2**64)

    def test_lines_out_of_range_are_invalid_arguments(self):
        checkout = self.checkout()
        for line in [("1", "A", "apparel", 0, 100), ("1", "A", "apparel", 1, -1), ("1", "A", "apparel", 1, 10**15 + 1),
                     ("", "A", "apparel", 1, 100)]:
            with self.subTest(line=line), self.assertRaises(loyalty.InvalidArgument):
                checkout.add_line(*line)
        checkout.add_line("1", "A", "apparel", 1, 100)
        with self.assertRaises(loyalty.InvalidArgument):
            checkout.add_line("1", "B", "apparel", 1, 100)  # the same line id twice

    def test_text_with_a_nul_never_reaches_the_library(self):
        checkout = self.checkout()
        for call in (lambda: checkout.add_line("1", "COAT\0", "apparel", 1, 100),
                     lambda: checkout.identify("13800138000\0"), lambda: checkout.set_coupon("A\0B"),
                     lambda: checkout.set_time("2026-05-03T10:00:00+08:00\0"), lambda: checkout.commit("R\0")):
            with self.subTest(call=call), self.assertRaises(ValueError):
                call()

    def test_out_of_order_calls_are_state_errors(self):
        checkout = self.checkout()
        with self.assertRaises(loyalty.StateError):
            checkout.quote()  # no lines
        with self.assertRaises(loyalty.StateError):
            checkout.lines()  # nothing quoted

    def test_limits_beyond_the_headers_are_too_large(self):
        checkout = self.checkout()
        with self.assertRaises(loyalty.TooLarge):
            checkout.set_coupon("C" * 65)
        with self.assertRaises(loyalty.TooLarge):
            checkout.add_line("1", "S" * 257, "apparel", 1, 100)

    def test_a_time_without_an_offset_is_refused(self):
        checkout = self.checkout()
        with self.assertRaises(loyalty.InvalidArgument):
            checkout.set_time("2026-05-03T10:00:00")
        with self.assertRaises(ValueError):
            checkout.set_time(datetime.datetime(2026, 5, 3, 10))

    def test_an_unknown_member_leaves_the_sale_without_one(self):
        checkout = self.checkout()
        checkout.identify(support.MEMBER_PHONE)
        with self.assertRaises(loyalty.NotFound):
            checkout.identify("13700000000")
        checkout.add_line(*COAT)
        self.assertEqual(checkout.quote().points_earned, 0)


class CommitTest(support.OfflineTillCase):
    def sale(self, points=1000, lines=(COAT, SCARF)):
        checkout = self.checkout()
        checkout.set_time(MAY)
        checkout.identify(support.MEMBER_PHONE)
        for line in lines:
            checkout.add_line(*line)
        checkout.redeem(points)
        return checkout

    def test_a_commit_is_the_quotes_figures_and_moves_the_points_at_once(self):
        checkout = self.sale()
        quote = checkout.quote()
        committed = checkout.commit("R-1")
        self.assertFalse(committed.replayed)
        self.assertEqual(committed, quote)
        member = self.till.lookup(support.MEMBER_PHONE)
        self.assertEqual(member.pending_points, quote.points_earned - quote.redeem_points)
        self.assertEqual(member.available_points, support.MEMBER["points"] + member.pending_points)

    def test_committing_a_receipt_again_for_the_same_sale_replays_its_first_result(self):
        first_checkout = self.sale()
        first = first_checkout.commit("R-1")
        retry = self.sale()
        again = retry.commit("R-1")
        self.assertTrue(again.replayed)
        self.assertEqual(again.payable_minor, first.payable_minor)
        self.assertEqual(again.points_earned, first.points_earned)
        self.assertEqual(retry.lines(), first_checkout.lines())
        self.assertEqual(self.till.status().outbox_depth, 1)  # no second sale
        self.assertEqual(self.till.lookup(support.MEMBER_PHONE).pending_points,
                         first.points_earned - first.redeem_points)

    def test_a_receipt_id_of_another_sale_is_a_conflict(self):
        self.sale().commit("R-1")
        with self.assertRaises(loyalty.Conflict) as raised:
            self.sale(points=0).commit("R-1")
        self.assertEqual(raised.exception.status, loyalty.E_CONFLICT)

    def test_a_committed_checkout_answers_only_its_line_quotes(self):
        checkout = self.sale()
        checkout.commit("R-1")
        self.assertEqual(len(checkout.lines()), 2)
        for call in (lambda: checkout.commit("R-2"), lambda: checkout.add_line("3", "X", "apparel", 1, 1),
                     checkout.quote):
            with self.subTest(call=call), self.assertRaises(loyalty.StateError):
                call()

    def test_a_freed_checkout_is_a_state_error_and_its_with_block_frees_it(self):
        with self.till.checkout() as checkout:
            checkout.add_line(*COAT)
        self.assertTrue(checkout.freed)
        with self.assertRaises(loyalty.StateError) as raised:
            checkout.quote()
        self.assertEqual(raised.exception.status, loyalty.E_STATE)
        checkout.free()  # again: nothing

    def test_an_abandoned_checkout_commits_nothing(self):
        with self.till.checkout() as checkout:
            checkout.add_line(*COAT)
            checkout.quote()
        self.assertEqual(self.till.status().outbox_depth, 0)


class RefundTest(support.OfflineTillCase):
    def commit(self, receipt, lines, points=0):
        checkout = self.checkout()
        checkout.set_time(MAY)
        checkout.identify(support.MEMBER_PHONE)
        for line in lines:
            checkout.add_line(*line)
        checkout.redeem(points)
        quote = checkout.commit(receipt)
        return quote, {line.id: line for line in checkout.lines()}

    def test_a_line_refunded_gives_back_its_net_and_its_points(self):
        quote, lines = self.commit("R-1", [COAT, SCARF], points=1000)
        before = self.till.lookup(support.MEMBER_PHONE).available_points
        refund = self.till.refund("F-1", "R-1", {"2": 1})
        scarf = lines["2"]
        self.assertEqual((refund.amount_minor, refund.points_taken_back, refund.points_given_back),
                         (scarf.net_minor, scarf.points_earned, scarf.points_redeemed))
        self.assertEqual(refund.balance_after, before - scarf.points_earned + scarf.points_redeemed)
        self.assertEqual(self.till.lookup(support.MEMBER_PHONE).available_points, refund.balance_after)
        self.assertFalse(refund.replayed)
        self.assertFalse(refund.negative_balance)
        rest = self.till.refund("F-2", "R-1")  # all that is left
        self.assertEqual(refund.amount_minor + rest.amount_minor, quote.payable_minor)
        self.assertEqual(refund.points_taken_back + rest.points_taken_back, quote.points_earned)
        self.assertEqual(refund.points_given_back + rest.points_given_back, quote.redeem_points)
        with self.assertRaises(loyalty.StateError):
            self.till.refund("F-3", "R-1")  # nothing left

    def test_units_come_back_rounded_half_up_and_the_last_takes_exactly_what_is_left(self):
        self.commit("R-1", [("1", "SOCKS-3", "apparel", 3, 10000)])
        line_net = 10000 - support.round_half_up(10000 * 500, 10000)  # her Gold discount
        amounts = [self.till.refund(f"F-{k}", "R-1", [("1", 1)]).amount_minor for k in range(3)]
        first = support.round_half_up(line_net * 1, 3)
        second = support.round_half_up((line_net - first) * 1, 2)
        self.assertEqual(amounts, [first, second, line_net - first - second])

    def test_a_refund_id_used_again_replays_and_for_another_receipt_conflicts(self):
        self.commit("R-1", [COAT, SCARF])
        self.commit("R-2", [COAT])
        first = self.till.refund("F-1", "R-1", {"2": 1})
        again = self.till.refund("F-1", "R-1", {"2": 1})
        self.assertTrue(again.replayed)
        self.assertEqual(again.amount_minor, first.amount_minor)
        with self.assertRaises(loyalty.Conflict):
            self.till.refund("F-1", "R-2")

    def test_an_unknown_receipt_or_line_is_not_found_and_too_many_units_invalid(self):
        self.commit("R-1", [COAT])
        with self.assertRaises(loyalty.NotFound):
            self.till.refund("F-1", "R-404")
        with self.assertRaises(loyalty.NotFound):
            self.till.refund("F-1", "R-1", {"9": 1})
        with self.assertRaises(loyalty.InvalidArgument):
            self.till.refund("F-1", "R-1", {"1": 2})

    def test_no_items_is_refused_rather_than_taken_for_the_whole_sale(self):
        self.commit("R-1", [COAT])
        with self.assertRaises(ValueError):
            self.till.refund("F-1", "R-1", [])
        self.assertEqual(self.till.status().outbox_depth, 1)

    def test_refund_at_this_till_own_store_refunds_its_own_sale_offline(self):
        quote, _ = self.commit("R-1", [COAT])
        refund = self.till.refund_at("F-1", "S001", "R-1")
        self.assertEqual(refund.amount_minor, quote.payable_minor)

    def test_refund_at_another_store_needs_headquarters(self):
        with self.assertRaises(loyalty.NetworkError):
            self.till.refund_at("F-1", "S002", "R-1", {"1": 1})


class CheckoutEnrollTest(support.OfflineTillCase):
    def test_a_customer_enrolled_in_the_checkout_gets_the_first_purchase_discount(self):
        checkout = self.checkout()
        member = checkout.enroll("13712345678", name="Zhao Lei", birthday="03-15",
                                 consent="consent form v2 signed at till T01")
        self.assertIn(loyalty.PROMPT_FIRST_PURCHASE, [p.code for p in member.prompts])
        checkout.add_line("1", "TEE-3", "apparel", 1, 9900)
        quote = checkout.commit("R-1")
        rate = support.RULES["first_purchase"]["discount_bp"]
        self.assertEqual((quote.member_discount_reason, quote.member_discount_bp),
                         (loyalty.REASON_FIRST_PURCHASE, rate))
        self.assertEqual(quote.payable_minor, 9900 - support.round_half_up(9900 * rate, 10000))
        self.assertEqual(self.till.status().outbox_depth, 2)  # the enrollment and the sale


if __name__ == "__main__":
    unittest.main()
