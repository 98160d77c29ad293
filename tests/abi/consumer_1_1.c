/* A POS built against the released 1.1 header (tests/abi/1.1, a frozen copy) and run against this
 * library: every 1.1 call behaves as it did, and the library writes nothing past the struct sizes
 * 1.1 knew. Usage: consumer_1_1 CONFIG RULES CHANGES */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../till/c_support.h"
#include "loyalty/loyalty.h"

#if LOY_VERSION_MINOR != 1
#error "built against the frozen 1.1 header only"
#endif


static int failures = 0;
#define EXPECT(cond)                                                    \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                       \
    }                                                                   \
  } while (0)

/* A struct as 1.1 knew it, followed by bytes the library must never write. */
#define GUARDED(T) \
  struct {         \
    T s;           \
    unsigned char guard[64]; \
  }
static int untouched(const unsigned char *g) {
  size_t i;
  for (i = 0; i < 64; ++i)
    if (g[i] != 0xA5) return 0;
  return 1;
}

int main(int argc, char **argv) {
  loy_till *till = NULL;
  loy_checkout *c = NULL;
  char error[256];
  size_t rules_size = 0, changes_size = 0;
  char *rules, *changes;
  GUARDED(loy_member_info) member;
  GUARDED(loy_till_status) status;
  GUARDED(loy_quote) quote;
  GUARDED(loy_line_quote) lq;
  GUARDED(loy_refund_result) refund;
  GUARDED(loy_sync_result) sync;
  loy_line line;
  loy_refund_item item;
  loy_enrollment enroll;
  int64_t earned;

  if (argc != 4) return 2;
  EXPECT(loy_version() >> 16 == 1);
  EXPECT((loy_version() >> 8 & 0xFF) >= 1);
  if (loy_till_open(argv[1], NULL, &till, error, sizeof error) != LOY_OK) {
    fprintf(stderr, "open: %s\n", error);
    return 1;
  }
  rules = slurp(argv[2], &rules_size);
  changes = slurp(argv[3], &changes_size);
  if (!rules || !changes) return 4;
  EXPECT(loy_till_apply_rules(till, rules, rules_size) == LOY_OK);
  EXPECT(loy_till_apply_changes(till, changes, changes_size) == LOY_OK);

  memset(&member, 0xA5, sizeof member);
  member.s.struct_size = sizeof member.s;
  EXPECT(loy_till_lookup(till, "+86 138-0013-8000", &member.s) == LOY_OK);
  EXPECT(strcmp(member.s.member_id, "M-1001") == 0);
  EXPECT(member.s.available_points == 5000);
  EXPECT(member.s.prompt_count <= LOY_MAX_PROMPTS);
  EXPECT(untouched(member.guard));
  EXPECT(loy_till_lookup(till, "+86 100-0000-0000", &member.s) == LOY_E_NOT_FOUND);

  memset(&status, 0xA5, sizeof status);
  status.s.struct_size = sizeof status.s;
  EXPECT(loy_till_status_get(till, &status.s) == LOY_OK);
  EXPECT(status.s.members == 1);
  EXPECT(status.s.outbox_depth == 0);
  EXPECT(status.s.rejected == 0);
  EXPECT(strcmp(status.s.rules_version, "") != 0);
  EXPECT(untouched(status.guard));

  /* A checkout: identify, a line, a redemption, quote, line quote, commit, the same commit again. */
  EXPECT(loy_checkout_begin(till, &c) == LOY_OK);
  EXPECT(loy_checkout_set_time(c, "2026-05-03T10:00:00+08:00") == LOY_OK);
  EXPECT(loy_checkout_identify(c, "13800138000", NULL) == LOY_OK);
  memset(&line, 0, sizeof line);
  line.struct_size = sizeof line;
  line.id = "1";
  line.sku = "SKU-1";
  line.category = "apparel";
  line.qty = 2;
  line.amount_minor = 40000;
  EXPECT(loy_checkout_add_line(c, &line) == LOY_OK);
  line.amount_minor = -1;
  EXPECT(loy_checkout_add_line(c, &line) == LOY_E_INVALID_ARGUMENT);
  EXPECT(loy_checkout_redeem(c, 1000) == LOY_OK);
  memset(&quote, 0xA5, sizeof quote);
  quote.s.struct_size = sizeof quote.s;
  EXPECT(loy_checkout_quote(c, &quote.s) == LOY_OK);
  EXPECT(quote.s.gross_minor == 40000);
  EXPECT(quote.s.line_count == 1);
  EXPECT(quote.s.redeem_points == 1000);
  EXPECT(quote.s.payable_minor == quote.s.gross_minor - quote.s.member_discount_minor -
                                      quote.s.coupon_discount_minor - quote.s.redeem_value_minor);
  EXPECT(untouched(quote.guard));
  memset(&lq, 0xA5, sizeof lq);
  lq.s.struct_size = sizeof lq.s;
  EXPECT(loy_checkout_line_quote(c, 0, &lq.s) == LOY_OK);
  EXPECT(strcmp(lq.s.id, "1") == 0);
  EXPECT(lq.s.net_minor == quote.s.payable_minor);
  EXPECT(untouched(lq.guard));
  EXPECT(loy_checkout_commit(c, "R-1", &quote.s) == LOY_OK);
  EXPECT(quote.s.replayed == 0);
  earned = quote.s.points_earned;
  EXPECT(earned > 0);
  EXPECT(untouched(quote.guard));
  loy_checkout_free(c);

  EXPECT(loy_checkout_begin(till, &c) == LOY_OK);
  EXPECT(loy_checkout_set_time(c, "2026-05-03T10:00:00+08:00") == LOY_OK);
  EXPECT(loy_checkout_identify(c, "13800138000", NULL) == LOY_OK);
  line.amount_minor = 40000;
  EXPECT(loy_checkout_add_line(c, &line) == LOY_OK);
  EXPECT(loy_checkout_redeem(c, 1000) == LOY_OK);
  EXPECT(loy_checkout_commit(c, "R-1", &quote.s) == LOY_OK);
  EXPECT(quote.s.replayed == 1);
  EXPECT(quote.s.points_earned == earned);
  loy_checkout_free(c);

  /* A refund of one unit, with an item array of 1.1's items. */
  memset(&item, 0, sizeof item);
  item.struct_size = sizeof item;
  item.line_id = "1";
  item.units = 1;
  memset(&refund, 0xA5, sizeof refund);
  refund.s.struct_size = sizeof refund.s;
  EXPECT(loy_till_refund(till, "F-1", "R-1", &item, 1, &refund.s) == LOY_OK);
  EXPECT(refund.s.amount_minor > 0);
  EXPECT(refund.s.replayed == 0);
  EXPECT(untouched(refund.guard));
  EXPECT(loy_till_refund(till, "F-1", "R-1", &item, 1, &refund.s) == LOY_OK);
  EXPECT(refund.s.replayed == 1);
  EXPECT(loy_till_refund(till, "F-2", "R-9", NULL, 0, &refund.s) == LOY_E_NOT_FOUND);

  /* An enrollment, then the member found by its phone. */
  memset(&enroll, 0, sizeof enroll);
  enroll.struct_size = sizeof enroll;
  enroll.phone = "13900001111";
  enroll.name = "Li Lei";
  enroll.consent = "signed at the till";
  memset(&member, 0xA5, sizeof member);
  member.s.struct_size = sizeof member.s;
  EXPECT(loy_till_enroll(till, &enroll, &member.s) == LOY_OK);
  EXPECT(strncmp(member.s.member_id, "T-", 2) == 0);
  EXPECT(untouched(member.guard));
  EXPECT(loy_till_enroll(till, &enroll, NULL) == LOY_E_CONFLICT);
  enroll.consent = NULL;
  enroll.phone = "13900002222";
  EXPECT(loy_till_enroll(till, &enroll, NULL) == LOY_E_INVALID_ARGUMENT || loy_till_enroll(till, &enroll, NULL) == LOY_E_CONSENT);

  /* A sync with no headquarters: a network error, the sale, refund and enrollment still queued. */
  memset(&sync, 0xA5, sizeof sync);
  sync.s.struct_size = sizeof sync.s;
  EXPECT(loy_till_sync(till, &sync.s) == LOY_E_NETWORK);
  EXPECT(untouched(sync.guard));
  memset(&status, 0xA5, sizeof status);
  status.s.struct_size = sizeof status.s;
  EXPECT(loy_till_status_get(till, &status.s) == LOY_OK);
  EXPECT(status.s.outbox_depth == 3);
  EXPECT(strcmp(status.s.last_sync_error, "") != 0);
  EXPECT(untouched(status.guard));

  /* Misuse as 1.1 answered it. */
  EXPECT(loy_till_lookup(NULL, "x", &member.s) == LOY_E_INVALID_ARGUMENT);
  member.s.struct_size = 4;
  EXPECT(loy_till_lookup(till, "13800138000", &member.s) == LOY_E_STRUCT_SIZE);
  EXPECT(strcmp(loy_status_str(LOY_E_NETWORK), "") != 0);

  loy_till_close(till);
  free(rules);
  free(changes);
  if (failures == 0) printf("every 1.1 call behaved as in 1.1\n");
  return failures == 0 ? 0 : 1;
}
