// Loyalty.cs: a small C# binding of libloyalty's C interface (include/loyalty/loyalty.h, version 1.2)
// for Mono and .NET on x86-64 Linux.
//
// Three layers: Native mirrors the header exactly (every function, every struct, field for field, with
// the header's names); Till and Checkout own the handles (SafeHandles, so that a handle is closed once,
// never while a call is using it, and by the finalizer if the POS forgot); LoyaltyException carries
// the status of a failed call with loy_status_str and the handle's last error.
//
// Strings cross as UTF-8 both ways, never in the runtime's default ANSI encoding: arguments are encoded
// here into NUL-terminated byte arrays, string pointers inside structs point to unmanaged copies freed
// after the call, and the fixed char buffers of out structs are byte arrays decoded up to their NUL.
using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Loyalty
{
    // loy_status codes (LOY_OK, LOY_E_*).
    public static class Status
    {
        public const int Ok = 0;
        public const int InvalidArgument = -1;
        public const int StructSize = -2;
        public const int Utf8 = -3;
        public const int NotFound = -4;
        public const int State = -5;
        public const int Config = -6;
        public const int Storage = -7;
        public const int Rules = -8;
        public const int NoRules = -9;
        public const int Document = -10;
        public const int Conflict = -11;
        public const int Consent = -12;
        public const int TooLarge = -13;
        public const int Network = -14;
        public const int Internal = -99;
    }

    // LOY_LOG_* levels.
    public static class LogLevel
    {
        public const int Debug = 10;
        public const int Info = 20;
        public const int Warn = 30;
        public const int Error = 40;

        public static string Name(int level)
        {
            if (level >= Error) return "error";
            if (level >= Warn) return "warning";
            if (level >= Info) return "info";
            return "debug";
        }
    }

    // LOY_PROMPT_* codes.
    public static class PromptCode
    {
        public const int BirthdayWindow = 1;
        public const int FirstPurchase = 2;
        public const int Winback = 3;
        public const int PointsExpiring = 4;
        public const int NextTier = 5;
        public const int NegativeBalance = 6;
        public const int Offline = 7;

        static readonly string[] names =
            { "", "birthday_window", "first_purchase", "winback", "points_expiring", "next_tier", "negative_balance", "offline" };

        public static string Name(int code)
        {
            return code > 0 && code < names.Length ? names[code] : "prompt_" + code;
        }
    }

    // LOY_REASON_* codes of loy_quote.member_discount_reason.
    public static class DiscountReason
    {
        public const int None = 0;
        public const int Tier = 1;
        public const int FirstPurchase = 2;
        public const int Winback = 3;
    }

    // A failed call: its loy_status, loy_status_str of it, and the handle's last error.
    public sealed class LoyaltyException : Exception
    {
        public int Status { get; private set; }
        public string Function { get; private set; }
        public string Detail { get; private set; }

        public LoyaltyException(int status, string function, string detail)
            : base(function + ": " + Native.StatusString(status) + " (" + status + ")" + (detail.Length > 0 ? ": " + detail : ""))
        {
            Status = status;
            Function = function;
            Detail = detail;
        }
    }

    // UTF-8 conversions at the boundary.
    public static class Utf8
    {
        // Strict: a string with a lone surrogate is an error here, not a '?' sent to the till.
        static readonly UTF8Encoding strict = new UTF8Encoding(false, true);

        // A NUL-terminated UTF-8 copy of `s`, or null for null. A NUL inside `s` would silently cut the
        // string on the C side, so it is refused.
        public static byte[] Encode(string s)
        {
            if (s == null) return null;
            if (s.IndexOf('\0') >= 0) throw new ArgumentException("a string passed to libloyalty cannot contain NUL");
            var bytes = new byte[strict.GetByteCount(s) + 1];
            strict.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }

        // A NUL-terminated UTF-8 string the library owns; "" for NULL.
        public static string FromPointer(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }

        // A fixed char buffer of an out struct, up to its NUL.
        public static string FromBuffer(byte[] buffer)
        {
            if (buffer == null) return "";
            int n = Array.IndexOf(buffer, (byte)0);
            return Encoding.UTF8.GetString(buffer, 0, n < 0 ? buffer.Length : n);
        }
    }

    // Unmanaged NUL-terminated UTF-8 copies for the `const char *` fields of in structs (loy_line,
    // loy_enrollment, loy_refund_item): alive until Dispose, after the call that reads them.
    sealed class NativeStrings : IDisposable
    {
        readonly List<IntPtr> blocks = new List<IntPtr>();

        public IntPtr Add(string s)
        {
            byte[] bytes = Utf8.Encode(s);
            if (bytes == null) return IntPtr.Zero;
            IntPtr p = Marshal.AllocHGlobal(bytes.Length);
            blocks.Add(p);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            return p;
        }

        public void Dispose()
        {
            foreach (IntPtr p in blocks) Marshal.FreeHGlobal(p);
            blocks.Clear();
        }
    }

    // loy_log_fn: `message` is valid during the call only.
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void LogFn(int level, IntPtr message, IntPtr userdata);

    // The header's structs, field for field (x86-64: natural alignment, as LayoutKind.Sequential gives).
    // Out structs are created by their New(), which sets struct_size and allocates the char buffers.

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_till_options
    {
        public uint struct_size;
        public IntPtr log; // a LogFn, through Marshal.GetFunctionPointerForDelegate
        public IntPtr log_userdata;
        public int log_level;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_prompt
    {
        public int code;
        public int rate_bp;
        public long days;
        public long points;
        public long spend_minor;
        public long minutes;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 40)] public byte[] date;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 64)] public byte[] tier;

        public static loy_prompt New()
        {
            return new loy_prompt { date = new byte[40], tier = new byte[64] };
        }

        public string Date { get { return Utf8.FromBuffer(date); } }
        public string Tier { get { return Utf8.FromBuffer(tier); } }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_member_info
    {
        public uint struct_size;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 64)] public byte[] member_id;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 96)] public byte[] masked_name;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 64)] public byte[] tier_id;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 64)] public byte[] tier_name;
        public long confirmed_points;
        public long pending_points;
        public long available_points;
        public uint prompt_count;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = Native.LOY_MAX_PROMPTS)] public loy_prompt[] prompts;

        public static loy_member_info New()
        {
            var m = new loy_member_info
            {
                struct_size = (uint)Marshal.SizeOf(typeof(loy_member_info)),
                member_id = new byte[64],
                masked_name = new byte[96],
                tier_id = new byte[64],
                tier_name = new byte[64],
                prompts = new loy_prompt[Native.LOY_MAX_PROMPTS],
            };
            for (int i = 0; i < m.prompts.Length; i++) m.prompts[i] = loy_prompt.New();
            return m;
        }

        public string MemberId { get { return Utf8.FromBuffer(member_id); } }
        public string MaskedName { get { return Utf8.FromBuffer(masked_name); } }
        public string TierId { get { return Utf8.FromBuffer(tier_id); } }
        public string TierName { get { return Utf8.FromBuffer(tier_name); } }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_prompt_info
    {
        public uint struct_size;
        public int code;
        public int rate_bp;
        public int reserved;
        public long days;
        public long points;
        public long spend_minor;
        public long minutes;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 40)] public byte[] date;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 64)] public byte[] tier;

        public string Date { get { return Utf8.FromBuffer(date); } }
        public string Tier { get { return Utf8.FromBuffer(tier); } }
        public string CodeName { get { return PromptCode.Name(code); } }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_till_status
    {
        public uint struct_size;
        public long outbox_depth;
        public long oldest_unsynced_seconds;
        public long cache_version;
        public long last_sync_unix;
        public long members;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 64)] public byte[] rules_version;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 8)] public byte[] currency;
        public long minor_per_unit;
        // Since 1.1:
        public long rejected;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 256)] public byte[] last_sync_error;
        // Since 1.2:
        public long held;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 256)] public byte[] rules_error;

        public static loy_till_status New()
        {
            return new loy_till_status
            {
                struct_size = (uint)Marshal.SizeOf(typeof(loy_till_status)),
                rules_version = new byte[64],
                currency = new byte[8],
                last_sync_error = new byte[256],
                rules_error = new byte[256],
            };
        }

        public string RulesVersion { get { return Utf8.FromBuffer(rules_version); } }
        public string Currency { get { return Utf8.FromBuffer(currency); } }
        public string LastSyncError { get { return Utf8.FromBuffer(last_sync_error); } }
        public string RulesError { get { return Utf8.FromBuffer(rules_error); } }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_sync_result
    {
        public uint struct_size;
        public long sent;
        public long applied;
        public long duplicates;
        public long rejected;
        public long members;
        public long coupons;
        public int rules_updated;
        public int reserved;

        public static loy_sync_result New()
        {
            return new loy_sync_result { struct_size = (uint)Marshal.SizeOf(typeof(loy_sync_result)) };
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_line
    {
        public uint struct_size;
        public IntPtr id;
        public IntPtr sku;
        public IntPtr category;
        public long qty;
        public long amount_minor;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_quote
    {
        public uint struct_size;
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
        public uint line_count;
        public int replayed;
        public int reserved;

        public static loy_quote New()
        {
            return new loy_quote { struct_size = (uint)Marshal.SizeOf(typeof(loy_quote)) };
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_line_quote
    {
        public uint struct_size;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 64)] public byte[] id;
        public long member_discount_minor;
        public long coupon_discount_minor;
        public long redeem_value_minor;
        public long net_minor;
        public long points_earned;
        public long points_redeemed;

        public static loy_line_quote New()
        {
            return new loy_line_quote { struct_size = (uint)Marshal.SizeOf(typeof(loy_line_quote)), id = new byte[64] };
        }

        public string Id { get { return Utf8.FromBuffer(id); } }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_refund_item
    {
        public uint struct_size;
        public IntPtr line_id;
        public long units;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_refund_result
    {
        public uint struct_size;
        public long amount_minor;
        public long points_taken_back;
        public long points_given_back;
        public long balance_after;
        public int negative_balance;
        public int replayed;

        public static loy_refund_result New()
        {
            return new loy_refund_result { struct_size = (uint)Marshal.SizeOf(typeof(loy_refund_result)) };
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct loy_enrollment
    {
        public uint struct_size;
        public IntPtr phone;
        public IntPtr name;
        public IntPtr birthday;
        public IntPtr consent;
    }

    // The owner of a loy_till*: loy_till_close runs once, when the last call using the handle has returned.
    // The log delegate lives in the handle, so that it outlives every call the library can make to it,
    // loy_till_close's own included, even when the finalizer is what closes the till.
    public sealed class TillHandle : SafeHandle
    {
        internal LogFn Log;

        public TillHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            Native.loy_till_close(handle);
            Log = null;
            return true;
        }
    }

    // The owner of a loy_checkout*: loy_checkout_free runs once.
    public sealed class CheckoutHandle : SafeHandle
    {
        public CheckoutHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            Native.loy_checkout_free(handle);
            return true;
        }
    }

    // Every function of the header. `const char *` arguments are NUL-terminated UTF-8 byte arrays
    // (Utf8.Encode), returned `const char *` are IntPtr (Utf8.FromPointer), size_t is UIntPtr.
    public static class Native
    {
        const string Library = "libloyalty.so.1";

        public const int LOY_VERSION_MAJOR = 1;
        public const int LOY_VERSION_MINOR = 2;
        public const int LOY_VERSION_PATCH = 0;
        public const int LOY_MAX_PROMPTS = 8;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint loy_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr loy_status_str(int status);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_open(byte[] config_path, ref loy_till_options options, out TillHandle till,
                                               [Out] byte[] error, UIntPtr error_size);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void loy_till_close(IntPtr till);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr loy_till_last_error(TillHandle till);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_apply_rules(TillHandle till, byte[] json, UIntPtr size);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_apply_changes(TillHandle till, byte[] json, UIntPtr size);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_lookup(TillHandle till, byte[] scanned, ref loy_member_info out_);

        // `prompts`: unmanaged memory of capacity * prompt_size bytes (or IntPtr.Zero with capacity 0).
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_lookup_v2(TillHandle till, byte[] scanned, ref loy_member_info out_,
                                                    IntPtr prompts, UIntPtr prompt_size, UIntPtr capacity,
                                                    out UIntPtr prompt_count);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_status_get(TillHandle till, ref loy_till_status out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_sync(TillHandle till, ref loy_sync_result out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_begin(TillHandle till, out CheckoutHandle checkout);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void loy_checkout_free(IntPtr checkout);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr loy_checkout_last_error(CheckoutHandle checkout);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_set_time(CheckoutHandle checkout, byte[] iso8601);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_identify(CheckoutHandle checkout, byte[] scanned, ref loy_member_info out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_prompts(CheckoutHandle checkout, IntPtr prompts, UIntPtr prompt_size,
                                                      UIntPtr capacity, out UIntPtr prompt_count);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_add_line(CheckoutHandle checkout, ref loy_line line);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_set_coupon(CheckoutHandle checkout, byte[] code);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_redeem(CheckoutHandle checkout, long points);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr loy_coupon_refusal_str(int code);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr loy_redeem_refusal_str(int code);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_quote(CheckoutHandle checkout, ref loy_quote out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_line_quote(CheckoutHandle checkout, uint index, ref loy_line_quote out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_commit(CheckoutHandle checkout, byte[] receipt_id, ref loy_quote out_);

        // `items`: null with count 0 refunds all that is left of the sale.
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_refund(TillHandle till, byte[] refund_id, byte[] receipt_id,
                                                 [In] loy_refund_item[] items, UIntPtr count, ref loy_refund_result out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_refund_at(TillHandle till, byte[] refund_id, byte[] sale_store_id,
                                                    byte[] receipt_id, [In] loy_refund_item[] items, UIntPtr count,
                                                    ref loy_refund_result out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_till_enroll(TillHandle till, ref loy_enrollment enrollment, ref loy_member_info out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int loy_checkout_enroll(CheckoutHandle checkout, ref loy_enrollment enrollment,
                                                     ref loy_member_info out_);

        public static string StatusString(int status)
        {
            return Utf8.FromPointer(loy_status_str(status));
        }

        // Every struct of the header on x86-64 Linux: its sizeof, then each field as name:offsetof:sizeof
        // (include/loyalty/loyalty.h 1.2, measured with a C compiler). A mismatch means this binding does
        // not mirror the header, and a call would read or write the wrong bytes: nothing may run.
        static readonly object[,] layout =
        {
            { typeof(loy_till_options), 32, "struct_size:0:4 log:8:8 log_userdata:16:8 log_level:24:4" },
            { typeof(loy_prompt), 144, "code:0:4 rate_bp:4:4 days:8:8 points:16:8 spend_minor:24:8 minutes:32:8 date:40:40 tier:80:64" },
            { typeof(loy_member_info), 1480, "struct_size:0:4 member_id:4:64 masked_name:68:96 tier_id:164:64 tier_name:228:64 confirmed_points:296:8 pending_points:304:8 available_points:312:8 prompt_count:320:4 prompts:328:1152" },
            { typeof(loy_prompt_info), 152, "struct_size:0:4 code:4:4 rate_bp:8:4 reserved:12:4 days:16:8 points:24:8 spend_minor:32:8 minutes:40:8 date:48:40 tier:88:64" },
            { typeof(loy_till_status), 656, "struct_size:0:4 outbox_depth:8:8 oldest_unsynced_seconds:16:8 cache_version:24:8 last_sync_unix:32:8 members:40:8 rules_version:48:64 currency:112:8 minor_per_unit:120:8 rejected:128:8 last_sync_error:136:256 held:392:8 rules_error:400:256" },
            { typeof(loy_sync_result), 64, "struct_size:0:4 sent:8:8 applied:16:8 duplicates:24:8 rejected:32:8 members:40:8 coupons:48:8 rules_updated:56:4 reserved:60:4" },
            { typeof(loy_line), 48, "struct_size:0:4 id:8:8 sku:16:8 category:24:8 qty:32:8 amount_minor:40:8" },
            { typeof(loy_quote), 104, "struct_size:0:4 gross_minor:8:8 member_discount_minor:16:8 member_discount_reason:24:4 member_discount_bp:28:4 coupon_discount_minor:32:8 coupon_rejected:40:4 redeem_rejected:44:4 redeem_points:48:8 redeem_value_minor:56:8 max_redeemable_points:64:8 payable_minor:72:8 points_earned:80:8 birthday:88:4 line_count:92:4 replayed:96:4 reserved:100:4" },
            { typeof(loy_line_quote), 120, "struct_size:0:4 id:4:64 member_discount_minor:72:8 coupon_discount_minor:80:8 redeem_value_minor:88:8 net_minor:96:8 points_earned:104:8 points_redeemed:112:8" },
            { typeof(loy_refund_item), 24, "struct_size:0:4 line_id:8:8 units:16:8" },
            { typeof(loy_refund_result), 48, "struct_size:0:4 amount_minor:8:8 points_taken_back:16:8 points_given_back:24:8 balance_after:32:8 negative_balance:40:4 replayed:44:4" },
            { typeof(loy_enrollment), 40, "struct_size:0:4 phone:8:8 name:16:8 birthday:24:8 consent:32:8" },
        };

        static bool checkedOnce;

        // Throws unless every struct has the header's layout, field for field, and the loaded library is
        // 1.x with x >= 2 (loy_till_lookup_v2 and loy_prompt_info are 1.2's).
        public static void CheckAbi()
        {
            if (checkedOnce) return;
            var errors = new StringBuilder();
            for (int i = 0; i < layout.GetLength(0); i++)
                CheckLayout((Type)layout[i, 0], (int)layout[i, 1], (string)layout[i, 2], errors);
            if (errors.Length > 0)
                throw new InvalidOperationException("libloyalty binding does not mirror loyalty.h: " + errors.ToString().TrimEnd(' ', ';'));
            uint version = loy_version();
            if (version >> 16 != LOY_VERSION_MAJOR || ((version >> 8) & 0xff) < LOY_VERSION_MINOR)
                throw new InvalidOperationException("libloyalty " + VersionString(version) + " is loaded; this binding needs 1." +
                                                    LOY_VERSION_MINOR + " or a later 1.x");
            checkedOnce = true;
        }

        static void CheckLayout(Type type, int size, string fields, StringBuilder errors)
        {
            int actual = Marshal.SizeOf(type);
            if (actual != size) errors.AppendFormat("sizeof {0} is {1}, not {2}; ", type.Name, actual, size);
            // A struct marshalled from zeroed memory has its arrays at their marshalled length.
            IntPtr zeroes = Marshal.AllocHGlobal(actual);
            object sample;
            try
            {
                for (int i = 0; i < actual; i++) Marshal.WriteByte(zeroes, i, 0);
                sample = Marshal.PtrToStructure(zeroes, type);
            }
            finally
            {
                Marshal.FreeHGlobal(zeroes);
            }
            string[] expected = fields.Split(' ');
            var declared = type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);
            if (declared.Length != expected.Length)
                errors.AppendFormat("{0} has {1} fields, not {2}; ", type.Name, declared.Length, expected.Length);
            foreach (string field in expected)
            {
                string[] parts = field.Split(':');
                FieldInfo info = type.GetField(parts[0], BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);
                if (info == null)
                {
                    errors.AppendFormat("{0} has no {1}; ", type.Name, parts[0]);
                    continue;
                }
                long offset = Marshal.OffsetOf(type, parts[0]).ToInt64();
                if (offset != long.Parse(parts[1]))
                    errors.AppendFormat("{0}.{1} is at {2}, not {3}; ", type.Name, parts[0], offset, parts[1]);
                int fieldSize;
                if (info.FieldType.IsArray)
                {
                    var array = (Array)info.GetValue(sample);
                    fieldSize = array == null ? 0 : array.Length * Marshal.SizeOf(info.FieldType.GetElementType());
                }
                else
                {
                    fieldSize = Marshal.SizeOf(info.FieldType);
                }
                if (fieldSize != int.Parse(parts[2]))
                    errors.AppendFormat("{0}.{1} is {2} bytes, not {3}; ", type.Name, parts[0], fieldSize, parts[2]);
            }
        }

        public static string VersionString(uint version)
        {
            return (version >> 16) + "." + ((version >> 8) & 0xff) + "." + (version & 0xff);
        }
    }

    // A line of the basket.
    public struct Line
    {
        public string Id, Sku, Category;
        public long Qty, AmountMinor;

        public Line(string id, string sku, string category, long qty, long amountMinor)
        {
            Id = id;
            Sku = sku;
            Category = category;
            Qty = qty;
            AmountMinor = amountMinor;
        }
    }

    // Units of one line of a sale to refund.
    public struct RefundLine
    {
        public string LineId;
        public long Units;

        public RefundLine(string lineId, long units)
        {
            LineId = lineId;
            Units = units;
        }
    }

    // A new member's details; Name and Birthday ("MM-DD") may be null.
    public sealed class Enrollment
    {
        public string Phone, Name, Birthday, Consent;

        internal loy_enrollment ToNative(NativeStrings strings)
        {
            return new loy_enrollment
            {
                struct_size = (uint)Marshal.SizeOf(typeof(loy_enrollment)),
                phone = strings.Add(Phone),
                name = strings.Add(Name),
                birthday = strings.Add(Birthday),
                consent = strings.Add(Consent),
            };
        }
    }

    static class Prompts
    {
        public delegate int Fill(IntPtr prompts, UIntPtr promptSize, UIntPtr capacity, out UIntPtr count);

        // Every prompt, through a buffer of loy_prompt_info that grows until it holds them all.
        public static loy_prompt_info[] Read(Fill fill)
        {
            int size = Marshal.SizeOf(typeof(loy_prompt_info));
            int capacity = Native.LOY_MAX_PROMPTS;
            while (true)
            {
                IntPtr buffer = Marshal.AllocHGlobal(size * capacity);
                try
                {
                    UIntPtr count;
                    fill(buffer, (UIntPtr)size, (UIntPtr)capacity, out count);
                    int n = (int)count.ToUInt64();
                    if (n <= capacity)
                    {
                        var prompts = new loy_prompt_info[n];
                        for (int i = 0; i < n; i++)
                            prompts[i] = (loy_prompt_info)Marshal.PtrToStructure(new IntPtr(buffer.ToInt64() + (long)i * size),
                                                                                  typeof(loy_prompt_info));
                        return prompts;
                    }
                    capacity = n;
                }
                finally
                {
                    Marshal.FreeHGlobal(buffer);
                }
            }
        }
    }

    // A till (loy_till): thread-safe, as the library's till is. Dispose closes it.
    public sealed class Till : IDisposable
    {
        readonly TillHandle handle;

        Till(TillHandle handle)
        {
            this.handle = handle;
        }

        public static uint Version { get { return Native.loy_version(); } }

        // Opens the till of the configuration file at `configPath`. `log`, when not null, receives the
        // messages at `logLevel` and above (0: info); it is called on the thread of the call being logged,
        // must return quickly and must not throw (what it throws is dropped, as it cannot cross C).
        public static Till Open(string configPath, Action<int, string> log = null, int logLevel = 0)
        {
            Native.CheckAbi();
            LogFn native = null;
            if (log != null)
            {
                native = (level, message, userdata) =>
                {
                    try
                    {
                        log(level, Utf8.FromPointer(message));
                    }
                    catch (Exception)
                    {
                        // Nothing may unwind into the library.
                    }
                };
            }
            var options = new loy_till_options
            {
                struct_size = (uint)Marshal.SizeOf(typeof(loy_till_options)),
                log = native == null ? IntPtr.Zero : Marshal.GetFunctionPointerForDelegate(native),
                log_userdata = IntPtr.Zero,
                log_level = logLevel,
            };
            var error = new byte[1024];
            TillHandle handle;
            int status = Native.loy_till_open(Utf8.Encode(configPath), ref options, out handle, error, (UIntPtr)error.Length);
            if (status != Status.Ok)
            {
                if (handle != null) handle.Dispose();
                throw new LoyaltyException(status, "loy_till_open", Utf8.FromBuffer(error));
            }
            handle.Log = native;
            GC.KeepAlive(native);
            return new Till(handle);
        }

        internal TillHandle Handle { get { return handle; } }

        // loy_till_last_error: meaningful right after a failed call on this thread only.
        public string LastError { get { return Utf8.FromPointer(Native.loy_till_last_error(handle)); } }

        void Check(int status, string function)
        {
            if (status != Status.Ok) throw new LoyaltyException(status, function, LastError);
        }

        public void ApplyRules(string json)
        {
            byte[] bytes = Utf8.Encode(json);
            Check(Native.loy_till_apply_rules(handle, bytes, (UIntPtr)(bytes.Length - 1)), "loy_till_apply_rules");
        }

        public void ApplyChanges(string json)
        {
            byte[] bytes = Utf8.Encode(json);
            Check(Native.loy_till_apply_changes(handle, bytes, (UIntPtr)(bytes.Length - 1)), "loy_till_apply_changes");
        }

        public loy_member_info Lookup(string scanned)
        {
            var member = loy_member_info.New();
            Check(Native.loy_till_lookup(handle, Utf8.Encode(scanned), ref member), "loy_till_lookup");
            return member;
        }

        // As Lookup, with every prompt of the member (loy_member_info holds the first 8 only).
        public loy_member_info Lookup(string scanned, out loy_prompt_info[] prompts)
        {
            var member = loy_member_info.New();
            byte[] text = Utf8.Encode(scanned);
            prompts = Prompts.Read((IntPtr buffer, UIntPtr size, UIntPtr capacity, out UIntPtr count) =>
            {
                int status = Native.loy_till_lookup_v2(handle, text, ref member, buffer, size, capacity, out count);
                Check(status, "loy_till_lookup_v2");
                return status;
            });
            return member;
        }

        public loy_till_status GetStatus()
        {
            var status = loy_till_status.New();
            Check(Native.loy_till_status_get(handle, ref status), "loy_till_status_get");
            return status;
        }

        public loy_sync_result Sync()
        {
            var result = loy_sync_result.New();
            Check(Native.loy_till_sync(handle, ref result), "loy_till_sync");
            return result;
        }

        public Checkout BeginCheckout()
        {
            CheckoutHandle checkout;
            int status = Native.loy_checkout_begin(handle, out checkout);
            if (status != Status.Ok)
            {
                if (checkout != null) checkout.Dispose();
                Check(status, "loy_checkout_begin");
            }
            return new Checkout(this, checkout);
        }

        // Refunds `items` of this till's sale `receiptId`; no items: all that is left of it.
        public loy_refund_result Refund(string refundId, string receiptId, params RefundLine[] items)
        {
            return RefundAt(refundId, null, receiptId, items);
        }

        // loy_till_refund_at when `saleStoreId` is not null (a sale of any till), loy_till_refund when it is.
        public loy_refund_result RefundAt(string refundId, string saleStoreId, string receiptId, params RefundLine[] items)
        {
            var result = loy_refund_result.New();
            using (var strings = new NativeStrings())
            {
                loy_refund_item[] native = null;
                if (items != null && items.Length > 0)
                {
                    native = new loy_refund_item[items.Length];
                    for (int i = 0; i < items.Length; i++)
                        native[i] = new loy_refund_item
                        {
                            struct_size = (uint)Marshal.SizeOf(typeof(loy_refund_item)),
                            line_id = strings.Add(items[i].LineId),
                            units = items[i].Units,
                        };
                }
                var count = (UIntPtr)(native == null ? 0 : native.Length);
                if (saleStoreId == null)
                    Check(Native.loy_till_refund(handle, Utf8.Encode(refundId), Utf8.Encode(receiptId), native, count, ref result),
                          "loy_till_refund");
                else
                    Check(Native.loy_till_refund_at(handle, Utf8.Encode(refundId), Utf8.Encode(saleStoreId), Utf8.Encode(receiptId),
                                                    native, count, ref result),
                          "loy_till_refund_at");
            }
            return result;
        }

        public loy_member_info Enroll(Enrollment enrollment)
        {
            var member = loy_member_info.New();
            using (var strings = new NativeStrings())
            {
                var native = enrollment.ToNative(strings);
                Check(Native.loy_till_enroll(handle, ref native, ref member), "loy_till_enroll");
            }
            return member;
        }

        // Closes the till. Checkouts still open answer LOY_E_STATE from then on; dispose them too.
        public void Dispose()
        {
            handle.Dispose();
        }
    }

    // A checkout (loy_checkout): one thread at a time. Dispose frees it, abandoning a sale not committed.
    public sealed class Checkout : IDisposable
    {
        readonly Till till; // keeps the till from being finalized while the checkout is in use
        readonly CheckoutHandle handle;

        internal Checkout(Till till, CheckoutHandle handle)
        {
            this.till = till;
            this.handle = handle;
        }

        public Till Till { get { return till; } }

        public string LastError { get { return Utf8.FromPointer(Native.loy_checkout_last_error(handle)); } }

        void Check(int status, string function)
        {
            if (status != Status.Ok) throw new LoyaltyException(status, function, LastError);
        }

        public void SetTime(string iso8601)
        {
            Check(Native.loy_checkout_set_time(handle, Utf8.Encode(iso8601)), "loy_checkout_set_time");
        }

        public loy_member_info Identify(string scanned)
        {
            var member = loy_member_info.New();
            Check(Native.loy_checkout_identify(handle, Utf8.Encode(scanned), ref member), "loy_checkout_identify");
            return member;
        }

        public loy_member_info Enroll(Enrollment enrollment)
        {
            var member = loy_member_info.New();
            using (var strings = new NativeStrings())
            {
                var native = enrollment.ToNative(strings);
                Check(Native.loy_checkout_enroll(handle, ref native, ref member), "loy_checkout_enroll");
            }
            return member;
        }

        public loy_prompt_info[] Prompts()
        {
            return Loyalty.Prompts.Read((IntPtr buffer, UIntPtr size, UIntPtr capacity, out UIntPtr count) =>
            {
                int status = Native.loy_checkout_prompts(handle, buffer, size, capacity, out count);
                Check(status, "loy_checkout_prompts");
                return status;
            });
        }

        public void AddLine(Line line)
        {
            using (var strings = new NativeStrings())
            {
                var native = new loy_line
                {
                    struct_size = (uint)Marshal.SizeOf(typeof(loy_line)),
                    id = strings.Add(line.Id),
                    sku = strings.Add(line.Sku),
                    category = strings.Add(line.Category),
                    qty = line.Qty,
                    amount_minor = line.AmountMinor,
                };
                Check(Native.loy_checkout_add_line(handle, ref native), "loy_checkout_add_line");
            }
        }

        public void AddLine(string id, string sku, string category, long qty, long amountMinor)
        {
            AddLine(new Line(id, sku, category, qty, amountMinor));
        }

        // null removes the coupon.
        public void SetCoupon(string code)
        {
            Check(Native.loy_checkout_set_coupon(handle, Utf8.Encode(code)), "loy_checkout_set_coupon");
        }

        public void Redeem(long points)
        {
            Check(Native.loy_checkout_redeem(handle, points), "loy_checkout_redeem");
        }

        public loy_quote Quote()
        {
            var quote = loy_quote.New();
            Check(Native.loy_checkout_quote(handle, ref quote), "loy_checkout_quote");
            return quote;
        }

        public loy_line_quote LineQuote(uint index)
        {
            var line = loy_line_quote.New();
            Check(Native.loy_checkout_line_quote(handle, index, ref line), "loy_checkout_line_quote");
            return line;
        }

        // Commits the sale once payment is taken; returns the committed quote (replayed = 1 for a retry).
        public loy_quote Commit(string receiptId)
        {
            var quote = loy_quote.New();
            Check(Native.loy_checkout_commit(handle, Utf8.Encode(receiptId), ref quote), "loy_checkout_commit");
            return quote;
        }

        public static string CouponRefusal(int code)
        {
            return Utf8.FromPointer(Native.loy_coupon_refusal_str(code));
        }

        public static string RedeemRefusal(int code)
        {
            return Utf8.FromPointer(Native.loy_redeem_refusal_str(code));
        }

        public void Dispose()
        {
            handle.Dispose();
        }
    }
}
