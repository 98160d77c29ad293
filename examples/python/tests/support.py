"""What the tests share: an offline till of their own, and docs/rules.md's arithmetic to check quotes by.

The till lives in a temporary folder: a configuration like tests/till/run_c_consumer.cmake's (placeholder
TLS files, which are only read at a sync; a headquarters URL nothing answers), the demo chain's rules
and a one-member changes document from tests/data. It never syncs, so it is offline.
"""

from __future__ import annotations

import datetime
import json
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PACKAGE_ROOT = HERE.parent
if str(PACKAGE_ROOT) not in sys.path:  # the package beside these tests, also when run from elsewhere
    sys.path.insert(0, str(PACKAGE_ROOT))

import loyalty  # noqa: E402

RULES = json.loads((DATA / "demo-chain.json").read_text(encoding="utf-8"))
CHANGES = json.loads((DATA / "changes-one-member.json").read_text(encoding="utf-8"))
MEMBER = CHANGES["members"][0]  # M-1001, whose phone is 138 0013 8000 under the configuration's code key
MEMBER_PHONE = "+86 138-0013-8000"

TILL_CONFIG = {
    "data_dir": "data",
    "store_id": "S001",
    "till_id": "T01",
    "code_key": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    "hq": {
        "url": "https://127.0.0.1:1",
        "ca_file": "ca.pem",
        "cert_file": "store.pem",
        "key_file": "store.key",
        "enrollment_key_file": "hq-enroll.pem",
    },
    "sync": {"interval_seconds": 0},
}


def write_till_config(folder: Path, **overrides) -> Path:
    """A till's configuration in `folder` (with its files); `overrides` replace top-level keys."""
    for name in ("ca.pem", "store.pem", "store.key"):
        (folder / name).write_text("placeholder\n")
    shutil.copyfile(DATA / "test-hq-enroll-public.pem", folder / "hq-enroll.pem")
    path = folder / "till.json"
    path.write_text(json.dumps({**TILL_CONFIG, **overrides}), encoding="utf-8")
    return path


class TempDirCase(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="loyalty-py-test-")
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)
        self.config = write_till_config(self.folder)


class OfflineTillCase(TempDirCase):
    """Each test gets a fresh till with the demo rules and member M-1001, closed after it."""

    def setUp(self) -> None:
        super().setUp()
        self.till = loyalty.Till(self.config)
        self.addCleanup(self.till.close)
        self.till.apply_rules((DATA / "demo-chain.json").read_bytes())
        self.till.apply_changes((DATA / "changes-one-member.json").read_text(encoding="utf-8"))

    def checkout(self) -> loyalty.Checkout:
        checkout = self.till.checkout()
        self.addCleanup(checkout.free)
        return checkout


# -- docs/rules.md, "Units" and "Steps", for a member's sale without a coupon ----------------------------


def round_half_up(n: int, d: int) -> int:
    return (2 * n + d) // (2 * d)


def allocate(total: int, weights: list[int]) -> list[int]:
    """`total` over `weights`: floors, then the units left to the largest remainders (earlier on a tie)."""
    whole = sum(weights)
    if whole == 0:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _in_force(entry: dict, now: datetime.datetime) -> bool:
    start, end = entry.get("valid_from"), entry.get("valid_to")
    return (start is None or datetime.datetime.fromisoformat(start) <= now) and (
        end is None or now < datetime.datetime.fromisoformat(end))


def expected_quote(member: dict, lines: list[tuple[str, str, str, int, int]], now: str, points: int = 0,
                   pending_points: int = 0, offline: bool = True) -> dict:
    """The quote docs/rules.md gives for `member` (a changes-document record) buying `lines` at `now`,
    redeeming `points`, offline with nothing redeemed today: totals and per-line figures."""
    at = datetime.datetime.fromisoformat(now)
    tier = next(t for t in RULES["tiers"] if t["id"] == member["tier"])
    amounts = [line[4] for line in lines]
    categories = [line[2] for line in lines]
    discountable = [c not in RULES["discount"]["excluded_categories"] for c in categories]

    # 1. Member discount: the best of tier, first purchase and win-back (tier first on a tie).
    candidates = [(tier["discount_bp"], loyalty.REASON_TIER)]
    if member["purchases"] == 0:
        candidates.append((RULES["first_purchase"]["discount_bp"], loyalty.REASON_FIRST_PURCHASE))
    elif member.get("last_purchase_at"):
        dormant = (at - datetime.datetime.fromisoformat(member["last_purchase_at"])) // datetime.timedelta(days=1)
        buckets = [b for b in RULES["winback"] if b["min_dormant_days"] <= dormant]
        if buckets:
            best = max(buckets, key=lambda b: b["min_dormant_days"])
            candidates.append((best["discount_bp"], loyalty.REASON_WINBACK))
    rate, reason = max(candidates, key=lambda c: c[0])  # max keeps the first of equals
    d_amounts = [a if d else 0 for a, d in zip(amounts, discountable)]
    member_discount = round_half_up(sum(d_amounts) * rate, 10000)
    line_discounts = allocate(member_discount, d_amounts)

    # 3. Redemption (no coupon: step 2 takes nothing).
    net = [a - m for a, m in zip(amounts, line_discounts)]
    redeem = RULES["redeem"]
    base = sum(n for n, d in zip(net, discountable) if d)
    max_value = base * redeem["max_share_bp"] // 10000
    available = member["points"] + pending_points
    limit = min(available, redeem["offline_daily_limit_points"] if offline else available,
                max_value * 100 // redeem["minor_per_100_points"])
    max_redeemable = limit // redeem["step_points"] * redeem["step_points"]
    max_redeemable = max_redeemable if max_redeemable >= redeem["min_points"] else 0
    accepted = 0 < points <= max_redeemable and points % redeem["step_points"] == 0
    redeem_value = points * redeem["minor_per_100_points"] // 100 if accepted else 0
    line_redeem = allocate(redeem_value, [n if d else 0 for n, d in zip(net, discountable)])
    net = [n - r for n, r in zip(net, line_redeem)]

    # 5. Points earned: one floor, at the end.
    earn = RULES["earn"]

    def bonus_pct(category: str) -> int:
        bonuses = [b["multiplier_pct"] for b in earn["bonus"] if category in b["categories"] and _in_force(b, at)]
        return max(bonuses, default=100)

    weights = [0 if c in earn["excluded_categories"] else n * bonus_pct(c) for n, c in zip(net, categories)]
    window = RULES["birthday"]["window"]  # "month" or "day", in the offset of `now`
    birthday = member.get("birthday") is not None and int(member["birthday"][:2]) == at.month and (
        window == "month" or int(member["birthday"][3:]) == at.day)
    birthday_pct = RULES["birthday"]["multiplier_pct"] if birthday else 100
    points_earned = (sum(weights) * earn["points_per_unit"] * tier["earn_multiplier_pct"] * birthday_pct
                     // (RULES["minor_per_unit"] * 100**3))
    redeemed_points = points if accepted else 0
    return {
        "gross_minor": sum(amounts),
        "member_discount_minor": member_discount,
        "member_discount_reason": reason,
        "member_discount_bp": rate,
        "redeem_points": redeemed_points,
        "redeem_value_minor": redeem_value,
        "max_redeemable_points": max_redeemable,
        "payable_minor": sum(amounts) - member_discount - redeem_value,
        "points_earned": points_earned,
        "birthday": birthday,
        "lines": [
            {"id": line[0], "member_discount_minor": m, "redeem_value_minor": r, "net_minor": n,
             "points_earned": p, "points_redeemed": q}
            for line, m, r, n, p, q in zip(lines, line_discounts, line_redeem, net,
                                           allocate(points_earned, weights), allocate(redeemed_points, line_redeem))
        ],
    }
