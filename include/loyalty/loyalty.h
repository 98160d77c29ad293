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
 *   the call. Structs only ever grow at their end, so an older caller keeps working.
 * - Money is an integer count of minor units (fen, cents); never a float.
 * - Nothing a caller passes can crash the library: NULL, wrong sizes, invalid UTF-8, negative amounts
 *   and calls out of order are errors.
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

#if defined(_WIN32)
#define LOY_API __declspec(dllimport)
#elif defined(__GNUC__)
#define LOY_API __attribute__((visibility("default")))
#else
#define LOY_API
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Versions                                                                                         */

#define LOY_VERSION_MAJOR 1
#define LOY_VERSION_MINOR 0
#define LOY_VERSION_PATCH 0
/* The version this header describes, as loy_version() returns it. */
#define LOY_VERSION ((LOY_VERSION_MAJOR << 16) | (LOY_VERSION_MINOR << 8) | LOY_VERSION_PATCH)

/* The version of the loaded library: (major << 16) | (minor << 8) | patch. Thread-safe. */
LOY_API uint32_t loy_version(void);

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
#define LOY_E_INTERNAL (-99)        /* a bug in the library: please report it with the log */

/* Static text for a status, e.g. "invalid argument". Never NULL; unknown codes give "unknown status". */
LOY_API const char *loy_status_str(loy_status status);

/* ---------------------------------------------------------------------------------------------- */
/* The till                                                                                         */

typedef struct loy_till loy_till;

#define LOY_LOG_DEBUG 10
#define LOY_LOG_INFO 20
#define LOY_LOG_WARN 30
#define LOY_LOG_ERROR 40

/* A log message: level, then text without personal data. Called on the thread that made the call
 * being logged, while the library holds the till's lock: it must return quickly and must not call
 * into the same till. `message` is valid during the call only. */
typedef void (*loy_log_fn)(int32_t level, const char *message, void *userdata);

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
LOY_API loy_status loy_till_open(const char *config_path, const loy_till_options *options, loy_till **out,
                                 char *error, size_t error_size);

/* Closes a till and frees it. NULL is allowed. Every checkout of the till must be freed first. */
LOY_API void loy_till_close(loy_till *till);

/* The detail of the last failed call on `till` made by the calling thread ("" when none). Valid until
 * that thread's next call on `till`. NULL `till` gives "". */
LOY_API const char *loy_till_last_error(const loy_till *till);

/* Installs a rule set (JSON, RULES.md) of `size` bytes, replacing the current one if its version
 * differs. Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_RULES, LOY_E_TOO_LARGE or LOY_E_STORAGE. */
LOY_API loy_status loy_till_apply_rules(loy_till *till, const char *json, size_t size);

/* Applies a member-changes document (docs/protocol.md, the answer of GET /v1/changes) of `size`
 * bytes in one transaction: all of it or nothing. A record older than the cached one is skipped.
 * Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_DOCUMENT, LOY_E_TOO_LARGE or LOY_E_STORAGE. */
LOY_API loy_status loy_till_apply_changes(loy_till *till, const char *json, size_t size);

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
 * code does not use are 0 or "". */
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
  uint32_t prompt_count;
  loy_prompt prompts[LOY_MAX_PROMPTS];
} loy_member_info;

/* Looks a member up from scanned or typed text: a card code or a phone number (spaces and dashes are
 * ignored, and so is a leading +86). Fills *out. Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_UTF8,
 * LOY_E_STRUCT_SIZE, LOY_E_TOO_LARGE, LOY_E_NOT_FOUND, LOY_E_NO_RULES or LOY_E_STORAGE. */
LOY_API loy_status loy_till_lookup(loy_till *till, const char *scanned, loy_member_info *out);

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
} loy_till_status;

/* Fills *out. Returns LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_STRUCT_SIZE or LOY_E_STORAGE. */
LOY_API loy_status loy_till_status_get(loy_till *till, loy_till_status *out);

#ifdef __cplusplus
}
#endif

#endif /* LOYALTY_LOYALTY_H */
