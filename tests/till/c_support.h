/* Helpers shared by the C consumers of the tests (C99). */
#ifndef LOYALTY_TESTS_C_SUPPORT_H
#define LOYALTY_TESTS_C_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>

/* The whole file at `path`, malloc'ed (the caller frees it), its length in *size; NULL on failure. */
static char *slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

#endif
