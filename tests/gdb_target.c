/* gdb_target.c -- the program that tests/gdb_test.sh debugs: two goroutines
 * parked in named functions, then a stop at gdb_breakpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

static weft_chan *c;
static volatile int sink;

__attribute__((noinline)) void gdb_park_recv(void *arg) {
  (void)arg;
  int v;
  weft_recv(c, &v);
  sink++;
}

__attribute__((noinline)) void gdb_park_sleep(void *arg) {
  (void)arg;
  weft_sleep(3600 * WEFT_SEC);
  sink++;
}

__attribute__((noinline)) void gdb_breakpoint(void) {
  __asm__ __volatile__("" ::: "memory");
}

static int parked(void) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    exit(1);
  weft_dump(f);
  fclose(f);
  int ok = strstr(buf, "[chan receive]") && strstr(buf, "[sleep");
  free(buf);
  return ok;
}

int main(void) {
  c = weft_chan_make(sizeof(int), 0);
  weft_go_options o = {0, "receiver"};
  if (weft_go_opts(gdb_park_recv, NULL, &o) != 0)
    return 1;
  o.name = "sleeper";
  if (weft_go_opts(gdb_park_sleep, NULL, &o) != 0)
    return 1;
  while (!parked())
    weft_sleep(WEFT_MS);
  gdb_breakpoint();
  printf("done\n");
  return 0;
}
