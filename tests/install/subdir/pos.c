/* A vendor's POS that builds libloyalty from source beside it. */
#include <stdio.h>

#include "loyalty/loyalty.h"

int main(void) {
  const uint32_t v = loy_version();
  printf("libloyalty %u.%u.%u\n", (unsigned)(v >> 16), (unsigned)((v >> 8) & 0xFF), (unsigned)(v & 0xFF));
  return v == LOY_VERSION ? 0 : 1;
}
