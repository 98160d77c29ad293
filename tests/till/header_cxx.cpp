// The header compiles alone as C++.
#include "loyalty/loyalty.h"
int loyalty_header_cxx() { return LOY_OK; }
