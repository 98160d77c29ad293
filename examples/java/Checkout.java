// Checkout.java: a POS's checkout flow through libloyalty from Java (JNA: LoyaltyLibrary, Till,
// LoyaltyCheckout), one printed line a step.
// Usage: java -cp jna.jar:CLASSES Checkout TILL_CONFIG (LOYALTY_LIBRARY may name the library file)
// Exits 0 only when every step went as expected; a failed call prints its loy_status_str and the
// handle's last error.
public final class Checkout {
  private static final String CARD = "LC-0001-2345";
  private static final String PHONE = "13800138000";
  private static final String STRANGER = "13700000000";
  private static final String RECEIPT = "R-JAVA-0001";
  private static final String REFUND = "F-JAVA-0001";
  private static final String ENROLL_RECEIPT = "R-JAVA-0002";

  private static final class UnexpectedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UnexpectedException(String message) { super(message); }
  }

  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: java Checkout TILL_CONFIG");
      System.exit(2);
    }
    int code = 1;
    try {
      Till.checkAbi(); // before anything: a binding that does not mirror the header must not run
      run(args[0]);
      System.out.println("done");
      code = 0;
    } catch (LoyaltyException e) {
      System.err.println("failed: " + e.getMessage());
    } catch (UnexpectedException e) {
      System.err.println("unexpected: " + e.getMessage());
    } catch (IllegalStateException | UnsatisfiedLinkError e) {
      System.err.println("cannot use libloyalty: " + e.getMessage());
    }
    System.out.flush();
    System.exit(code);
  }

  private static void expect(boolean condition, String what) {
    if (!condition) throw new UnexpectedException(what);
  }

  private static void log(int level, String message) {
    String name = level >= LoyaltyLibrary.LOY_LOG_ERROR ? "error" : level >= LoyaltyLibrary.LOY_LOG_WARN ? "warning" : "info";
    System.err.println("loyalty " + name + ": " + message);
  }

  private static String promptName(int code) {
    String[] names = {"", "birthday_window", "first_purchase", "winback", "points_expiring", "next_tier",
                      "negative_balance", "offline"};
    return code > 0 && code < names.length ? names[code] : "prompt_" + code;
  }

  private static String percent(int bp) {
    return bp % 100 == 0 ? (bp / 100) + "%" : String.format("%d.%02d%%", bp / 100, bp % 100);
  }

  /** A prompt as the cashier would read it (a POS words it in its own language), amounts in minor units. */
  private static String describe(LoyaltyLibrary.loy_prompt_info p) {
    String figures = switch (p.code) {
      case LoyaltyLibrary.LOY_PROMPT_BIRTHDAY_WINDOW -> "birthday window: more points today";
      case LoyaltyLibrary.LOY_PROMPT_FIRST_PURCHASE -> percent(p.rate_bp) + " off a first purchase";
      case LoyaltyLibrary.LOY_PROMPT_WINBACK -> "back after " + p.days + " days: " + percent(p.rate_bp) + " off";
      case LoyaltyLibrary.LOY_PROMPT_POINTS_EXPIRING -> p.points + " points expire on " + Till.string(p.date);
      case LoyaltyLibrary.LOY_PROMPT_NEXT_TIER -> p.spend_minor + " more to reach " + Till.string(p.tier);
      case LoyaltyLibrary.LOY_PROMPT_NEGATIVE_BALANCE -> "balance " + p.points + " points: no redemption";
      case LoyaltyLibrary.LOY_PROMPT_OFFLINE -> p.minutes < 0 ? "never synced" : "offline for " + p.minutes + " minutes";
      default -> "no wording for it yet";
    };
    return p.code + " (" + promptName(p.code) + "): " + figures;
  }

  /** The sale of steps 5 and 7: the same member, lines and points each time. */
  private static LoyaltyCheckout coatAndScarf(Till till) {
    LoyaltyCheckout checkout = till.beginCheckout();
    try {
      checkout.identify(PHONE);
      checkout.addLine("1", "COAT-01", "apparel", 1, 59900);
      checkout.addLine("2", "SCARF-07", "accessories", 1, 12900);
      checkout.redeem(1000);
      return checkout;
    } catch (RuntimeException e) {
      checkout.close();
      throw e;
    }
  }

  private static void run(String config) {
    // 1. Open the till; warnings and errors go to stderr.
    try (Till till = Till.open(config, Checkout::log, LoyaltyLibrary.LOY_LOG_WARN)) {
      System.out.println("opened: libloyalty " + Till.versionString(Till.version()));

      // 2. Members, coupons and rules from headquarters.
      LoyaltyLibrary.loy_sync_result sync = till.sync();
      System.out.printf("synced: %d sent, %d applied, %d members%n", sync.sent, sync.applied, sync.members);

      // 3. A card scanned: the member with every prompt.
      Till.Member found = till.lookupWithPrompts(CARD);
      LoyaltyLibrary.loy_member_info member = found.info();
      String memberId = Till.string(member.member_id);
      expect(memberId.equals("M-1001"), "card " + CARD + " is member " + memberId + ", not M-1001");
      System.out.printf("member %s (%s), %s, %d points, %d prompts%n", memberId, Till.string(member.masked_name),
                        Till.string(member.tier_name), member.available_points, found.prompts().length);
      for (LoyaltyLibrary.loy_prompt_info prompt : found.prompts())
        System.out.println("  prompt " + describe(prompt));

      // 4. A phone that is no member's.
      try {
        till.lookup(STRANGER);
        throw new UnexpectedException(STRANGER + " was found as a member");
      } catch (LoyaltyException e) {
        if (e.status() != LoyaltyLibrary.LOY_E_NOT_FOUND) throw e;
        System.out.println("not a member: " + e.detail());
      }

      // 5. The sale, quoted.
      LoyaltyLibrary.loy_quote committed;
      try (LoyaltyCheckout checkout = coatAndScarf(till)) {
        LoyaltyLibrary.loy_quote quote = checkout.quote();
        expect(quote.redeem_rejected == 0,
               "redeeming 1000 points was refused: " + LoyaltyCheckout.redeemRefusal(quote.redeem_rejected));
        System.out.printf("quote: gross %d, member discount %d, points redeemed %d (value %d), payable %d, earns %d%n",
                          quote.gross_minor, quote.member_discount_minor, quote.redeem_points, quote.redeem_value_minor,
                          quote.payable_minor, quote.points_earned);

        // 6. Paid: committed.
        committed = checkout.commit(RECEIPT);
        expect(committed.replayed == 0, RECEIPT + " was committed before this run");
        expect(committed.payable_minor == quote.payable_minor, "the commit's payable differs from the quote's");
        System.out.printf("committed %s: payable %d, earned %d%n", RECEIPT, committed.payable_minor, committed.points_earned);
      }

      // 7. The POS did not see the answer and commits the same sale again.
      try (LoyaltyCheckout retry = coatAndScarf(till)) {
        LoyaltyLibrary.loy_quote again = retry.commit(RECEIPT);
        expect(again.replayed == 1, "the retry of " + RECEIPT + " was not a replay");
        expect(again.payable_minor == committed.payable_minor && again.points_earned == committed.points_earned,
               "the retry of " + RECEIPT + " answered other figures than the sale");
        System.out.printf("retry of %s: replayed, no second sale%n", RECEIPT);
      }

      // 8. The scarf comes back.
      LoyaltyLibrary.loy_refund_result refund = till.refund(REFUND, RECEIPT, new Till.RefundLine("2", 1));
      expect(refund.replayed == 0, REFUND + " was committed before this run");
      System.out.printf("refunded %s: %d back, %d points taken back, %d given back%n", REFUND, refund.amount_minor,
                        refund.points_taken_back, refund.points_given_back);

      // 9. A new customer joins at the till and buys at once.
      try (LoyaltyCheckout checkout = till.beginCheckout()) {
        LoyaltyLibrary.loy_member_info joined = checkout.enroll(
            new Till.Enrollment("13712345678", "Zhao Lei", "03-15", "consent form v2 signed at till T01"));
        checkout.addLine("1", "TEE-3", "apparel", 1, 9900);
        LoyaltyLibrary.loy_quote quote = checkout.quote();
        expect(quote.member_discount_reason == LoyaltyLibrary.LOY_REASON_FIRST_PURCHASE,
               "the new member's discount is not the first purchase's (reason " + quote.member_discount_reason + ")");
        LoyaltyLibrary.loy_quote sale = checkout.commit(ENROLL_RECEIPT);
        expect(sale.payable_minor == quote.payable_minor, "the commit's payable differs from the quote's");
        System.out.printf("enrolled %s: first purchase, payable %d%n", Till.string(joined.member_id), sale.payable_minor);
      }

      // 10. Everything to headquarters.
      till.sync();
      LoyaltyLibrary.loy_till_status status = till.status();
      expect(status.outbox_depth == 0, status.outbox_depth + " transactions left in the outbox (last sync error: \""
                                           + Till.string(status.last_sync_error) + "\")");
      System.out.printf("status: outbox %d, members %d, rules %s%n", status.outbox_depth, status.members,
                        Till.string(status.rules_version));
    }
  }
}
