/*
 * checkout.c: a till's whole loyalty flow through libloyalty's C interface, for POS vendors.
 *
 * Usage: checkout CONFIG_PATH   (the till's JSON configuration, docs/configuration.md)
 *
 * Opens the till, syncs with headquarters, looks members up, sells to a member with a redemption,
 * commits the same receipt again as a POS does when it never saw the answer, refunds part of the sale,
 * enrolls a new customer at the till and syncs again. Every call's status is checked: a failure
 * prints loy_status_str() and the handle's last error, and is handled as a POS would (a scan that is
 * no member sells without one; an unreachable headquarters leaves the sales in the outbox; a commit
 * that would now be priced otherwise is quoted again). One line per step on stdout; exits 0 only when
 * every step went as expected.
 *
 * Money is printed in minor units (fen), as the library gives it.
 */
#include <stdio.h>
#include <string.h>

#include "loyalty/loyalty.h"

/* Prompts read per member: more than a member has in practice; a member with more is shown cut. */
#define PROMPT_CAPACITY 16

/* The coat and scarf sale of steps 5 and 7: the retry must present the very same sale. */
static const loy_line coat_and_scarf[] = {
    {sizeof(loy_line), "1", "COAT-01", "apparel", 1, 59900},
    {sizeof(loy_line), "2", "SCARF-07", "accessories", 1, 12900},
};
/* Points the member pays with in that sale. */
#define REDEEM_POINTS 1000
/* The new member's first purchase, step 9. */
static const loy_line first_tee[] = {
    {sizeof(loy_line), "1", "TEE-3", "apparel", 1, 9900},
};
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* The library's log: warnings and errors only (the options ask for nothing below LOY_LOG_WARN).
 * Called on the thread of the call being logged; `userdata` is the stream. */
static void LOY_CALL on_log(int32_t level, const char *message, void *userdata) {
  if (level < LOY_LOG_WARN) return;
  fprintf((FILE *)userdata, "libloyalty %s: %s\n", level >= LOY_LOG_ERROR ? "error" : "warning", message);
}

/* A failed call: its name, the status's name and the handle's detail (read at once: the next call on
 * the handle replaces it). */
static void till_failed(const loy_till *till, const char *call, loy_status status) {
  fprintf(stderr, "%s: %s (%s)\n", call, loy_status_str(status), loy_till_last_error(till));
}

static void checkout_failed(const loy_checkout *checkout, const char *call, loy_status status) {
  fprintf(stderr, "%s: %s (%s)\n", call, loy_status_str(status), loy_checkout_last_error(checkout));
}

/* One prompt as a line with the figures its code uses; a code from a newer library shows as its number. */
static void print_prompt(const loy_prompt_info *p) {
  printf("  prompt %d", (int)p->code);
  switch (p->code) {
    case LOY_PROMPT_BIRTHDAY_WINDOW: printf(" birthday window"); break;
    case LOY_PROMPT_FIRST_PURCHASE: printf(" first purchase: %d bp off", (int)p->rate_bp); break;
    case LOY_PROMPT_WINBACK: printf(" win-back after %lld days: %d bp off", (long long)p->days, (int)p->rate_bp); break;
    case LOY_PROMPT_POINTS_EXPIRING: printf(" %lld points expire on %s", (long long)p->points, p->date); break;
    case LOY_PROMPT_NEXT_TIER: printf(" %lld more to reach %s", (long long)p->spend_minor, p->tier); break;
    case LOY_PROMPT_NEGATIVE_BALANCE: printf(" negative balance %lld: no redemption", (long long)p->points); break;
    case LOY_PROMPT_OFFLINE:
      if (p->minutes < 0)
        printf(" offline: never synced");
      else
        printf(" offline for %lld minutes", (long long)p->minutes);
      break;
    default: break;
  }
  printf("\n");
}

/* "<label> M-1001 (L* F***), Gold, 5000 points, 2 prompts" and the prompts. `count` is how many the
 * member has, of which the first PROMPT_CAPACITY were written. */
static void print_member(const char *label, const loy_member_info *m, const loy_prompt_info *prompts, size_t count) {
  size_t i, shown = count < PROMPT_CAPACITY ? count : PROMPT_CAPACITY;
  printf("%s %s (%s), %s, %lld points, %lu prompts\n", label, m->member_id, m->masked_name, m->tier_name,
         (long long)m->available_points, (unsigned long)count);
  for (i = 0; i < shown; ++i) print_prompt(&prompts[i]);
  if (count > shown) printf("  (%lu more not shown)\n", (unsigned long)(count - shown));
}

/* Steps 3 and 4: a scan at the till, looked up with all its prompts. LOY_E_NOT_FOUND is no error for
 * the POS: the customer is not a member, and the sale goes on without one. Returns the status. */
static loy_status look_up(loy_till *till, const char *scanned) {
  loy_member_info member;
  loy_prompt_info prompts[PROMPT_CAPACITY];
  size_t count = 0;
  loy_status s;

  memset(&member, 0, sizeof member);
  member.struct_size = sizeof member;
  s = loy_till_lookup_v2(till, scanned, &member, prompts, sizeof prompts[0], PROMPT_CAPACITY, &count);
  if (s == LOY_E_NOT_FOUND) {
    printf("not a member: %s\n", loy_till_last_error(till));
  } else if (s != LOY_OK) {
    till_failed(till, "loy_till_lookup_v2", s);
  } else {
    print_member("member", &member, prompts, count);
  }
  return s;
}

/* Steps 2 and 10. LOY_E_NETWORK is the till offline: it goes on selling, its sales wait in the outbox
 * and the next sync sends them. Returns 1 when the sync succeeded. */
static int sync_now(loy_till *till) {
  loy_sync_result r;
  loy_status s;

  memset(&r, 0, sizeof r);
  r.struct_size = sizeof r;
  s = loy_till_sync(till, &r);
  if (s == LOY_E_NETWORK) {
    printf("offline, the sales wait in the outbox: %s\n", loy_till_last_error(till));
    return 0;
  }
  if (s != LOY_OK) {
    till_failed(till, "loy_till_sync", s);
    return 0;
  }
  printf("synced: %lld sent, %lld applied, %lld members\n", (long long)r.sent, (long long)r.applied,
         (long long)r.members);
  if (r.rejected > 0) printf("  %lld refused for good by headquarters (kept in the outbox)\n", (long long)r.rejected);
  return 1;
}

static const char *reason_text(int32_t reason) {
  switch (reason) {
    case LOY_REASON_NONE: return "no member discount";
    case LOY_REASON_TIER: return "tier discount";
    case LOY_REASON_FIRST_PURCHASE: return "first purchase";
    case LOY_REASON_WINBACK: return "win-back";
    default: return "member discount";
  }
}

/* Begins the coat and scarf sale of M-1001 (steps 5 and 7): identify, lines, redemption. On success
 * *out is the checkout, freed by the caller. A failed identify leaves a sale without a member, which a
 * POS would still sell; here it was expected to find one, so it fails. Returns 1 on success. */
static int begin_member_sale(loy_till *till, loy_checkout **out) {
  loy_checkout *co = NULL;
  loy_member_info member;
  loy_prompt_info prompts[PROMPT_CAPACITY];
  size_t count = 0, i;
  loy_status s;

  *out = NULL;
  s = loy_checkout_begin(till, &co);
  if (s != LOY_OK) {
    till_failed(till, "loy_checkout_begin", s);
    return 0;
  }
  memset(&member, 0, sizeof member);
  member.struct_size = sizeof member;
  s = loy_checkout_identify(co, "13800138000", &member);
  if (s == LOY_E_NOT_FOUND) {
    printf("not a member: %s\n", loy_checkout_last_error(co));
    goto fail;
  }
  if (s != LOY_OK) {
    checkout_failed(co, "loy_checkout_identify", s);
    goto fail;
  }
  s = loy_checkout_prompts(co, prompts, sizeof prompts[0], PROMPT_CAPACITY, &count);
  if (s != LOY_OK) {
    checkout_failed(co, "loy_checkout_prompts", s);
    goto fail;
  }
  print_member("identified", &member, prompts, count);
  for (i = 0; i < COUNT(coat_and_scarf); ++i) {
    s = loy_checkout_add_line(co, &coat_and_scarf[i]);
    if (s != LOY_OK) {
      checkout_failed(co, "loy_checkout_add_line", s);
      goto fail;
    }
  }
  s = loy_checkout_redeem(co, REDEEM_POINTS);
  if (s != LOY_OK) {
    checkout_failed(co, "loy_checkout_redeem", s);
    goto fail;
  }
  *out = co;
  return 1;

fail:
  loy_checkout_free(co);
  return 0;
}

/* Quotes the checkout into *q. Returns the status. */
static loy_status quote(loy_checkout *co, loy_quote *q) {
  loy_status s;
  memset(q, 0, sizeof *q);
  q->struct_size = sizeof *q;
  s = loy_checkout_quote(co, q);
  if (s != LOY_OK) checkout_failed(co, "loy_checkout_quote", s);
  return s;
}

/* The quote as the cashier's screen shows it, with its lines and any refusal. Returns the status. */
static loy_status print_quote(loy_checkout *co, const loy_quote *q) {
  loy_line_quote line;
  uint32_t i;
  loy_status s;

  printf("quote: gross %lld, member discount %lld, points redeemed %lld (value %lld), payable %lld, earns %lld\n",
         (long long)q->gross_minor, (long long)q->member_discount_minor, (long long)q->redeem_points,
         (long long)q->redeem_value_minor, (long long)q->payable_minor, (long long)q->points_earned);
  if (q->redeem_rejected != 0) printf("  redemption refused: %s\n", loy_redeem_refusal_str(q->redeem_rejected));
  if (q->coupon_rejected != 0) printf("  coupon refused: %s\n", loy_coupon_refusal_str(q->coupon_rejected));
  for (i = 0; i < q->line_count; ++i) {
    memset(&line, 0, sizeof line);
    line.struct_size = sizeof line;
    s = loy_checkout_line_quote(co, i, &line);
    if (s != LOY_OK) {
      checkout_failed(co, "loy_checkout_line_quote", s);
      return s;
    }
    printf("  line %s: net %lld, member discount %lld, points redeemed %lld (value %lld), earns %lld\n", line.id,
           (long long)line.net_minor, (long long)line.member_discount_minor, (long long)line.points_redeemed,
           (long long)line.redeem_value_minor, (long long)line.points_earned);
  }
  return LOY_OK;
}

/* Commits once payment is taken, into *committed. LOY_E_CONFLICT after a quote means the sale would
 * now be priced otherwise (another checkout spent the points or the coupon meanwhile): the POS quotes
 * again, settles the difference with the customer and commits again. A second conflict is the receipt
 * id used for another sale, which no quote mends. Returns the status. */
static loy_status commit(loy_checkout *co, const char *receipt_id, loy_quote *committed) {
  loy_status s;

  memset(committed, 0, sizeof *committed);
  committed->struct_size = sizeof *committed;
  s = loy_checkout_commit(co, receipt_id, committed);
  if (s == LOY_E_CONFLICT) {
    printf("priced otherwise now, quote again: %s\n", loy_checkout_last_error(co));
    s = quote(co, committed);
    if (s == LOY_OK) s = print_quote(co, committed);
    if (s != LOY_OK) return s;
    /* ... the cashier settles the difference ... */
    s = loy_checkout_commit(co, receipt_id, committed);
  }
  if (s != LOY_OK) checkout_failed(co, "loy_checkout_commit", s);
  return s;
}

/* Steps 5 and 6: the sale, quoted and committed. *committed is its result. Returns 1 on success. */
static int sell(loy_till *till, loy_quote *committed) {
  loy_checkout *co = NULL;
  loy_quote q;
  int ok = 0;

  if (!begin_member_sale(till, &co)) return 0;
  if (quote(co, &q) != LOY_OK || print_quote(co, &q) != LOY_OK) goto done;
  if (q.redeem_rejected != 0) goto done; /* expected accepted: the member has the points */
  /* ... the customer pays q.payable_minor ... */
  if (commit(co, "R-C-0001", committed) != LOY_OK) goto done;
  printf("committed R-C-0001: payable %lld, earned %lld\n", (long long)committed->payable_minor,
         (long long)committed->points_earned);
  ok = committed->replayed == 0;
done:
  loy_checkout_free(co);
  return ok;
}

/* Step 7: the POS never saw the commit's answer (a crash, a timeout) and commits the same receipt
 * again: the library returns the first result with replayed = 1 and makes no second sale. */
static int retry_commit(loy_till *till, const loy_quote *first) {
  loy_checkout *co = NULL;
  loy_quote again;
  int ok = 0;

  if (!begin_member_sale(till, &co)) return 0;
  if (commit(co, "R-C-0001", &again) != LOY_OK) goto done;
  if (again.replayed != 1 || again.payable_minor != first->payable_minor) {
    fprintf(stderr, "retry of R-C-0001: replayed %d, payable %lld: a second sale?\n", (int)again.replayed,
            (long long)again.payable_minor);
    goto done;
  }
  printf("retry of R-C-0001: replayed, no second sale\n");
  ok = 1;
done:
  loy_checkout_free(co);
  return ok;
}

/* Step 8: the customer brings the scarf back. */
static int refund_scarf(loy_till *till) {
  loy_refund_item item;
  loy_refund_result r;
  loy_status s;

  memset(&item, 0, sizeof item);
  item.struct_size = sizeof item;
  item.line_id = "2";
  item.units = 1;
  memset(&r, 0, sizeof r);
  r.struct_size = sizeof r;
  s = loy_till_refund(till, "F-C-0001", "R-C-0001", &item, 1, &r);
  if (s == LOY_E_STATE) {
    printf("nothing of that line left to refund: %s\n", loy_till_last_error(till));
    return 0;
  }
  if (s != LOY_OK) {
    till_failed(till, "loy_till_refund", s);
    return 0;
  }
  printf("refunded F-C-0001: %lld back, %lld points taken back, %lld given back\n", (long long)r.amount_minor,
         (long long)r.points_taken_back, (long long)r.points_given_back);
  if (r.negative_balance) printf("  balance %lld: no redemption until it is positive\n", (long long)r.balance_after);
  return 1;
}

/* Step 9: a new customer enrolls at the till and buys at once, with the first-purchase offer. A phone
 * that is already a member (LOY_E_CONFLICT) is identified instead. */
static int enroll_and_sell(loy_till *till) {
  loy_checkout *co = NULL;
  loy_enrollment e;
  loy_member_info member;
  loy_quote q, committed;
  size_t i;
  loy_status s;
  int ok = 0;

  s = loy_checkout_begin(till, &co);
  if (s != LOY_OK) {
    till_failed(till, "loy_checkout_begin", s);
    return 0;
  }
  memset(&e, 0, sizeof e);
  e.struct_size = sizeof e;
  e.phone = "13712345678";
  e.name = "Zhao Lei";
  e.birthday = "03-15";
  e.consent = "consent form v2 signed at till T01";
  memset(&member, 0, sizeof member);
  member.struct_size = sizeof member;
  s = loy_checkout_enroll(co, &e, &member);
  if (s == LOY_E_CONFLICT) {
    printf("already a member, identified instead: %s\n", loy_checkout_last_error(co));
    s = loy_checkout_identify(co, e.phone, &member);
    if (s != LOY_OK) {
      checkout_failed(co, "loy_checkout_identify", s);
      goto done;
    }
  } else if (s != LOY_OK) {
    checkout_failed(co, "loy_checkout_enroll", s);
    goto done;
  }
  for (i = 0; i < COUNT(first_tee); ++i) {
    s = loy_checkout_add_line(co, &first_tee[i]);
    if (s != LOY_OK) {
      checkout_failed(co, "loy_checkout_add_line", s);
      goto done;
    }
  }
  if (quote(co, &q) != LOY_OK) goto done;
  if (commit(co, "R-C-0002", &committed) != LOY_OK) goto done;
  printf("enrolled %s: %s, payable %lld\n", member.member_id, reason_text(committed.member_discount_reason),
         (long long)committed.payable_minor);
  ok = committed.member_discount_reason == LOY_REASON_FIRST_PURCHASE;
done:
  loy_checkout_free(co);
  return ok;
}

/* Step 10: after a successful sync headquarters has everything: the outbox is empty. */
static int check_status(loy_till *till) {
  loy_till_status st;
  loy_status s;

  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  s = loy_till_status_get(till, &st);
  if (s != LOY_OK) {
    till_failed(till, "loy_till_status_get", s);
    return 0;
  }
  printf("status: outbox %lld, members %lld, rules %s\n", (long long)st.outbox_depth, (long long)st.members,
         st.rules_version);
  if (st.outbox_depth != 0) {
    fprintf(stderr, "outbox not empty after a sync: %lld held, %lld rejected, last sync error \"%s\"\n",
            (long long)st.held, (long long)st.rejected, st.last_sync_error);
    return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  loy_till_options options;
  loy_till *till = NULL;
  char error[512];
  uint32_t version = loy_version();
  loy_quote sale;
  loy_status s;
  int ok = 0;

  if (argc != 2) {
    fprintf(stderr, "usage: %s CONFIG_PATH\n", argv[0]);
    return 2;
  }
  /* Lines in order with the library's log on stderr, even when stdout is a pipe. */
  setvbuf(stdout, NULL, _IOLBF, BUFSIZ);
  /* A library of another major, or older than this header, does not know its structs' sizes. */
  if (version >> 16 != LOY_VERSION_MAJOR || version >> 8 < (uint32_t)LOY_VERSION >> 8) {
    fprintf(stderr, "libloyalty %u.%u.%u is loaded; this program needs %d.%d or a later %d.x\n",
            (unsigned)(version >> 16), (unsigned)(version >> 8 & 0xff), (unsigned)(version & 0xff),
            LOY_VERSION_MAJOR, LOY_VERSION_MINOR, LOY_VERSION_MAJOR);
    return 1;
  }

  /* 1. Open the till. */
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  options.log = on_log;
  options.log_userdata = stderr;
  options.log_level = LOY_LOG_WARN;
  s = loy_till_open(argv[1], &options, &till, error, sizeof error);
  if (s != LOY_OK) {
    fprintf(stderr, "loy_till_open: %s (%s)\n", loy_status_str(s), error);
    return 1;
  }
  printf("opened: libloyalty %u.%u.%u\n", (unsigned)(version >> 16), (unsigned)(version >> 8 & 0xff),
         (unsigned)(version & 0xff));

  /* 2. Rules and members come down. Offline, a till that synced before sells on its cache; this
   *    one has never synced, so the lookups below would find no rules. */
  if (!sync_now(till)) goto done;
  /* 3. A member's card. */
  if (look_up(till, "LC-0001-2345") != LOY_OK) goto done;
  /* 4. A phone that is no member's: the sale goes on without one. */
  if (look_up(till, "13700000000") != LOY_E_NOT_FOUND) goto done;
  /* 5, 6. Sell to the member, redeeming points. */
  if (!sell(till, &sale)) goto done;
  /* 7. Commit the same receipt again. */
  if (!retry_commit(till, &sale)) goto done;
  /* 8. Refund the scarf. */
  if (!refund_scarf(till)) goto done;
  /* 9. Enroll a new customer with a first purchase. */
  if (!enroll_and_sell(till)) goto done;
  /* 10. Send it all to headquarters. */
  if (!sync_now(till) || !check_status(till)) goto done;
  ok = 1;

done:
  /* 11. */
  loy_till_close(till);
  printf("%s\n", ok ? "done" : "failed");
  return ok ? 0 : 1;
}
