/*
 * loyalty.h: the C interface of libloyalty, the loyalty plugin of a store's till.
 *
 * One header, C99, for POS software in any language that can call C. The library looks members up
 * in a local cache, quotes baskets with the chain's rules, and commits each sale durably into an
 * offline queue that is synced with headquarters.
 *
 * Conventions (every function follows them):
 * - Fallible calls return loy_status: LOY_OK (0) or a negative code. loy_status_str() names every code;
 *   loy_till_last_error() / loy_checkout_last_error() give the detail of the last failed call on that
 *   handle, valid until the next call on the same handle.
 * - Strings in and out are UTF-8. A `const char *` argument is read during the call only.
 * - Structs the caller fills or receives start with `struct_size`: set it to sizeof(the struct) before
 *   the call. Structs only ever grow at their end, and the library accepts the size each struct had in
 *   every released header, reading and filling only what that size holds, so an older caller keeps
 *   working; any other size (a newer header's too) is LOY_E_STRUCT_SIZE. Arrays of structs carry their
 *   element size too (refund items: their struct_size; prompts: an element-size argument), so that an
 *   element can grow as well. loy_prompt alone is frozen: it never grows, being embedded in
 *   loy_member_info (loy_prompt_info, which can, is read through loy_till_lookup_v2/loy_checkout_prompts).
 * - Money is an integer count of minor units (fen, cents); never a float.
 * - Nothing a caller passes can crash the library: NULL, wrong sizes, invalid UTF-8, negative amounts
 *   and calls out of order are errors.
 *
 * Limits the library enforces (each beyond its limit is LOY_E_TOO_LARGE; docs/protocol.md, "Limits",
 * has the whole table, and docs/rules.md the arithmetic of a quote):
 * - scanned text (a card code or phone, loy_till_lookup, loy_checkout_identify), enrollment->phone: 256 bytes;
 * - the POS's ids, line ids, receipt ids and refund ids: 1..63 bytes of UTF-8, any characters;
 * - a line's sku and category: 0..256 bytes each; qty 1..10^9; amount_minor 0..10^15 (LOY_E_INVALID_ARGUMENT
 *   beyond); a sale: at most 10,000 lines, a total of at most 10^15, a transaction for headquarters of
 *   at most 6 MiB; a coupon code 1..64 bytes; points to redeem 0..10^15 (LOY_E_INVALID_ARGUMENT beyond);
 * - an enrollment: name at most 128 bytes, birthday "MM-DD", consent text 1..1024 bytes;
 * - a refund: at most 10,000 items; a sale's store id (loy_till_refund_at) 1..32 bytes;
 * - a rule set: 1 MiB (its version, tier ids and tier names 1..63 bytes); a changes document: 64 MiB;
 * - the configuration's store and till ids: 1..32 of A-Z a-z 0-9 - _ (docs/configuration.md).
 * Text the library writes into fixed buffers always fits them with its NUL: member, tier ids and tier
 * names at most 63 bytes, masked names at most 95 (cut at a character boundary), dates 39.
 *
 * Threading: a loy_till may be used from several threads at once (calls are serialised inside). A
 * loy_checkout belongs to one thread at a time; different checkouts of one till may run on different
 * threads at once.
 */
#ifndef LOYALTY_LOYALTY_H
#define LOYALTY_LOYALTY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* LOY_API marks what the library exports; LOY_CALL is the calling convention of every function and of
 * the log callback (the C convention of the platform; __cdecl on Windows, whatever a compiler's
 * default). The library's own build defines LOY_BUILDING_LIBRARY. */
#if defined(_WIN32)
#if defined(LOY_BUILDING_LIBRARY)
#define LOY_API __declspec(dllexport)
#else
#define LOY_API __declspec(dllimport)
#endif
#define LOY_CALL __cdecl
#elif defined(__GNUC__)
#define LOY_API __attribute__((visibility("default")))
#define LOY_CALL
#else
#define LOY_API
#define LOY_CALL
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Versions                                                                                         */

#define LOY_VERSION_MAJOR 1
#define LOY_VERSION_MINOR 2
#define LOY_VERSION_PATCH 0
/* The version this header describes, as loy_version() returns it. */
#define LOY_VERSION ((LOY_VERSION_MAJOR << 16) | (LOY_VERSION_MINOR << 8) | LOY_VERSION_PATCH)

/* The version of the loaded library: (major << 16) | (minor << 8) | patch. Thread-safe. */
LOY_API uint32_t LOY_CALL loy_version(void);

/* ---------------------------------------------------------------------------------------------- */
/* Status codes: append-only, never renumbered.                                                    */

typedef int32_t loy_status;

#define LOY_OK 0
#define LOY_E_INVALID_ARGUMENT (-1) /* a NULL pointer, a value out of range, a malformed field */
#define LOY_E_STRUCT_SIZE (-2)      /* struct_size is not a size this library knows */
#define LOY_E_UTF8 (-3)             /* a string is not valid UTF-8 */
#define LOY_E_NOT_FOUND (-4)        /* no such member, receipt or line */
#define LOY_E_STATE (-5)            /* a call out of order (quote with no lines, use after commit) */
#define LOY_E_CONFIG (-6)           /* the configuration file is missing or invalid */
#define LOY_E_STORAGE (-7)          /* the till's database failed (disk full, permissions) */
#define LOY_E_RULES (-8)            /* a rule set is invalid */
#define LOY_E_NO_RULES (-9)         /* the till has no rule set yet */
#define LOY_E_DOCUMENT (-10)        /* a changes document is invalid */
#define LOY_E_CONFLICT (-11)        /* an id already used for something else */
#define LOY_E_CONSENT (-12)         /* an enrollment without the customer's recorded consent */
#define LOY_E_TOO_LARGE (-13)       /* an input beyond the library's limits */
#define LOY_E_NETWORK (-14)         /* headquarters could not be reached, or answered with an error */
#define LOY_E_INTERNAL (-99)        /* a bug in the library: please report it with the log */

/* Static text for a status, e.g. "invalid argument". Never NULL; unknown codes give "unknown status". */
LOY_API const char *LOY_CALL loy_status_str(loy_status status);

/* ---------------------------------------------------------------------------------------------- */
/* The till                                                                                         */

typedef struct loy_till loy_till;

#define LOY_LOG_DEBUG 10
#define LOY_LOG_INFO 20
#define LOY_LOG_WARN 30
#define LOY_LOG_ERROR 40

/* A log message: level, then text without personal data. Called on the thread that made the call
 * being logged, after the library has released the till's lock, so it may call into the till (a
 * call it makes replaces its thread's last error: read that first). It should return quickly.
 * `message` is valid during the call only. */
typedef void(LOY_CALL *loy_log_fn)(int32_t level, const char *message, void *userdata);

typedef struct loy_till_options {
  uint32_t struct_size; /* sizeof(loy_till_options) */
  loy_log_fn log;       /* NULL: no logging */
  void *log_userdata;
  int32_t log_level; /* the lowest level passed to `log`; 0 means LOY_LOG_INFO */
} loy_till_options;

/* Opens the till described by the JSON configuration file at `config_path` (docs/configuration.md):
 * creates or migrates its database in the configured data directory.
 * `options` may be NULL. On success *out is the till, which the caller closes with loy_till_close().
 * On failure *out is NULL and, when `error` is not NULL, the reason is written there as a
 * NUL-terminated string of at most `error_size` bytes.
 * Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_STRUCT_SIZE, LOY_E_CONFIG or LOY_E_STORAGE. */
LOY_API loy_status LOY_CALL loy_till_open(const char *config_path, const loy_till_options *options, loy_till **out,
                                          char *error, size_t error_size);

/* Closes a till, releases its database and frees the handle. NULL is allowed. Checkouts of the till
 * that are still alive answer LOY_E_STATE from then on and must still be freed. */
LOY_API void LOY_CALL loy_till_close(loy_till *till);

/* The detail of the last failed call on `till` made by the calling thread ("" when none). Valid until
 * that thread's next call on `till`. NULL `till` gives "". */
LOY_API const char *LOY_CALL loy_till_last_error(const loy_till *till);

/* Installs a rule set (JSON, docs/rules.md) of `size` bytes, replacing the current one if its version
 * differs. Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_RULES, LOY_E_TOO_LARGE or LOY_E_STORAGE.
 * Every call on a till, and on its checkouts, may also return LOY_E_INTERNAL (a bug: report it with
 * the log) and, on a checkout whose till was closed, LOY_E_STATE. */
LOY_API loy_status LOY_CALL loy_till_apply_rules(loy_till *till, const char *json, size_t size);

/* Applies a member-changes document (docs/protocol.md, the answer of GET /v1/changes) of `size`
 * bytes in one transaction: all of it or nothing. A record older than the cached one is skipped.
 * Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_DOCUMENT, LOY_E_TOO_LARGE or LOY_E_STORAGE. */
LOY_API loy_status LOY_CALL loy_till_apply_changes(loy_till *till, const char *json, size_t size);

/* ---------------------------------------------------------------------------------------------- */
/* Members                                                                                          */

#define LOY_PROMPT_BIRTHDAY_WINDOW 1
#define LOY_PROMPT_FIRST_PURCHASE 2 /* rate_bp */
#define LOY_PROMPT_WINBACK 3        /* days, rate_bp */
#define LOY_PROMPT_POINTS_EXPIRING 4 /* points, date */
#define LOY_PROMPT_NEXT_TIER 5      /* tier, spend_minor */
#define LOY_PROMPT_NEGATIVE_BALANCE 6 /* points */
#define LOY_PROMPT_OFFLINE 7        /* minutes (-1: never synced) */

/* A cashier prompt: a code with its figures, for the POS to word in its own language. Figures a
 * code does not use are 0 or "". Frozen since 1.0 (it is embedded in loy_member_info): it never grows.
 * A prompt with figures beyond these comes as a loy_prompt_info. */
typedef struct loy_prompt {
  int32_t code;     /* LOY_PROMPT_* */
  int32_t rate_bp;  /* basis points */
  int64_t days;
  int64_t points;
  int64_t spend_minor;
  int64_t minutes;
  char date[40];    /* ISO-8601 */
  char tier[64];    /* a tier id */
} loy_prompt;

/* loy_member_info holds a member's first LOY_MAX_PROMPTS prompts; loy_till_lookup_v2 and
 * loy_checkout_prompts give all of them. */
#define LOY_MAX_PROMPTS 8

typedef struct loy_member_info {
  uint32_t struct_size;  /* sizeof(loy_member_info) */
  char member_id[64];
  char masked_name[96];  /* e.g. "W*** F***": never the name itself */
  char tier_id[64];
  char tier_name[64];
  int64_t confirmed_points; /* headquarters' balance */
  int64_t pending_points;   /* this till's effects not yet confirmed, signed */
  int64_t available_points; /* confirmed + pending */
  uint32_t prompt_count;    /* the prompts held below: at most LOY_MAX_PROMPTS, the member's first ones */
  loy_prompt prompts[LOY_MAX_PROMPTS];
} loy_member_info;

/* Looks a member up from scanned or typed text: a card code or a phone number (spaces and dashes are
 * ignored, and so is a leading +86). Fills *out. Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_UTF8,
 * LOY_E_STRUCT_SIZE, LOY_E_TOO_LARGE, LOY_E_NOT_FOUND, LOY_E_NO_RULES, LOY_E_DOCUMENT (the cached
 * record does not fit the current rule set, e.g. an unknown tier) or LOY_E_STORAGE. */
LOY_API loy_status LOY_CALL loy_till_lookup(loy_till *till, const char *scanned, loy_member_info *out);

/* Since 1.2: a prompt as loy_prompt, with its own size, so that it can grow. */
typedef struct loy_prompt_info {
  uint32_t struct_size; /* sizeof(loy_prompt_info); the library sets it in every element it fills */
  int32_t code;         /* LOY_PROMPT_* */
  int32_t rate_bp;      /* basis points */
  int32_t reserved;
  int64_t days;
  int64_t points;
  int64_t spend_minor;
  int64_t minutes;
  char date[40];        /* ISO-8601 */
  char tier[64];        /* a tier id */
} loy_prompt_info;

/* Since 1.2. As loy_till_lookup (`out` may be NULL here), and writes the member's prompts, every one,
 * into `prompts`: an array of `capacity` elements of `prompt_size` bytes each (sizeof(loy_prompt_info)
 * of the caller's header). *prompt_count is set to the number of prompts the member has; when it is
 * above `capacity`, the first `capacity` are written and the call still succeeds. With `capacity` 0
 * (to count them) `prompts` may be NULL and `prompt_size` anything. *prompt_count is 0 when the call
 * fails. Returns the statuses of loy_till_lookup; LOY_E_STRUCT_SIZE when `prompt_size` is not a size of
 * loy_prompt_info of a release. */
LOY_API loy_status LOY_CALL loy_till_lookup_v2(loy_till *till, const char *scanned, loy_member_info *out,
                                               loy_prompt_info *prompts, size_t prompt_size, size_t capacity,
                                               size_t *prompt_count);

/* ---------------------------------------------------------------------------------------------- */
/* Status                                                                                           */

typedef struct loy_till_status {
  uint32_t struct_size;           /* sizeof(loy_till_status) */
  int64_t outbox_depth;           /* committed sales, refunds and enrollments not yet synced */
  int64_t oldest_unsynced_seconds; /* age of the oldest of them; -1 when there is none */
  int64_t cache_version;          /* the changes cursor the cache has reached */
  int64_t last_sync_unix;         /* last successful sync, Unix seconds; -1 when never */
  int64_t members;                /* members in the cache */
  char rules_version[64];         /* "" when there is no rule set */
  char currency[8];               /* the rule set's ISO 4217 code, "" without one */
  int64_t minor_per_unit;         /* minor units in one currency unit (100 for CNY); 0 without rules */
  /* Since 1.1: */
  int64_t rejected;               /* transactions headquarters refused for good, for their own content:
                                     kept in the outbox, never resent */
  char last_sync_error[256];      /* why the last sync failed; "" when it succeeded or none ran yet */
  /* Since 1.2: */
  int64_t held;                   /* transactions headquarters stored but holds, not applied yet, for a
                                     cause it can remove (docs/protocol.md): sent again at every sync */
  char rules_error[256];          /* why headquarters' current rule set could not be installed (the till
                                     keeps its own rules); "" when none */
} loy_till_status;

/* Fills *out. Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_STRUCT_SIZE or LOY_E_STORAGE. */
LOY_API loy_status LOY_CALL loy_till_status_get(loy_till *till, loy_till_status *out);


/* ---------------------------------------------------------------------------------------------- */
/* Sync with headquarters                                                                           */
/* With sync.interval_seconds > 0 (docs/configuration.md) a background thread syncs on its own, at a
 * lower CPU priority than the POS's threads (nice +10 on Linux); a checkout never waits for it. */
typedef struct loy_sync_result {
  uint32_t struct_size;   /* sizeof(loy_sync_result) */
  int64_t sent;           /* transactions sent from the outbox */
  int64_t applied;        /* applied by headquarters in this sync */
  int64_t duplicates;     /* headquarters had applied them already (an answer lost before) */
  int64_t rejected;       /* rejected for good: kept in the outbox, never sent again, counted in status */
  int64_t members;        /* member records received */
  int64_t coupons;        /* coupon records received */
  int32_t rules_updated;  /* 1: a new rule set was installed */
  int32_t reserved;
} loy_sync_result;
/* Syncs now, on the calling thread: sends the outbox in batches, then receives member and coupon
 * changes and the rules. Waits for a background sync in progress first. Fills *out (may be NULL).
 * What completed before a failure (batches answered, pages applied) stays done; a failure is also
 * logged (LOY_LOG_WARN), as a background sync's is.
 * Returns LOY_OK, LOY_E_NETWORK (unreachable, TLS refused, an error answer: see last error),
 * LOY_E_STRUCT_SIZE or LOY_E_STORAGE. */
LOY_API loy_status LOY_CALL loy_till_sync(loy_till *till, loy_sync_result *out);
/* ---------------------------------------------------------------------------------------------- */
/* Checkout                                                                                         */

typedef struct loy_checkout loy_checkout;

/* Begins a checkout on `till`. *out is freed with loy_checkout_free(), which abandons a sale that was
 * not committed. Returns LOY_OK or LOY_E_INVALID_ARGUMENT. */
LOY_API loy_status LOY_CALL loy_checkout_begin(loy_till *till, loy_checkout **out);

/* Frees a checkout. NULL is allowed. */
LOY_API void LOY_CALL loy_checkout_free(loy_checkout *checkout);

/* The detail of the last failed call on `checkout` ("" when none), valid until the next call on it. */
LOY_API const char *LOY_CALL loy_checkout_last_error(const loy_checkout *checkout);

/* Sets the sale's time, ISO-8601 with its offset ("2026-05-03T10:00:00+08:00"); by default a quote
 * and a commit use the till's clock. A quote may look at any time; a commit more than 24 hours ahead
 * of the till's clock is refused (LOY_E_INVALID_ARGUMENT: headquarters would hold the sale). Returns
 * LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_UTF8, LOY_E_TOO_LARGE or LOY_E_STATE. */
LOY_API loy_status LOY_CALL loy_checkout_set_time(loy_checkout *checkout, const char *iso8601);

/* Identifies the member from scanned text (as loy_till_lookup) for this sale, and fills *out when it is
 * not NULL; its prompts are read at the sale's time. When it fails the sale has no member (never the
 * one identified before). Returns the statuses of loy_till_lookup, or LOY_E_STATE after a commit. */
LOY_API loy_status LOY_CALL loy_checkout_identify(loy_checkout *checkout, const char *scanned, loy_member_info *out);

/* Since 1.2. Writes the prompts of the checkout's member (identified or enrolled in it, read at the
 * sale's time when that happened), every one, as loy_till_lookup_v2 does. A checkout without a member
 * has none (*prompt_count 0). Returns LOY_OK, LOY_E_INVALID_ARGUMENT or LOY_E_STRUCT_SIZE. */
LOY_API loy_status LOY_CALL loy_checkout_prompts(loy_checkout *checkout, loy_prompt_info *prompts, size_t prompt_size,
                                                 size_t capacity, size_t *prompt_count);

/* One line of the basket. Strings are copied. */
typedef struct loy_line {
  uint32_t struct_size;  /* sizeof(loy_line) */
  const char *id;        /* unique in the sale, 1..63 bytes */
  const char *sku;
  const char *category;
  int64_t qty;           /* > 0 */
  int64_t amount_minor;  /* 0..10^15: the line's price after the POS's own pricing, qty included
                          * (a sale's total is at most 10^15 too: beyond, its quote fails) */
} loy_line;

/* Adds a line. Returns LOY_OK, LOY_E_INVALID_ARGUMENT (NULL, qty <= 0, negative amount, duplicate id),
 * LOY_E_UTF8, LOY_E_STRUCT_SIZE, LOY_E_TOO_LARGE (more than 10,000 lines, an sku or category over 256
 * bytes, or a sale whose transaction for headquarters would exceed 6 MiB: docs/protocol.md, "Limits")
 * or LOY_E_STATE. */
LOY_API loy_status LOY_CALL loy_checkout_add_line(loy_checkout *checkout, const loy_line *line);

/* Presents a coupon code (NULL removes it). Whether it applies is part of the quote.
 * Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_UTF8, LOY_E_TOO_LARGE (over 64 bytes) or LOY_E_STATE. */
LOY_API loy_status LOY_CALL loy_checkout_set_coupon(loy_checkout *checkout, const char *code);

/* Asks to pay with `points` (0: none). Whether it is accepted is part of the quote.
 * Returns LOY_OK, LOY_E_INVALID_ARGUMENT (negative) or LOY_E_STATE. */
LOY_API loy_status LOY_CALL loy_checkout_redeem(loy_checkout *checkout, int64_t points);

#define LOY_REASON_NONE 0
#define LOY_REASON_TIER 1
#define LOY_REASON_FIRST_PURCHASE 2
#define LOY_REASON_WINBACK 3

/* Why a coupon was not applied (0: it was, or none was presented). */
#define LOY_COUPON_UNKNOWN 1
#define LOY_COUPON_USED 2
#define LOY_COUPON_NOT_YET_VALID 3
#define LOY_COUPON_EXPIRED 4
#define LOY_COUPON_MIN_SPEND_NOT_MET 5
#define LOY_COUPON_NOT_ALLOWED 6
#define LOY_COUPON_MEMBER_REQUIRED 7

/* Why a redemption was refused (0: it was accepted, or none was asked for). */
#define LOY_REDEEM_NOT_MULTIPLE_OF_STEP 1
#define LOY_REDEEM_BELOW_MIN 2
#define LOY_REDEEM_INSUFFICIENT_POINTS 3
#define LOY_REDEEM_OFFLINE_LIMIT 4
#define LOY_REDEEM_EXCEEDS_MAX_SHARE 5
#define LOY_REDEEM_MEMBER_REQUIRED 6

/* Static names of the codes above ("coupon_expired", "offline_limit"); "" for 0. */
LOY_API const char *LOY_CALL loy_coupon_refusal_str(int32_t code);
LOY_API const char *LOY_CALL loy_redeem_refusal_str(int32_t code);

typedef struct loy_quote {
  uint32_t struct_size;            /* sizeof(loy_quote) */
  int64_t gross_minor;
  int64_t member_discount_minor;
  int32_t member_discount_reason;  /* LOY_REASON_* */
  int32_t member_discount_bp;
  int64_t coupon_discount_minor;
  int32_t coupon_rejected;         /* LOY_COUPON_* or 0 */
  int32_t redeem_rejected;         /* LOY_REDEEM_* or 0 */
  int64_t redeem_points;
  int64_t redeem_value_minor;
  int64_t max_redeemable_points;
  int64_t payable_minor;
  int64_t points_earned;
  int32_t birthday;                /* 1 in the member's birthday window */
  uint32_t line_count;
  int32_t replayed;                /* commit: 1 when the receipt id was committed before (its first result) */
  int32_t reserved;
} loy_quote;

typedef struct loy_line_quote {
  uint32_t struct_size; /* sizeof(loy_line_quote) */
  char id[64];
  int64_t member_discount_minor;
  int64_t coupon_discount_minor;
  int64_t redeem_value_minor;
  int64_t net_minor;
  int64_t points_earned;   /* the line's share of the points earned */
  int64_t points_redeemed; /* the line's share of the points redeemed */
} loy_line_quote;

/* Quotes the checkout as it stands (docs/rules.md) into *out. A refused coupon or redemption is still a
 * quote. Returns LOY_OK, LOY_E_STATE (no lines), LOY_E_INVALID_ARGUMENT, LOY_E_NO_RULES,
 * LOY_E_NOT_FOUND (the member left the cache), LOY_E_STRUCT_SIZE or LOY_E_STORAGE. */
LOY_API loy_status LOY_CALL loy_checkout_quote(loy_checkout *checkout, loy_quote *out);

/* Line `index` (0 .. line_count-1) of the last quote or of the committed sale. Returns LOY_OK,
 * LOY_E_INVALID_ARGUMENT, LOY_E_STRUCT_SIZE or LOY_E_STATE (nothing quoted yet). */
LOY_API loy_status LOY_CALL loy_checkout_line_quote(loy_checkout *checkout, uint32_t index, loy_line_quote *out);

/* Commits the sale under the POS's `receipt_id` (1..63 bytes) once payment is taken, and returns only
 * when it is durable (one SQLite transaction, one fsync). Fills *out (may be NULL) with the committed
 * quote. Committing a receipt id that was committed before for the same sale (member, lines, coupon
 * and points; not the time), from any checkout, returns that first result with replayed = 1 and makes
 * no second sale; for a different sale it is LOY_E_CONFLICT. When the checkout was quoted and nothing
 * changed since, the sale is committed only at that quote's figures: if it would now be priced
 * otherwise (another checkout spent the points or the coupon meanwhile), nothing is committed and the
 * call returns LOY_E_CONFLICT: quote again and settle the difference. After a commit the checkout only
 * answers loy_checkout_line_quote and loy_checkout_prompts; a second commit is LOY_E_STATE.
 * Returns LOY_OK, LOY_E_STATE, LOY_E_CONFLICT, LOY_E_INVALID_ARGUMENT, LOY_E_UTF8, LOY_E_TOO_LARGE,
 * LOY_E_NOT_FOUND (the member left the cache), LOY_E_NO_RULES or LOY_E_STORAGE. */
LOY_API loy_status LOY_CALL loy_checkout_commit(loy_checkout *checkout, const char *receipt_id, loy_quote *out);

/* ---------------------------------------------------------------------------------------------- */
/* Refunds and enrollments                                                                          */

/* An array of refund items is read with the element size of its first item's struct_size (sizeof of
 * the caller's header), which every item of it must have (LOY_E_STRUCT_SIZE otherwise). */
typedef struct loy_refund_item {
  uint32_t struct_size; /* sizeof(loy_refund_item), the same in every item of the array */
  const char *line_id;
  int64_t units;        /* 1 .. units of the line not yet refunded */
} loy_refund_item;

typedef struct loy_refund_result {
  uint32_t struct_size;       /* sizeof(loy_refund_result) */
  int64_t amount_minor;       /* money back to the customer */
  int64_t points_taken_back;  /* earned points the member loses */
  int64_t points_given_back;  /* redeemed points the member gets back */
  int64_t balance_after;      /* the member's available points after the refund */
  int32_t negative_balance;   /* 1: the balance is below zero; the member cannot redeem until it is not */
  int32_t replayed;           /* 1: the refund id was committed before; this is its first result */
} loy_refund_result;

/* Refunds part of a sale committed at this till (`items`, `count` > 0) or all that is left of it
 * (items NULL and count 0; items not NULL with count 0 is LOY_E_INVALID_ARGUMENT, never a full
 * refund), committed like a sale under the POS's `refund_id`. A refund id used before
 * for the same receipt returns that first result. When the till is online (its last sync succeeded
 * within the rules' offline_after_minutes) it first asks headquarters what was refunded of the sale
 * elsewhere, within sync.timeout_seconds; offline it refunds from what it knows. Fills *out (may be NULL).
 * Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_UTF8, LOY_E_STRUCT_SIZE, LOY_E_TOO_LARGE,
 * LOY_E_NOT_FOUND (receipt or line), LOY_E_STATE (nothing, or nothing of that line, left to refund),
 * LOY_E_CONFLICT (refund id used for another receipt) or LOY_E_STORAGE. */
LOY_API loy_status LOY_CALL loy_till_refund(loy_till *till, const char *refund_id, const char *receipt_id,
                                            const loy_refund_item *items, size_t count, loy_refund_result *out);

/* Refunds a sale made at any till of the chain (`sale_store_id`, `receipt_id` as printed on its
 * receipt), like loy_till_refund does this till's own: a returns desk refunds the sales of its store's
 * other tills, and of other stores. `sale_store_id` naming this till's own store means this till's own
 * sale of that receipt when there is one. A sale this till does not hold is fetched from headquarters
 * with the refunds already applied to it anywhere, and kept; later refunds of it use the copy, brought
 * up to date again when the till is online. The network's part of the call takes at most
 * sync.timeout_seconds. The refund is then committed and synced like any other.
 * Returns the statuses of loy_till_refund, LOY_E_NETWORK (headquarters cannot be reached),
 * LOY_E_CONFLICT (several tills of that store used the receipt id: the message names them; receipt
 * ids unique within a store are refunded here) and LOY_E_NOT_FOUND (headquarters has no such sale: not
 * synced yet by its till, or no such receipt). */
LOY_API loy_status LOY_CALL loy_till_refund_at(loy_till *till, const char *refund_id, const char *sale_store_id,
                                               const char *receipt_id, const loy_refund_item *items, size_t count,
                                               loy_refund_result *out);
typedef struct loy_enrollment {
  uint32_t struct_size;  /* sizeof(loy_enrollment) */
  const char *phone;     /* required */
  const char *name;      /* may be NULL */
  const char *birthday;  /* "MM-DD", may be NULL */
  const char *consent;   /* required: the POS's record of the customer's consent */
} loy_enrollment;

/* Enrolls a new member at the till. The member is usable at once (a first purchase gets its offer);
 * the personal fields are sealed to headquarters' public key before they touch the disk, and the
 * enrollment is queued for headquarters like a sale. Fills *out (may be NULL) with the new member.
 * Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_UTF8, LOY_E_STRUCT_SIZE, LOY_E_CONSENT,
 * LOY_E_CONFLICT (the phone is already a member), LOY_E_TOO_LARGE, LOY_E_NO_RULES or LOY_E_STORAGE. */
LOY_API loy_status LOY_CALL loy_till_enroll(loy_till *till, const loy_enrollment *enrollment, loy_member_info *out);

/* Enrolls (as loy_till_enroll) and identifies the new member in this checkout. */
LOY_API loy_status LOY_CALL loy_checkout_enroll(loy_checkout *checkout, const loy_enrollment *enrollment,
                                                loy_member_info *out);

#ifdef __cplusplus
}
#endif

#endif /* LOYALTY_LOYALTY_H */
