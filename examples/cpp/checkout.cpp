// checkout.cpp: the flow of examples/c/checkout.c through loyalty.hpp, the C++ wrapper.
//
// Usage: checkout CONFIG_PATH   (the till's JSON configuration, docs/configuration.md)
//
// Opens the till, syncs with headquarters, looks members up, sells to a member with a redemption,
// commits the same receipt again as a POS does when it never saw the answer, refunds part of the sale,
// enrolls a new customer at the till and syncs again. A failure is a loyalty::Error; the ones a POS
// handles are caught where they happen (NotFound: no member, sell without one; Network: offline, the
// sales wait in the outbox; Conflict on commit: quote again), any other ends the run. Prints the same
// lines as the C example; exits 0 only when every step went as expected. Money is in minor units.
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "loyalty/loyalty.hpp"

namespace {

// A line of the basket, as the POS holds it.
struct Line {
  const char* id;
  const char* sku;
  const char* category;
  std::int64_t qty;
  std::int64_t amount_minor;
};

// The coat and scarf sale of steps 5 and 7: the retry must present the very same sale.
const std::vector<Line> coat_and_scarf = {
    {"1", "COAT-01", "apparel", 1, 59900},
    {"2", "SCARF-07", "accessories", 1, 12900},
};
const std::vector<Line> first_tee = {{"1", "TEE-3", "apparel", 1, 9900}};
constexpr std::int64_t redeem_points = 1000;  // points the member pays with in that sale

// Thrown when a step did not go as this run expects, though no call failed.
struct Unexpected {
  std::string what;
};

void print_prompt(const loyalty::Prompt& p) {
  std::cout << "  prompt " << p.code;
  switch (p.code) {
    case LOY_PROMPT_BIRTHDAY_WINDOW: std::cout << " birthday window"; break;
    case LOY_PROMPT_FIRST_PURCHASE: std::cout << " first purchase: " << p.rate_bp << " bp off"; break;
    case LOY_PROMPT_WINBACK: std::cout << " win-back after " << p.days << " days: " << p.rate_bp << " bp off"; break;
    case LOY_PROMPT_POINTS_EXPIRING: std::cout << " " << p.points << " points expire on " << p.date; break;
    case LOY_PROMPT_NEXT_TIER: std::cout << " " << p.spend_minor << " more to reach " << p.tier; break;
    case LOY_PROMPT_NEGATIVE_BALANCE: std::cout << " negative balance " << p.points << ": no redemption"; break;
    case LOY_PROMPT_OFFLINE:
      if (p.minutes < 0)
        std::cout << " offline: never synced";
      else
        std::cout << " offline for " << p.minutes << " minutes";
      break;
    default: break;  // a code from a newer library: its number is all this POS can show
  }
  std::cout << "\n";
}

void print_member(const char* label, const loyalty::Member& m) {
  std::cout << label << " " << m.member_id << " (" << m.masked_name << "), " << m.tier_name << ", "
            << m.available_points << " points, " << m.prompts.size() << " prompts\n";
  for (const loyalty::Prompt& p : m.prompts) print_prompt(p);
}

const char* reason_text(std::int32_t reason) {
  switch (reason) {
    case LOY_REASON_NONE: return "no member discount";
    case LOY_REASON_TIER: return "tier discount";
    case LOY_REASON_FIRST_PURCHASE: return "first purchase";
    case LOY_REASON_WINBACK: return "win-back";
    default: return "member discount";
  }
}

// Steps 2 and 10. Network is the till offline: it goes on selling, and its sales wait in the outbox
// for the next sync. Returns whether the sync succeeded.
bool sync_now(loyalty::Till& till) {
  try {
    const loyalty::SyncResult r = till.sync();
    std::cout << "synced: " << r.sent << " sent, " << r.applied << " applied, " << r.members << " members\n";
    if (r.rejected > 0) std::cout << "  " << r.rejected << " refused for good by headquarters (kept in the outbox)\n";
    return true;
  } catch (const loyalty::Network& e) {
    std::cout << "offline, the sales wait in the outbox: " << e.detail() << "\n";
    return false;
  }
}

void add_lines(loyalty::Checkout& checkout, const std::vector<Line>& lines) {
  for (const Line& l : lines) checkout.add_line(l.id, l.sku, l.category, l.qty, l.amount_minor);
}

void print_quote(const loyalty::Checkout& checkout, const loyalty::Quote& q) {
  std::cout << "quote: gross " << q.gross_minor << ", member discount " << q.member_discount_minor
            << ", points redeemed " << q.redeem_points << " (value " << q.redeem_value_minor << "), payable "
            << q.payable_minor << ", earns " << q.points_earned << "\n";
  if (q.redeem_rejected != 0) std::cout << "  redemption refused: " << loy_redeem_refusal_str(q.redeem_rejected) << "\n";
  if (q.coupon_rejected != 0) std::cout << "  coupon refused: " << loy_coupon_refusal_str(q.coupon_rejected) << "\n";
  for (const loyalty::LineQuote& l : checkout.lines())
    std::cout << "  line " << l.id << ": net " << l.net_minor << ", member discount " << l.member_discount_minor
              << ", points redeemed " << l.points_redeemed << " (value " << l.redeem_value_minor << "), earns "
              << l.points_earned << "\n";
}

// Commits once payment is taken. Conflict after a quote: the sale would now be priced otherwise
// (another checkout spent the points or the coupon meanwhile), so the POS quotes again, settles the
// difference and commits again. A second Conflict is the receipt id used for another sale, which no
// quote mends: it goes to the caller.
loyalty::Quote commit(loyalty::Checkout& checkout, const char* receipt_id) {
  try {
    return checkout.commit(receipt_id);
  } catch (const loyalty::Conflict& e) {
    std::cout << "priced otherwise now, quote again: " << e.detail() << "\n";
  }
  print_quote(checkout, checkout.quote());
  // ... the cashier settles the difference ...
  return checkout.commit(receipt_id);
}

// The coat and scarf sale of M-1001 (steps 5 and 7): identify, lines, redemption.
loyalty::Checkout begin_member_sale(loyalty::Till& till) {
  loyalty::Checkout checkout = till.begin();
  const std::optional<loyalty::Member> member = checkout.identify("13800138000");
  if (!member) throw Unexpected{"13800138000 is no member's: the sale would go on without one"};
  print_member("identified", *member);
  add_lines(checkout, coat_and_scarf);
  checkout.redeem(redeem_points);
  return checkout;
}

// Steps 5 and 6.
loyalty::Quote sell(loyalty::Till& till) {
  loyalty::Checkout checkout = begin_member_sale(till);
  const loyalty::Quote q = checkout.quote();
  print_quote(checkout, q);
  if (q.redeem_rejected != 0) throw Unexpected{"the member has the points: the redemption should pass"};
  // ... the customer pays q.payable_minor ...
  const loyalty::Quote committed = commit(checkout, "R-CPP-0001");
  std::cout << "committed R-CPP-0001: payable " << committed.payable_minor << ", earned " << committed.points_earned
            << "\n";
  if (committed.replayed) throw Unexpected{"R-CPP-0001 was committed before this run"};
  return committed;
}

// Step 7: the POS never saw the commit's answer (a crash, a timeout) and commits the same receipt
// again: the first result comes back, replayed, and there is no second sale.
void retry_commit(loyalty::Till& till, const loyalty::Quote& first) {
  loyalty::Checkout checkout = begin_member_sale(till);
  const loyalty::Quote again = commit(checkout, "R-CPP-0001");
  if (!again.replayed || again.payable_minor != first.payable_minor)
    throw Unexpected{"retry of R-CPP-0001: not replayed, a second sale?"};
  std::cout << "retry of R-CPP-0001: replayed, no second sale\n";
}

// Step 8: the customer brings the scarf back.
void refund_scarf(loyalty::Till& till) {
  loyalty::RefundResult r;
  try {
    r = till.refund("F-CPP-0001", "R-CPP-0001", {{"2", 1}});
  } catch (const loyalty::Error& e) {
    if (e.status() != LOY_E_STATE) throw;
    std::cout << "nothing of that line left to refund: " << e.detail() << "\n";
    throw Unexpected{"the scarf was not refunded before"};
  }
  std::cout << "refunded F-CPP-0001: " << r.amount_minor << " back, " << r.points_taken_back << " points taken back, "
            << r.points_given_back << " given back\n";
  if (r.negative_balance) std::cout << "  balance " << r.balance_after << ": no redemption until it is positive\n";
}

// Step 9: a new customer enrolls at the till and buys at once, with the first-purchase offer. A phone
// that is already a member's (Conflict) is identified instead.
void enroll_and_sell(loyalty::Till& till) {
  loyalty::Checkout checkout = till.begin();
  loyalty::Enrollment e;
  e.phone = "13712345678";
  e.name = "Zhao Lei";
  e.birthday = "03-15";
  e.consent = "consent form v2 signed at till T01";
  std::optional<loyalty::Member> member;
  try {
    member = checkout.enroll(e);
  } catch (const loyalty::Conflict& c) {
    std::cout << "already a member, identified instead: " << c.detail() << "\n";
    member = checkout.identify(e.phone);
    if (!member) throw;
  }
  add_lines(checkout, first_tee);
  checkout.quote();
  const loyalty::Quote committed = commit(checkout, "R-CPP-0002");
  std::cout << "enrolled " << member->member_id << ": " << reason_text(committed.member_discount_reason)
            << ", payable " << committed.payable_minor << "\n";
  if (committed.member_discount_reason != LOY_REASON_FIRST_PURCHASE)
    throw Unexpected{"a new member's first purchase gets the first-purchase offer"};
}

// Step 10: after a successful sync headquarters has everything: the outbox is empty.
void check_status(loyalty::Till& till) {
  const loyalty::Status st = till.status();
  std::cout << "status: outbox " << st.outbox_depth << ", members " << st.members << ", rules " << st.rules_version
            << "\n";
  if (st.outbox_depth != 0)
    throw Unexpected{"outbox not empty after a sync: " + std::to_string(st.held) + " held, " +
                     std::to_string(st.rejected) + " rejected, last sync error \"" + st.last_sync_error + "\""};
}

bool run(const char* config_path) {
  // 1. Open the till, with the library's warnings and errors on stderr.
  loyalty::TillOptions options;
  options.log_level = LOY_LOG_WARN;
  options.log = [](std::int32_t level, std::string_view message) {
    std::cerr << "libloyalty " << (level >= LOY_LOG_ERROR ? "error" : "warning") << ": " << message << "\n";
  };
  loyalty::Till till = loyalty::Till::open(config_path, std::move(options));
  const loyalty::Version v = loyalty::version();
  std::cout << "opened: libloyalty " << v.major << "." << v.minor << "." << v.patch << "\n";

  // 2. Rules and members come down. Offline, a till that synced before sells on its cache; this
  //    one has never synced, so the lookups below would find no rules.
  if (!sync_now(till)) return false;
  // 3. A member's card.
  if (const std::optional<loyalty::Member> m = till.lookup("LC-0001-2345")) {
    print_member("member", *m);
  } else {
    std::cout << "not a member: LC-0001-2345\n";
    return false;
  }
  // 4. A phone that is no member's: the sale goes on without one.
  try {
    print_member("member", till.member("13700000000"));
    return false;
  } catch (const loyalty::NotFound& e) {
    std::cout << "not a member: " << e.detail() << "\n";
  }
  // 5, 6. Sell to the member, redeeming points; 7. commit the same receipt again.
  retry_commit(till, sell(till));
  // 8. Refund the scarf.
  refund_scarf(till);
  // 9. Enroll a new customer with a first purchase.
  enroll_and_sell(till);
  // 10. Send it all to headquarters.
  if (!sync_now(till)) return false;
  check_status(till);
  return true;
}  // 11. The checkouts closed at the end of their steps, the till here.

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " CONFIG_PATH\n";
    return 2;
  }
  // A library of another major, or older than this header, does not know its structs' sizes.
  const loyalty::Version v = loyalty::version();
  if (v.major != LOY_VERSION_MAJOR || v.minor < LOY_VERSION_MINOR) {
    std::cerr << "libloyalty " << v.major << "." << v.minor << "." << v.patch << " is loaded; this program needs "
              << LOY_VERSION_MAJOR << "." << LOY_VERSION_MINOR << " or a later " << LOY_VERSION_MAJOR << ".x\n";
    return 1;
  }
  bool ok = false;
  try {
    ok = run(argv[1]);
  } catch (const loyalty::Error& e) {
    std::cerr << e.what() << "\n";
  } catch (const Unexpected& e) {
    std::cerr << "unexpected: " << e.what << "\n";
  }
  std::cout << (ok ? "done" : "failed") << "\n";
  return ok ? 0 : 1;
}
