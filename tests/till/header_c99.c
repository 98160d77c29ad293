/* The header compiles alone as C99. */
#include "loyalty/loyalty.h"
int loyalty_header_c99(void) { return LOY_OK; }
