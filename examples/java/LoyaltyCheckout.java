// LoyaltyCheckout.java: a checkout of libloyalty (loy_checkout) for Java: one thread at a time. close()
// frees it, abandoning a sale that was not committed; a Cleaner frees a checkout dropped unclosed.
import com.sun.jna.Pointer;

public final class LoyaltyCheckout implements AutoCloseable {
  private final Till till; // keeps the till from being cleaned while the checkout is in use
  private final NativeHandle handle;
  private final java.lang.ref.Cleaner.Cleanable cleanable;

  LoyaltyCheckout(Till till, NativeHandle handle) {
    this.till = till;
    this.handle = handle;
    this.cleanable = Till.CLEANER.register(this, handle);
  }

  public Till till() { return till; }

  private interface Call {
    int invoke(Pointer checkout);
  }

  /** Runs `call` on the handle and throws for a failed status with the checkout's last error. */
  private void call(String function, Call call) {
    Pointer checkout = handle.acquire();
    try {
      int status = call.invoke(checkout);
      if (status != LoyaltyLibrary.LOY_OK)
        throw new LoyaltyException(status, function, Till.string(Till.Lib.LIB.loy_checkout_last_error(checkout)));
    } finally {
      handle.release();
    }
  }

  public void setTime(String iso8601) {
    call("loy_checkout_set_time", c -> Till.Lib.LIB.loy_checkout_set_time(c, Till.text(iso8601)));
  }

  public LoyaltyLibrary.loy_member_info identify(String scanned) {
    LoyaltyLibrary.loy_member_info member = new LoyaltyLibrary.loy_member_info();
    call("loy_checkout_identify", c -> Till.Lib.LIB.loy_checkout_identify(c, Till.text(scanned), member));
    return member;
  }

  public LoyaltyLibrary.loy_member_info enroll(Till.Enrollment enrollment) {
    LoyaltyLibrary.loy_member_info member = new LoyaltyLibrary.loy_member_info();
    LoyaltyLibrary.loy_enrollment e = enrollment.toNative();
    call("loy_checkout_enroll", c -> Till.Lib.LIB.loy_checkout_enroll(c, e, member));
    return member;
  }

  public LoyaltyLibrary.loy_prompt_info[] prompts() {
    return Till.readPrompts((array, size, capacity, count) ->
        call("loy_checkout_prompts", c -> Till.Lib.LIB.loy_checkout_prompts(c, array, size, capacity, count)));
  }

  public void addLine(String id, String sku, String category, long qty, long amountMinor) {
    LoyaltyLibrary.loy_line line = new LoyaltyLibrary.loy_line();
    line.id = Till.memory(id);
    line.sku = Till.memory(sku);
    line.category = Till.memory(category);
    line.qty = qty;
    line.amount_minor = amountMinor;
    call("loy_checkout_add_line", c -> Till.Lib.LIB.loy_checkout_add_line(c, line));
  }

  /** null removes the coupon. */
  public void setCoupon(String code) {
    call("loy_checkout_set_coupon", c -> Till.Lib.LIB.loy_checkout_set_coupon(c, Till.text(code)));
  }

  public void redeem(long points) {
    call("loy_checkout_redeem", c -> Till.Lib.LIB.loy_checkout_redeem(c, points));
  }

  public LoyaltyLibrary.loy_quote quote() {
    LoyaltyLibrary.loy_quote quote = new LoyaltyLibrary.loy_quote();
    call("loy_checkout_quote", c -> Till.Lib.LIB.loy_checkout_quote(c, quote));
    return quote;
  }

  public LoyaltyLibrary.loy_line_quote lineQuote(int index) {
    LoyaltyLibrary.loy_line_quote line = new LoyaltyLibrary.loy_line_quote();
    call("loy_checkout_line_quote", c -> Till.Lib.LIB.loy_checkout_line_quote(c, index, line));
    return line;
  }

  /** Commits the sale once payment is taken; returns the committed quote (replayed = 1 for a retry). */
  public LoyaltyLibrary.loy_quote commit(String receiptId) {
    LoyaltyLibrary.loy_quote quote = new LoyaltyLibrary.loy_quote();
    call("loy_checkout_commit", c -> Till.Lib.LIB.loy_checkout_commit(c, Till.text(receiptId), quote));
    return quote;
  }

  public static String couponRefusal(int code) { return Till.string(Till.Lib.LIB.loy_coupon_refusal_str(code)); }

  public static String redeemRefusal(int code) { return Till.string(Till.Lib.LIB.loy_redeem_refusal_str(code)); }

  @Override
  public void close() { cleanable.clean(); }
}
