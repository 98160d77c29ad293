"""What the library answers, as frozen dataclasses with str fields (decoded from UTF-8) and ints.

Money is an int count of minor units (``*_minor``), as in the C API; Status.format_money writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _native
from .constants import CouponRefusal, DiscountReason, PromptCode, RedeemRefusal, _enum_or_int


def _text(raw: bytes) -> str:
    # The library writes UTF-8 (cut at a character boundary); "replace" keeps a reader alive whatever comes.
    return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Prompt:
    """A cashier prompt: a PromptCode and its figures (those the code does not use are 0 or "")."""

    code: int
    rate_bp: int = 0
    days: int = 0
    points: int = 0
    spend_minor: int = 0
    minutes: int = 0
    date: str = ""
    tier: str = ""

    @classmethod
    def _from_c(cls, p: _native.Prompt | _native.PromptInfo) -> Prompt:
        return cls(
            code=_enum_or_int(PromptCode, p.code),
            rate_bp=p.rate_bp,
            days=p.days,
            points=p.points,
            spend_minor=p.spend_minor,
            minutes=p.minutes,
            date=_text(p.date),
            tier=_text(p.tier),
        )


@dataclass(frozen=True)
class Member:
    member_id: str
    masked_name: str  # e.g. "W*** F***": never the name itself
    tier_id: str
    tier_name: str
    confirmed_points: int  # headquarters' balance
    pending_points: int  # this till's effects not yet confirmed, signed
    available_points: int  # confirmed + pending
    prompts: list[Prompt] = field(default_factory=list)  # every one of them

    @classmethod
    def _from_c(cls, m: _native.MemberInfo, prompts: list[Prompt]) -> Member:
        return cls(
            member_id=_text(m.member_id),
            masked_name=_text(m.masked_name),
            tier_id=_text(m.tier_id),
            tier_name=_text(m.tier_name),
            confirmed_points=m.confirmed_points,
            pending_points=m.pending_points,
            available_points=m.available_points,
            prompts=prompts,
        )

    @staticmethod
    def _embedded_prompts(m: _native.MemberInfo) -> list[Prompt]:
        """The prompts loy_member_info holds itself (at most LOY_MAX_PROMPTS)."""
        return [Prompt._from_c(m.prompts[i]) for i in range(min(m.prompt_count, _native.MAX_PROMPTS))]


@dataclass(frozen=True)
class Quote:
    """A checkout's quote, or a commit's result (``replayed``: the receipt id's first result)."""

    gross_minor: int
    member_discount_minor: int
    member_discount_reason: int  # DiscountReason
    member_discount_bp: int
    coupon_discount_minor: int
    coupon_rejected: int  # CouponRefusal, 0 when applied or none presented
    coupon_refusal: str  # its name ("coupon_expired"), "" for 0
    redeem_rejected: int  # RedeemRefusal, 0 when accepted or none asked for
    redeem_refusal: str  # its name ("offline_limit"), "" for 0
    redeem_points: int
    redeem_value_minor: int
    max_redeemable_points: int
    payable_minor: int
    points_earned: int
    birthday: bool  # in the member's birthday window
    line_count: int
    replayed: bool

    @classmethod
    def _from_c(cls, q: _native.Quote, lib) -> Quote:
        return cls(
            gross_minor=q.gross_minor,
            member_discount_minor=q.member_discount_minor,
            member_discount_reason=_enum_or_int(DiscountReason, q.member_discount_reason),
            member_discount_bp=q.member_discount_bp,
            coupon_discount_minor=q.coupon_discount_minor,
            coupon_rejected=_enum_or_int(CouponRefusal, q.coupon_rejected),
            coupon_refusal=_text(lib.loy_coupon_refusal_str(q.coupon_rejected) or b""),
            redeem_rejected=_enum_or_int(RedeemRefusal, q.redeem_rejected),
            redeem_refusal=_text(lib.loy_redeem_refusal_str(q.redeem_rejected) or b""),
            redeem_points=q.redeem_points,
            redeem_value_minor=q.redeem_value_minor,
            max_redeemable_points=q.max_redeemable_points,
            payable_minor=q.payable_minor,
            points_earned=q.points_earned,
            birthday=bool(q.birthday),
            line_count=q.line_count,
            replayed=bool(q.replayed),
        )


@dataclass(frozen=True)
class LineQuote:
    id: str
    member_discount_minor: int
    coupon_discount_minor: int
    redeem_value_minor: int
    net_minor: int
    points_earned: int  # the line's share of the points earned
    points_redeemed: int  # the line's share of the points redeemed

    @classmethod
    def _from_c(cls, q: _native.LineQuote) -> LineQuote:
        return cls(
            id=_text(q.id),
            member_discount_minor=q.member_discount_minor,
            coupon_discount_minor=q.coupon_discount_minor,
            redeem_value_minor=q.redeem_value_minor,
            net_minor=q.net_minor,
            points_earned=q.points_earned,
            points_redeemed=q.points_redeemed,
        )


@dataclass(frozen=True)
class RefundResult:
    amount_minor: int  # money back to the customer
    points_taken_back: int  # earned points the member loses
    points_given_back: int  # redeemed points the member gets back
    balance_after: int  # the member's available points after the refund
    negative_balance: bool  # the balance is below zero: no redemption until it is not
    replayed: bool  # the refund id was committed before: this is its first result

    @classmethod
    def _from_c(cls, r: _native.RefundResult) -> RefundResult:
        return cls(
            amount_minor=r.amount_minor,
            points_taken_back=r.points_taken_back,
            points_given_back=r.points_given_back,
            balance_after=r.balance_after,
            negative_balance=bool(r.negative_balance),
            replayed=bool(r.replayed),
        )


@dataclass(frozen=True)
class SyncResult:
    sent: int  # transactions sent from the outbox
    applied: int  # applied by headquarters in this sync
    duplicates: int  # headquarters had applied them already
    rejected: int  # rejected for good (kept in the outbox, never sent again)
    members: int  # member records received
    coupons: int  # coupon records received
    rules_updated: bool  # a new rule set was installed

    @classmethod
    def _from_c(cls, r: _native.SyncResult) -> SyncResult:
        return cls(
            sent=r.sent,
            applied=r.applied,
            duplicates=r.duplicates,
            rejected=r.rejected,
            members=r.members,
            coupons=r.coupons,
            rules_updated=bool(r.rules_updated),
        )


@dataclass(frozen=True)
class Status:
    outbox_depth: int  # committed sales, refunds and enrollments not yet synced
    oldest_unsynced_seconds: int  # -1 when there is none
    cache_version: int  # the changes cursor the cache has reached
    last_sync_unix: int  # -1 when never
    members: int  # members in the cache
    rules_version: str  # "" without a rule set
    currency: str  # ISO 4217, "" without a rule set
    minor_per_unit: int  # 0 without a rule set
    rejected: int  # transactions headquarters refused for good
    last_sync_error: str  # "" when the last sync succeeded or none ran
    held: int  # transactions headquarters holds, sent again at every sync
    rules_error: str  # why headquarters' current rule set could not be installed; "" when none

    @classmethod
    def _from_c(cls, s: _native.TillStatus) -> Status:
        return cls(
            outbox_depth=s.outbox_depth,
            oldest_unsynced_seconds=s.oldest_unsynced_seconds,
            cache_version=s.cache_version,
            last_sync_unix=s.last_sync_unix,
            members=s.members,
            rules_version=_text(s.rules_version),
            currency=_text(s.currency),
            minor_per_unit=s.minor_per_unit,
            rejected=s.rejected,
            last_sync_error=_text(s.last_sync_error),
            held=s.held,
            rules_error=_text(s.rules_error),
        )

    def format_money(self, minor: int) -> str:
        """`minor` units in the rule set's currency, e.g. "CNY 681.60" (integer arithmetic, no float)."""
        per_unit = self.minor_per_unit if self.minor_per_unit > 0 else 100
        digits = len(str(per_unit)) - 1
        if per_unit != 10**digits:  # not a decimal currency: the count of minor units as it is
            return f"{minor} minor units of {self.currency}"
        sign = "-" if minor < 0 else ""
        units, rest = divmod(abs(minor), per_unit)
        amount = f"{units}.{rest:0{digits}d}" if digits else f"{units}"
        return f"{self.currency} {sign}{amount}"
