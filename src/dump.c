/* dump.c -- the goroutine dump (weft_dump). A placeholder until the
 * goroutine registry lands: it prints the count only. */
#include <inttypes.h>

#include "runtime.h"

void weft_dump(FILE *out) {
  fprintf(out, "weft: %d goroutines\n", weft_num_goroutines());
}
