// Till.java: a till of libloyalty (loy_till) for Java, over LoyaltyLibrary: thread-safe, as the library's
// till is; close() closes it, and a Cleaner closes a till the POS dropped without closing.
import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.function.BiConsumer;

public final class Till implements AutoCloseable {
  /** The library, loaded on first use (LoyaltyLibrary.load). */
  static final class Lib {
    static final LoyaltyLibrary LIB = LoyaltyLibrary.load();
  }

  static final Cleaner CLEANER = Cleaner.create();

  /** Units of one line of a sale to refund. */
  public record RefundLine(String lineId, long units) {}

  /** A new member's details; name and birthday ("MM-DD") may be null. */
  public record Enrollment(String phone, String name, String birthday, String consent) {
    LoyaltyLibrary.loy_enrollment toNative() {
      LoyaltyLibrary.loy_enrollment e = new LoyaltyLibrary.loy_enrollment();
      e.phone = memory(phone);
      e.name = memory(name);
      e.birthday = memory(birthday);
      e.consent = memory(consent);
      return e;
    }
  }

  private final NativeHandle handle;
  private final Cleaner.Cleanable cleanable;

  private Till(NativeHandle handle) {
    this.handle = handle;
    this.cleanable = CLEANER.register(this, handle);
  }

  /** Throws unless the Structures mirror the header and the loaded library is 1.x with x >= 2
   *  (loy_till_lookup_v2 and loy_prompt_info are 1.2's). */
  public static void checkAbi() {
    java.util.List<String> errors = LoyaltyLibrary.layoutErrors();
    if (!errors.isEmpty())
      throw new IllegalStateException("libloyalty binding does not mirror loyalty.h: " + String.join("; ", errors));
    int version = Lib.LIB.loy_version();
    if (version >>> 16 != LoyaltyLibrary.LOY_VERSION_MAJOR || ((version >>> 8) & 0xff) < LoyaltyLibrary.LOY_VERSION_MINOR)
      throw new IllegalStateException("libloyalty " + versionString(version) + " is loaded; this binding needs 1."
                                      + LoyaltyLibrary.LOY_VERSION_MINOR + " or a later 1.x");
  }

  public static int version() { return Lib.LIB.loy_version(); }

  public static String versionString(int version) {
    return (version >>> 16) + "." + ((version >>> 8) & 0xff) + "." + (version & 0xff);
  }

  public static String statusString(int status) { return string(Lib.LIB.loy_status_str(status)); }

  /** Opens the till of the configuration file at `configPath`. `log`, when not null, receives the messages
   *  at `logLevel` and above (0: info) on the thread of the call being logged; it must return quickly, and
   *  what it throws is dropped (it cannot cross C). */
  public static Till open(String configPath, BiConsumer<Integer, String> log, int logLevel) {
    checkAbi();
    LoyaltyLibrary.loy_log_fn callback = null;
    if (log != null) {
      callback = (level, message, userdata) -> {
        try {
          log.accept(level, string(message));
        } catch (Throwable e) {
          // Nothing may unwind into the library.
        }
      };
    }
    LoyaltyLibrary.loy_till_options options = new LoyaltyLibrary.loy_till_options();
    options.log = callback;
    options.log_level = logLevel;
    byte[] error = new byte[1024];
    PointerByReference out = new PointerByReference();
    int status = Lib.LIB.loy_till_open(text(configPath), options, out, error,
                                       new LoyaltyLibrary.SizeT(error.length));
    if (status != LoyaltyLibrary.LOY_OK) throw new LoyaltyException(status, "loy_till_open", string(error));
    // The handle holds the callback strongly until loy_till_close has returned: JNA's native stub of a
    // Callback is freed when the Java object is collected.
    return new Till(new NativeHandle("till", out.getValue(), Lib.LIB::loy_till_close, callback));
  }

  interface Call {
    int invoke(Pointer till);
  }

  /** Runs `call` on the handle, which cannot be closed meanwhile, and throws for a failed status with the
   *  till's last error (read on this thread, right after the call, as it must be). */
  void call(String function, Call call) {
    Pointer till = handle.acquire();
    try {
      int status = call.invoke(till);
      if (status != LoyaltyLibrary.LOY_OK)
        throw new LoyaltyException(status, function, string(Lib.LIB.loy_till_last_error(till)));
    } finally {
      handle.release();
    }
  }

  public void applyRules(String json) {
    byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
    call("loy_till_apply_rules", t -> Lib.LIB.loy_till_apply_rules(t, bytes, new LoyaltyLibrary.SizeT(bytes.length)));
  }

  public void applyChanges(String json) {
    byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
    call("loy_till_apply_changes", t -> Lib.LIB.loy_till_apply_changes(t, bytes, new LoyaltyLibrary.SizeT(bytes.length)));
  }

  public LoyaltyLibrary.loy_member_info lookup(String scanned) {
    LoyaltyLibrary.loy_member_info member = new LoyaltyLibrary.loy_member_info();
    call("loy_till_lookup", t -> Lib.LIB.loy_till_lookup(t, text(scanned), member));
    return member;
  }

  /** A member with every prompt (loy_member_info holds the first 8 only). */
  public record Member(LoyaltyLibrary.loy_member_info info, LoyaltyLibrary.loy_prompt_info[] prompts) {}

  public Member lookupWithPrompts(String scanned) {
    LoyaltyLibrary.loy_member_info member = new LoyaltyLibrary.loy_member_info();
    LoyaltyLibrary.loy_prompt_info[] prompts = readPrompts((array, size, capacity, count) -> {
      call("loy_till_lookup_v2", t -> Lib.LIB.loy_till_lookup_v2(t, text(scanned), member, array, size, capacity, count));
    });
    return new Member(member, prompts);
  }

  interface PromptFill {
    void fill(LoyaltyLibrary.loy_prompt_info[] array, LoyaltyLibrary.SizeT size, LoyaltyLibrary.SizeT capacity,
              LoyaltyLibrary.SizeTByReference count);
  }

  /** Every prompt, through an array that grows until it holds them all. */
  static LoyaltyLibrary.loy_prompt_info[] readPrompts(PromptFill fill) {
    int capacity = LoyaltyLibrary.LOY_MAX_PROMPTS;
    while (true) {
      LoyaltyLibrary.loy_prompt_info[] array =
          (LoyaltyLibrary.loy_prompt_info[]) new LoyaltyLibrary.loy_prompt_info().toArray(capacity);
      for (LoyaltyLibrary.loy_prompt_info p : array) p.struct_size = array[0].size();
      LoyaltyLibrary.SizeTByReference count = new LoyaltyLibrary.SizeTByReference();
      fill.fill(array, new LoyaltyLibrary.SizeT(array[0].size()), new LoyaltyLibrary.SizeT(capacity), count);
      long n = count.getValue();
      if (n <= capacity) return java.util.Arrays.copyOf(array, (int) n);
      capacity = Math.toIntExact(n);
    }
  }

  public LoyaltyLibrary.loy_till_status status() {
    LoyaltyLibrary.loy_till_status status = new LoyaltyLibrary.loy_till_status();
    call("loy_till_status_get", t -> Lib.LIB.loy_till_status_get(t, status));
    return status;
  }

  public LoyaltyLibrary.loy_sync_result sync() {
    LoyaltyLibrary.loy_sync_result result = new LoyaltyLibrary.loy_sync_result();
    call("loy_till_sync", t -> Lib.LIB.loy_till_sync(t, result));
    return result;
  }

  public LoyaltyCheckout beginCheckout() {
    PointerByReference out = new PointerByReference();
    call("loy_checkout_begin", t -> Lib.LIB.loy_checkout_begin(t, out));
    return new LoyaltyCheckout(this, new NativeHandle("checkout", out.getValue(), Lib.LIB::loy_checkout_free, null));
  }

  /** Refunds `items` of this till's sale `receiptId`; no items: all that is left of it. */
  public LoyaltyLibrary.loy_refund_result refund(String refundId, String receiptId, RefundLine... items) {
    return refundAt(refundId, null, receiptId, items);
  }

  /** loy_till_refund_at when `saleStoreId` is not null (a sale of any till), loy_till_refund when it is. */
  public LoyaltyLibrary.loy_refund_result refundAt(String refundId, String saleStoreId, String receiptId,
                                                   RefundLine... items) {
    LoyaltyLibrary.loy_refund_result result = new LoyaltyLibrary.loy_refund_result();
    LoyaltyLibrary.loy_refund_item[] array = null;
    if (items != null && items.length > 0) {
      array = (LoyaltyLibrary.loy_refund_item[]) new LoyaltyLibrary.loy_refund_item().toArray(items.length);
      for (int i = 0; i < items.length; i++) {
        array[i].struct_size = array[0].size();
        array[i].line_id = memory(items[i].lineId());
        array[i].units = items[i].units();
      }
    }
    LoyaltyLibrary.loy_refund_item[] nativeItems = array;
    LoyaltyLibrary.SizeT count = new LoyaltyLibrary.SizeT(nativeItems == null ? 0 : nativeItems.length);
    if (saleStoreId == null)
      call("loy_till_refund", t -> Lib.LIB.loy_till_refund(t, text(refundId), text(receiptId), nativeItems, count, result));
    else
      call("loy_till_refund_at", t -> Lib.LIB.loy_till_refund_at(t, text(refundId), text(saleStoreId), text(receiptId),
                                                                  nativeItems, count, result));
    return result;
  }

  public LoyaltyLibrary.loy_member_info enroll(Enrollment enrollment) {
    LoyaltyLibrary.loy_member_info member = new LoyaltyLibrary.loy_member_info();
    LoyaltyLibrary.loy_enrollment e = enrollment.toNative();
    call("loy_till_enroll", t -> Lib.LIB.loy_till_enroll(t, e, member));
    return member;
  }

  /** Closes the till once no call is using it. Checkouts still open answer LOY_E_STATE from then on;
   *  close them too. */
  @Override
  public void close() { cleanable.clean(); }

  // ---- strings at the boundary -------------------------------------------------------------------

  /** `s` as a NUL-terminated UTF-8 byte array for a `const char *` argument; null for null. A NUL inside `s`
   *  would silently cut it on the C side, and a lone surrogate would become '?': both are refused. */
  static byte[] text(String s) {
    if (s == null) return null;
    if (s.indexOf('\0') >= 0) throw new IllegalArgumentException("a string passed to libloyalty cannot contain NUL");
    ByteBuffer bytes;
    try {
      bytes = StandardCharsets.UTF_8.newEncoder().encode(CharBuffer.wrap(s));
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException("a string passed to libloyalty is not valid Unicode", e);
    }
    byte[] array = new byte[bytes.remaining() + 1]; // its last byte: the NUL
    bytes.get(array, 0, bytes.remaining());
    return array;
  }

  /** A NUL-terminated UTF-8 copy of `s` in native memory (freed when the Memory is collected), for the
   *  `const char *` fields of in structs; null for null. */
  static Memory memory(String s) {
    byte[] bytes = text(s);
    if (bytes == null) return null;
    Memory m = new Memory(bytes.length);
    m.write(0, bytes, 0, bytes.length);
    return m;
  }

  /** A NUL-terminated UTF-8 string the library owns; "" for NULL. */
  static String string(Pointer p) { return p == null ? "" : p.getString(0, "UTF-8"); }

  /** A fixed char buffer of an out struct, up to its NUL. */
  static String string(byte[] buffer) {
    int n = 0;
    while (n < buffer.length && buffer[n] != 0) n++;
    return new String(buffer, 0, n, StandardCharsets.UTF_8);
  }
}
