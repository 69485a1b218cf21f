/* msgpuck's out-of-line part (its parser tables and non-inline functions), compiled here from
 * Debian's own msgpuck.h: that is all libmsgpuck.a holds, and Debian builds it without
 * position-independent code, so a shared object (the Python extension) cannot link it. Built only
 * with MPC_COMM_MSGPUCK_FROM_HEADER. */
#define MP_SOURCE 1
#include <msgpuck.h>
