#!/usr/bin/env python3
"""A POS's checkout flow in Python over libloyalty, one printed line per step.

Usage: checkout.py CONFIG_PATH   (a till's configuration whose headquarters is reachable)
  e.g. examples/with-hq.sh build/dev/sync/hq/loyalty-hq \\
         env LOYALTY_LIBRARY=$PWD/build/dev/plugin/api/libloyalty.so.1 python3 examples/python/checkout.py

Exits 0 when every step went as expected, 1 when one did not (the line says which), 2 on bad usage.
"""

from __future__ import annotations

import sys

import loyalty

MEMBER_CARD = "LC-0001-2345"
MEMBER_PHONE = "13800138000"
NOT_A_MEMBER = "13700000000"
RECEIPT = "R-PY-0001"
REFUND = "F-PY-0001"
ENROLL_RECEIPT = "R-PY-0002"
REDEEM_POINTS = 1000
LINES = [("1", "COAT-01", "apparel", 1, 59900), ("2", "SCARF-07", "accessories", 1, 12900)]


class Unexpected(Exception):
    """A step's result is not what the flow expects."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise Unexpected(what)


def log_to_stderr(level: int, message: str) -> None:
    name = level.name.lower() if isinstance(level, loyalty.LogLevel) else f"level {level}"
    print(f"libloyalty {name}: {message}", file=sys.stderr, flush=True)


def percent(bp: int) -> str:
    whole, rest = divmod(bp, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}%"


def describe(prompt: loyalty.Prompt, money) -> str:
    """The prompt as the cashier would read it (a POS words it in its own language)."""
    code = prompt.code
    name = code.name.lower() if isinstance(code, loyalty.PromptCode) else "unknown"
    if code == loyalty.PROMPT_BIRTHDAY_WINDOW:
        figures = "birthday window: more points today"
    elif code == loyalty.PROMPT_FIRST_PURCHASE:
        figures = f"{percent(prompt.rate_bp)} off a first purchase"
    elif code == loyalty.PROMPT_WINBACK:
        figures = f"back after {prompt.days} days: {percent(prompt.rate_bp)} off"
    elif code == loyalty.PROMPT_POINTS_EXPIRING:
        figures = f"{prompt.points} points expire on {prompt.date}"
    elif code == loyalty.PROMPT_NEXT_TIER:
        figures = f"{money(prompt.spend_minor)} more to reach {prompt.tier}"
    elif code == loyalty.PROMPT_NEGATIVE_BALANCE:
        figures = f"balance {prompt.points} points: no redemption"
    elif code == loyalty.PROMPT_OFFLINE:
        figures = "never synced" if prompt.minutes < 0 else f"offline for {prompt.minutes} minutes"
    else:
        figures = "no wording for it yet"
    return f"{int(code)} ({name}): {figures}"


def ring_up(checkout: loyalty.Checkout) -> None:
    """The member's sale as the POS rings it up: member, lines and points."""
    checkout.identify(MEMBER_PHONE)
    for line in LINES:
        checkout.add_line(*line)
    checkout.redeem(REDEEM_POINTS)


def run(config_path: str) -> None:
    # 1. Open, with warnings and errors of the library on stderr.
    with loyalty.Till.open(config_path, log=log_to_stderr, log_level=loyalty.LOG_WARN) as till:
        print(f"opened: libloyalty {loyalty.library_version()}")

        # 2. The first sync brings the rules and the members.
        synced = till.sync()
        status = till.status()
        expect(status.rules_version != "", "the first sync installed no rule set")
        money = status.format_money
        print(f"synced: {synced.sent} sent, {synced.applied} applied, {synced.members} members")

        # 3. A member scans her card.
        member = till.lookup(MEMBER_CARD)
        expect(member.member_id == "M-1001", f"card {MEMBER_CARD} is {member.member_id}, not M-1001")
        print(f"member {member.member_id} ({member.masked_name}), {member.tier_name}, "
              f"{member.available_points} points, {len(member.prompts)} prompts")
        for prompt in member.prompts:
            print(f"  prompt {describe(prompt, money)}")

        # 4. A phone number that is no member's.
        try:
            stranger = till.lookup(NOT_A_MEMBER)
        except loyalty.NotFound as e:
            print(f"not a member: {e.detail}")
        else:
            raise Unexpected(f"{NOT_A_MEMBER} was found: {stranger.member_id}")

        # 5. The member's sale, quoted.
        with till.checkout() as checkout:
            ring_up(checkout)
            quote = checkout.quote()
            lines = checkout.lines()
            expect(quote.redeem_rejected == 0, f"the redemption was refused: {quote.redeem_refusal}")
            expect(quote.payable_minor == quote.gross_minor - quote.member_discount_minor
                   - quote.coupon_discount_minor - quote.redeem_value_minor, "payable is not gross less the discounts")
            expect(sum(line.net_minor for line in lines) == quote.payable_minor, "the lines do not add up to payable")
            print(f"quote: gross {money(quote.gross_minor)}, member discount {money(quote.member_discount_minor)}, "
                  f"points redeemed {quote.redeem_points} (value {money(quote.redeem_value_minor)}), "
                  f"payable {money(quote.payable_minor)}, earns {quote.points_earned}")

            # 6. Payment taken: commit.
            sale = checkout.commit(RECEIPT)
            expect(not sale.replayed, f"{RECEIPT} was committed before")
            expect(sale.payable_minor == quote.payable_minor and sale.points_earned == quote.points_earned,
                   "the sale was committed at other figures than its quote")
            print(f"committed {RECEIPT}: payable {money(sale.payable_minor)}, earned {sale.points_earned}")

        # 7. The POS did not get the answer and commits the same sale again.
        with till.checkout() as retry:
            ring_up(retry)
            again = retry.commit(RECEIPT)
            expect(again.replayed, f"the retry of {RECEIPT} made a second sale")
            expect(again.payable_minor == sale.payable_minor and again.points_earned == sale.points_earned,
                   "the retry's result is not the first one's")
            print(f"retry of {RECEIPT}: replayed, no second sale")

        # 8. The customer brings the scarf back.
        refund = till.refund(REFUND, RECEIPT, {"2": 1})
        expect(not refund.replayed, f"{REFUND} was committed before")
        expect(refund.amount_minor == lines[1].net_minor, "the refund is not the scarf's net")
        print(f"refunded {REFUND}: {money(refund.amount_minor)} back, {refund.points_taken_back} points taken back, "
              f"{refund.points_given_back} given back")

        # 9. A new customer enrolls at the till and buys at once.
        with till.checkout() as checkout:
            new_member = checkout.enroll("13712345678", name="Zhao Lei", birthday="03-15",
                                         consent="consent form v2 signed at till T01")
            checkout.add_line("1", "TEE-3", "apparel", 1, 9900)
            first = checkout.commit(ENROLL_RECEIPT)
            expect(first.member_discount_reason == loyalty.REASON_FIRST_PURCHASE,
                   f"the enrolled customer got no first-purchase offer ({first.member_discount_reason!r})")
            print(f"enrolled {new_member.member_id}: first purchase, payable {money(first.payable_minor)}")

        # 10. Everything to headquarters.
        till.sync()
        status = till.status()
        expect(status.outbox_depth == 0, f"{status.outbox_depth} transactions are still in the outbox")
        expect(status.rejected == 0 and status.held == 0,
               f"headquarters rejected {status.rejected} and holds {status.held} transactions")
        print(f"status: outbox {status.outbox_depth}, members {status.members}, rules {status.rules_version}")
    print("done")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} CONFIG_PATH", file=sys.stderr)
        return 2
    try:
        run(argv[1])
    except loyalty.LoyaltyError as e:
        print(f"checkout.py: failed: {type(e).__name__} ({int(e.status)}): {e}", file=sys.stderr)
        return 1
    except (Unexpected, loyalty.LibraryError) as e:
        print(f"checkout.py: failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
