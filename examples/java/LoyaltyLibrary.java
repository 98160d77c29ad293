// LoyaltyLibrary.java: a JNA binding of libloyalty's C interface (include/loyalty/loyalty.h, version 1.2)
// on x86-64 Linux: every function, and every struct field for field with the header's names.
//
// Strings cross as UTF-8 both ways, whatever the JVM's or JNA's default encoding: `const char *`
// arguments are NUL-terminated UTF-8 byte arrays (Till.text), not Strings, because JNA 5.13 encodes a
// String argument with its default encoding (jna.encoding, else the platform's) even when the library
// was loaded with OPTION_STRING_ENCODING "UTF-8"; returned `const char *` are Pointers decoded as UTF-8
// (Till.string); `const char *` fields of in structs are Pointers to Memory holding NUL-terminated
// UTF-8 (Till.memory), alive as long as the struct; fixed char buffers are byte arrays decoded up to
// their NUL. size_t is SizeT. The wrappers Till and LoyaltyCheckout are what a POS should use.
import com.sun.jna.Callback;
import com.sun.jna.IntegerType;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.ByReference;
import com.sun.jna.ptr.PointerByReference;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;

public interface LoyaltyLibrary extends Library {
  int LOY_VERSION_MAJOR = 1;
  int LOY_VERSION_MINOR = 2;
  int LOY_VERSION_PATCH = 0;

  int LOY_OK = 0;
  int LOY_E_INVALID_ARGUMENT = -1;
  int LOY_E_STRUCT_SIZE = -2;
  int LOY_E_UTF8 = -3;
  int LOY_E_NOT_FOUND = -4;
  int LOY_E_STATE = -5;
  int LOY_E_CONFIG = -6;
  int LOY_E_STORAGE = -7;
  int LOY_E_RULES = -8;
  int LOY_E_NO_RULES = -9;
  int LOY_E_DOCUMENT = -10;
  int LOY_E_CONFLICT = -11;
  int LOY_E_CONSENT = -12;
  int LOY_E_TOO_LARGE = -13;
  int LOY_E_NETWORK = -14;
  int LOY_E_INTERNAL = -99;

  int LOY_LOG_DEBUG = 10;
  int LOY_LOG_INFO = 20;
  int LOY_LOG_WARN = 30;
  int LOY_LOG_ERROR = 40;

  int LOY_PROMPT_BIRTHDAY_WINDOW = 1;
  int LOY_PROMPT_FIRST_PURCHASE = 2;
  int LOY_PROMPT_WINBACK = 3;
  int LOY_PROMPT_POINTS_EXPIRING = 4;
  int LOY_PROMPT_NEXT_TIER = 5;
  int LOY_PROMPT_NEGATIVE_BALANCE = 6;
  int LOY_PROMPT_OFFLINE = 7;
  int LOY_MAX_PROMPTS = 8;

  int LOY_REASON_NONE = 0;
  int LOY_REASON_TIER = 1;
  int LOY_REASON_FIRST_PURCHASE = 2;
  int LOY_REASON_WINBACK = 3;

  int LOY_COUPON_UNKNOWN = 1;
  int LOY_COUPON_USED = 2;
  int LOY_COUPON_NOT_YET_VALID = 3;
  int LOY_COUPON_EXPIRED = 4;
  int LOY_COUPON_MIN_SPEND_NOT_MET = 5;
  int LOY_COUPON_NOT_ALLOWED = 6;
  int LOY_COUPON_MEMBER_REQUIRED = 7;

  int LOY_REDEEM_NOT_MULTIPLE_OF_STEP = 1;
  int LOY_REDEEM_BELOW_MIN = 2;
  int LOY_REDEEM_INSUFFICIENT_POINTS = 3;
  int LOY_REDEEM_OFFLINE_LIMIT = 4;
  int LOY_REDEEM_EXCEEDS_MAX_SHARE = 5;
  int LOY_REDEEM_MEMBER_REQUIRED = 6;

  /** The library: the file LOYALTY_LIBRARY names (system property, else environment variable), else
   *  libloyalty.so.1 through the dynamic loader's search (the runtime package installs no unversioned
   *  libloyalty.so, and a libloyalty.so.2 would be another ABI). Loaded on first use. */
  static LoyaltyLibrary load() {
    String path = System.getProperty("LOYALTY_LIBRARY");
    if (path == null || path.isEmpty()) path = System.getenv("LOYALTY_LIBRARY");
    String name = path == null || path.isEmpty() ? "libloyalty.so.1" : path;
    return Native.load(name, LoyaltyLibrary.class);
  }

  /** loy_log_fn: `message` is valid during the call only. */
  interface loy_log_fn extends Callback {
    void invoke(int level, Pointer message, Pointer userdata);
  }

  /** size_t. */
  final class SizeT extends IntegerType {
    private static final long serialVersionUID = 1L;

    public SizeT() { this(0); }
    public SizeT(long value) { super(Native.SIZE_T_SIZE, value, true); }
  }

  /** size_t *. */
  final class SizeTByReference extends ByReference {
    public SizeTByReference() { super(Native.SIZE_T_SIZE); }
    public long getValue() {
      return Native.SIZE_T_SIZE == 8 ? getPointer().getLong(0) : getPointer().getInt(0) & 0xffffffffL;
    }
  }

  /** A struct of the header: offsets visible for the layout check. */
  abstract class LoyStructure extends Structure {
    int offsetOf(String field) { return fieldOffset(field); }
    List<String> fieldNames() { return getFieldOrder(); }
  }

  @Structure.FieldOrder({"struct_size", "log", "log_userdata", "log_level"})
  final class loy_till_options extends LoyStructure {
    public int struct_size;
    public loy_log_fn log;
    public Pointer log_userdata;
    public int log_level;
    public loy_till_options() { struct_size = size(); }
  }

  @Structure.FieldOrder({"code", "rate_bp", "days", "points", "spend_minor", "minutes", "date", "tier"})
  final class loy_prompt extends LoyStructure {
    public int code;
    public int rate_bp;
    public long days;
    public long points;
    public long spend_minor;
    public long minutes;
    public byte[] date = new byte[40];
    public byte[] tier = new byte[64];
  }

  @Structure.FieldOrder({"struct_size", "member_id", "masked_name", "tier_id", "tier_name", "confirmed_points",
                         "pending_points", "available_points", "prompt_count", "prompts"})
  final class loy_member_info extends LoyStructure {
    public int struct_size;
    public byte[] member_id = new byte[64];
    public byte[] masked_name = new byte[96];
    public byte[] tier_id = new byte[64];
    public byte[] tier_name = new byte[64];
    public long confirmed_points;
    public long pending_points;
    public long available_points;
    public int prompt_count; // uint32_t
    public loy_prompt[] prompts = new loy_prompt[LOY_MAX_PROMPTS];
    public loy_member_info() {
      for (int i = 0; i < prompts.length; i++) prompts[i] = new loy_prompt();
      struct_size = size();
    }
  }

  @Structure.FieldOrder({"struct_size", "code", "rate_bp", "reserved", "days", "points", "spend_minor", "minutes",
                         "date", "tier"})
  final class loy_prompt_info extends LoyStructure {
    public int struct_size;
    public int code;
    public int rate_bp;
    public int reserved;
    public long days;
    public long points;
    public long spend_minor;
    public long minutes;
    public byte[] date = new byte[40];
    public byte[] tier = new byte[64];
    public loy_prompt_info() { struct_size = size(); }
  }

  @Structure.FieldOrder({"struct_size", "outbox_depth", "oldest_unsynced_seconds", "cache_version", "last_sync_unix",
                         "members", "rules_version", "currency", "minor_per_unit", "rejected", "last_sync_error", "held",
                         "rules_error"})
  final class loy_till_status extends LoyStructure {
    public int struct_size;
    public long outbox_depth;
    public long oldest_unsynced_seconds;
    public long cache_version;
    public long last_sync_unix;
    public long members;
    public byte[] rules_version = new byte[64];
    public byte[] currency = new byte[8];
    public long minor_per_unit;
    // Since 1.1:
    public long rejected;
    public byte[] last_sync_error = new byte[256];
    // Since 1.2:
    public long held;
    public byte[] rules_error = new byte[256];
    public loy_till_status() { struct_size = size(); }
  }

  @Structure.FieldOrder({"struct_size", "sent", "applied", "duplicates", "rejected", "members", "coupons",
                         "rules_updated", "reserved"})
  final class loy_sync_result extends LoyStructure {
    public int struct_size;
    public long sent;
    public long applied;
    public long duplicates;
    public long rejected;
    public long members;
    public long coupons;
    public int rules_updated;
    public int reserved;
    public loy_sync_result() { struct_size = size(); }
  }

  @Structure.FieldOrder({"struct_size", "id", "sku", "category", "qty", "amount_minor"})
  final class loy_line extends LoyStructure {
    public int struct_size;
    public Pointer id;
    public Pointer sku;
    public Pointer category;
    public long qty;
    public long amount_minor;
    public loy_line() { struct_size = size(); }
  }

  @Structure.FieldOrder({"struct_size", "gross_minor", "member_discount_minor", "member_discount_reason",
                         "member_discount_bp", "coupon_discount_minor", "coupon_rejected", "redeem_rejected",
                         "redeem_points", "redeem_value_minor", "max_redeemable_points", "payable_minor",
                         "points_earned", "birthday", "line_count", "replayed", "reserved"})
  final class loy_quote extends LoyStructure {
    public int struct_size;
    public long gross_minor;
    public long member_discount_minor;
    public int member_discount_reason;
    public int member_discount_bp;
    public long coupon_discount_minor;
    public int coupon_rejected;
    public int redeem_rejected;
    public long redeem_points;
    public long redeem_value_minor;
    public long max_redeemable_points;
    public long payable_minor;
    public long points_earned;
    public int birthday;
    public int line_count; // uint32_t
    public int replayed;
    public int reserved;
    public loy_quote() { struct_size = size(); }
  }

  @Structure.FieldOrder({"struct_size", "id", "member_discount_minor", "coupon_discount_minor", "redeem_value_minor",
                         "net_minor", "points_earned", "points_redeemed"})
  final class loy_line_quote extends LoyStructure {
    public int struct_size;
    public byte[] id = new byte[64];
    public long member_discount_minor;
    public long coupon_discount_minor;
    public long redeem_value_minor;
    public long net_minor;
    public long points_earned;
    public long points_redeemed;
    public loy_line_quote() { struct_size = size(); }
  }

  @Structure.FieldOrder({"struct_size", "line_id", "units"})
  final class loy_refund_item extends LoyStructure {
    public int struct_size;
    public Pointer line_id;
    public long units;
    public loy_refund_item() { struct_size = size(); }
  }

  @Structure.FieldOrder({"struct_size", "amount_minor", "points_taken_back", "points_given_back", "balance_after",
                         "negative_balance", "replayed"})
  final class loy_refund_result extends LoyStructure {
    public int struct_size;
    public long amount_minor;
    public long points_taken_back;
    public long points_given_back;
    public long balance_after;
    public int negative_balance;
    public int replayed;
    public loy_refund_result() { struct_size = size(); }
  }

  @Structure.FieldOrder({"struct_size", "phone", "name", "birthday", "consent"})
  final class loy_enrollment extends LoyStructure {
    public int struct_size;
    public Pointer phone;
    public Pointer name;
    public Pointer birthday;
    public Pointer consent;
    public loy_enrollment() { struct_size = size(); }
  }

  int loy_version(); // uint32_t
  Pointer loy_status_str(int status);

  int loy_till_open(byte[] config_path, loy_till_options options, PointerByReference out, byte[] error,
                    SizeT error_size);
  void loy_till_close(Pointer till);
  Pointer loy_till_last_error(Pointer till);
  int loy_till_apply_rules(Pointer till, byte[] json, SizeT size);
  int loy_till_apply_changes(Pointer till, byte[] json, SizeT size);

  int loy_till_lookup(Pointer till, byte[] scanned, loy_member_info out);
  /** `prompts`: capacity elements made by Structure.toArray (contiguous), or null with capacity 0. */
  int loy_till_lookup_v2(Pointer till, byte[] scanned, loy_member_info out, loy_prompt_info[] prompts,
                         SizeT prompt_size, SizeT capacity, SizeTByReference prompt_count);

  int loy_till_status_get(Pointer till, loy_till_status out);
  int loy_till_sync(Pointer till, loy_sync_result out);

  int loy_checkout_begin(Pointer till, PointerByReference out);
  void loy_checkout_free(Pointer checkout);
  Pointer loy_checkout_last_error(Pointer checkout);
  int loy_checkout_set_time(Pointer checkout, byte[] iso8601);
  int loy_checkout_identify(Pointer checkout, byte[] scanned, loy_member_info out);
  int loy_checkout_prompts(Pointer checkout, loy_prompt_info[] prompts, SizeT prompt_size, SizeT capacity,
                           SizeTByReference prompt_count);
  int loy_checkout_add_line(Pointer checkout, loy_line line);
  int loy_checkout_set_coupon(Pointer checkout, byte[] code);
  int loy_checkout_redeem(Pointer checkout, long points);
  Pointer loy_coupon_refusal_str(int code);
  Pointer loy_redeem_refusal_str(int code);
  int loy_checkout_quote(Pointer checkout, loy_quote out);
  int loy_checkout_line_quote(Pointer checkout, int index, loy_line_quote out);
  int loy_checkout_commit(Pointer checkout, byte[] receipt_id, loy_quote out);

  /** `items`: elements made by Structure.toArray (contiguous), or null with count 0 (all that is left). */
  int loy_till_refund(Pointer till, byte[] refund_id, byte[] receipt_id, loy_refund_item[] items, SizeT count,
                      loy_refund_result out);
  int loy_till_refund_at(Pointer till, byte[] refund_id, byte[] sale_store_id, byte[] receipt_id,
                         loy_refund_item[] items, SizeT count, loy_refund_result out);
  int loy_till_enroll(Pointer till, loy_enrollment enrollment, loy_member_info out);
  int loy_checkout_enroll(Pointer checkout, loy_enrollment enrollment, loy_member_info out);

  /** Every struct of the header on x86-64 Linux: its sizeof, then each field as name:offsetof:sizeof
   *  (include/loyalty/loyalty.h 1.2, measured with a C compiler). */
  String[] LAYOUT = {
      "loy_till_options 32 struct_size:0:4 log:8:8 log_userdata:16:8 log_level:24:4",
      "loy_prompt 144 code:0:4 rate_bp:4:4 days:8:8 points:16:8 spend_minor:24:8 minutes:32:8 date:40:40 tier:80:64",
      "loy_member_info 1480 struct_size:0:4 member_id:4:64 masked_name:68:96 tier_id:164:64 tier_name:228:64 confirmed_points:296:8 pending_points:304:8 available_points:312:8 prompt_count:320:4 prompts:328:1152",
      "loy_prompt_info 152 struct_size:0:4 code:4:4 rate_bp:8:4 reserved:12:4 days:16:8 points:24:8 spend_minor:32:8 minutes:40:8 date:48:40 tier:88:64",
      "loy_till_status 656 struct_size:0:4 outbox_depth:8:8 oldest_unsynced_seconds:16:8 cache_version:24:8 last_sync_unix:32:8 members:40:8 rules_version:48:64 currency:112:8 minor_per_unit:120:8 rejected:128:8 last_sync_error:136:256 held:392:8 rules_error:400:256",
      "loy_sync_result 64 struct_size:0:4 sent:8:8 applied:16:8 duplicates:24:8 rejected:32:8 members:40:8 coupons:48:8 rules_updated:56:4 reserved:60:4",
      "loy_line 48 struct_size:0:4 id:8:8 sku:16:8 category:24:8 qty:32:8 amount_minor:40:8",
      "loy_quote 104 struct_size:0:4 gross_minor:8:8 member_discount_minor:16:8 member_discount_reason:24:4 member_discount_bp:28:4 coupon_discount_minor:32:8 coupon_rejected:40:4 redeem_rejected:44:4 redeem_points:48:8 redeem_value_minor:56:8 max_redeemable_points:64:8 payable_minor:72:8 points_earned:80:8 birthday:88:4 line_count:92:4 replayed:96:4 reserved:100:4",
      "loy_line_quote 120 struct_size:0:4 id:4:64 member_discount_minor:72:8 coupon_discount_minor:80:8 redeem_value_minor:88:8 net_minor:96:8 points_earned:104:8 points_redeemed:112:8",
      "loy_refund_item 24 struct_size:0:4 line_id:8:8 units:16:8",
      "loy_refund_result 48 struct_size:0:4 amount_minor:8:8 points_taken_back:16:8 points_given_back:24:8 balance_after:32:8 negative_balance:40:4 replayed:44:4",
      "loy_enrollment 40 struct_size:0:4 phone:8:8 name:16:8 birthday:24:8 consent:32:8",
  };

  /** The differences between these Structures and the header's structs; empty when they mirror it. A
   *  difference means a call would read or write the wrong bytes: nothing may run. */
  static List<String> layoutErrors() {
    List<String> errors = new ArrayList<>();
    for (String row : LAYOUT) {
      String[] parts = row.split(" ");
      LoyStructure s;
      try {
        s = (LoyStructure) Class.forName(LoyaltyLibrary.class.getName() + "$" + parts[0])
                .getDeclaredConstructor().newInstance();
      } catch (ReflectiveOperationException e) {
        errors.add("no Structure " + parts[0] + " (" + e + ")");
        continue;
      }
      if (s.size() != Integer.parseInt(parts[1])) errors.add("sizeof " + parts[0] + " is " + s.size() + ", not " + parts[1]);
      List<String> expected = new ArrayList<>();
      for (int i = 2; i < parts.length; i++) {
        String[] f = parts[i].split(":");
        expected.add(f[0]);
        int offset = s.offsetOf(f[0]);
        if (offset != Integer.parseInt(f[1])) errors.add(parts[0] + "." + f[0] + " is at " + offset + ", not " + f[1]);
        int size = fieldSize(s, f[0]);
        if (size != Integer.parseInt(f[2])) errors.add(parts[0] + "." + f[0] + " is " + size + " bytes, not " + f[2]);
      }
      if (!expected.equals(s.fieldNames())) errors.add(parts[0] + " has fields " + s.fieldNames() + ", not " + expected);
      int declared = 0;
      for (Field f : s.getClass().getDeclaredFields())
        if (!Modifier.isStatic(f.getModifiers())) declared++;
      if (declared != expected.size()) errors.add(parts[0] + " declares " + declared + " fields, not " + expected.size());
    }
    return errors;
  }

  private static int fieldSize(Structure s, String name) {
    try {
      Field field = s.getClass().getField(name);
      Class<?> type = field.getType();
      Object value = field.get(s);
      if (type == byte[].class) return ((byte[]) value).length;
      if (type.isArray() && Structure.class.isAssignableFrom(type.getComponentType())) {
        Structure[] array = (Structure[]) value;
        return array.length == 0 ? 0 : array.length * array[0].size();
      }
      if (type == int.class) return 4;
      if (type == long.class) return 8;
      if (Pointer.class.isAssignableFrom(type) || Callback.class.isAssignableFrom(type)) return Native.POINTER_SIZE;
      return -1;
    } catch (ReflectiveOperationException e) {
      return -1;
    }
  }
}
