/* A POS written in C: uses libloyalty through its header alone. Usage: c_consumer CONFIG RULES CHANGES */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty/loyalty.h"
#include "c_support.h"


#define CHECK(call)                                                                          \
  do {                                                                                       \
    loy_status s_ = (call);                                                                  \
    if (s_ != LOY_OK) {                                                                      \
      fprintf(stderr, "%s: %s (%s)\n", #call, loy_status_str(s_), loy_till_last_error(till)); \
      return 1;                                                                              \
    }                                                                                        \
  } while (0)

int main(int argc, char **argv) {
  loy_till *till = NULL;
  char error[256];
  size_t rules_size = 0, changes_size = 0;
  char *rules, *changes;
  loy_member_info member;
  loy_till_status status;

  if (argc != 4) return 2;
  if (loy_version() >> 16 != LOY_VERSION_MAJOR) return 3;
  if (loy_till_open(argv[1], NULL, &till, error, sizeof error) != LOY_OK) {
    fprintf(stderr, "open: %s\n", error);
    return 1;
  }
  rules = slurp(argv[2], &rules_size);
  changes = slurp(argv[3], &changes_size);
  if (!rules || !changes) return 4;
  CHECK(loy_till_apply_rules(till, rules, rules_size));
  CHECK(loy_till_apply_changes(till, changes, changes_size));

  memset(&member, 0, sizeof member);
  member.struct_size = sizeof member;
  CHECK(loy_till_lookup(till, "+86 138-0013-8000", &member));
  printf("member %s (%s), %s, %lld points\n", member.member_id, member.masked_name, member.tier_name,
         (long long)member.available_points);

  memset(&status, 0, sizeof status);
  status.struct_size = sizeof status;
  CHECK(loy_till_status_get(till, &status));
  printf("cache version %lld, %lld members, rules %s\n", (long long)status.cache_version,
         (long long)status.members, status.rules_version);

  loy_till_close(till);
  free(rules);
  free(changes);
  return strcmp(member.member_id, "M-1001") == 0 ? 0 : 5;
}
