/*
 * parallel_files.c -- many goroutines hashing files with blocking reads,
 * while a ticker goroutine keeps its beat.
 *
 * In Go:
 *
 *     for _, name := range files {
 *         go func(name string) {
 *             f, _ := os.Open(name)
 *             io.Copy(h, f)             // read(2) after read(2)
 *             results <- h.Sum64()
 *         }(name)
 *     }
 *
 * A regular file cannot be polled: read(2) on it blocks in the kernel
 * (on a cold cache, for a disk). weft_fd_read on a regular file does what
 * Go's os.File does: the read runs inside weft_syscall_enter/_exit, so a
 * read that blocks gives its P to another thread and the other goroutines
 * run on; and since such a call never parks, it also yields to goroutines
 * waiting for its P, so readers that find everything in the page cache
 * still take turns. Here 24 goroutines on 2 Ps hash 24 files of 2 MiB,
 * 64 KiB a read, several times over, while a ticker counts 5 ms ticks.
 *
 * Run: ./parallel_files
 */
#include <weft.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILES 24
#define FILE_SIZE (2 << 20)
#define CHUNK (64 << 10)
#define PASSES 4
#define TICK (5 * WEFT_MS)

static int failures;

static void check(int ok, const char *what) {
  printf("  %-58s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok)
    failures++;
}

static char dir[] = "/tmp/weft-parallel-files-XXXXXX";
static uint64_t expected[FILES], got[FILES];
static atomic_int hashed_ok;
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static void path_of(int i, char *out, size_t cap) {
  snprintf(out, cap, "%s/file%02d", dir, i);
}

/* File i holds bytes from a generator seeded with i; its hash is known. */
static int make_file(int i) {
  char path[128];
  path_of(i, path, sizeof path);
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  static unsigned char buf[CHUNK];
  uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + 1, h = 0xcbf29ce484222325ull;
  for (int off = 0; off < FILE_SIZE; off += CHUNK) {
    for (int k = 0; k < CHUNK; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      buf[k] = (unsigned char)x;
    }
    h = fnv1a(h, buf, CHUNK);
    if (weft_fd_write(fd, buf, CHUNK) != CHUNK)
      return -EIO;
  }
  expected[i] = h;
  return weft_fd_close(fd);
}

static void hasher(void *arg) {
  int i = (int)(intptr_t)arg;
  char path[128];
  path_of(i, path, sizeof path);
  unsigned char *buf = malloc(CHUNK);
  int ok = buf != NULL;
  for (int pass = 0; pass < PASSES && ok; pass++) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t h = 0xcbf29ce484222325ull;
    ssize_t n;
    while (fd >= 0 && (n = weft_fd_read(fd, buf, CHUNK)) > 0)
      h = fnv1a(h, buf, (size_t)n);
    ok = fd >= 0 && weft_fd_close(fd) == 0 && h == expected[i];
    got[i] = h;
  }
  if (ok)
    atomic_fetch_add(&hashed_ok, 1);
  free(buf);
  weft_wg_done(&wg);
}

static atomic_int stop;
static int ticks;
static int64_t worst_gap; /* the longest time between two ticks */

static void ticker(void *arg) {
  weft_timer *t = weft_ticker_new(TICK);
  int64_t last = weft_now();
  while (!atomic_load(&stop)) {
    int64_t when;
    weft_recv(weft_timer_chan(t), &when);
    int64_t now = weft_now();
    if (now - last > worst_gap)
      worst_gap = now - last;
    last = now;
    ticks++;
  }
  weft_timer_free(t);
  weft_wg_done(arg);
}

static int app(int argc, char **argv) {
  (void)argc, (void)argv;
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  for (int i = 0; i < FILES; i++)
    if (make_file(i) != 0) {
      fprintf(stderr, "cannot write the files in %s\n", dir);
      return 1;
    }
  printf("%d goroutines hash %d files of %d MiB, %d times, on %d Ps\n",
         FILES, FILES, FILE_SIZE >> 20, PASSES, weft_procs(0));
  weft_waitgroup tick_wg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&tick_wg, 1);
  weft_go(ticker, &tick_wg);
  int64_t t0 = weft_now();
  weft_wg_add(&wg, FILES);
  for (int i = 0; i < FILES; i++)
    weft_go(hasher, (void *)(intptr_t)i);
  weft_wg_wait(&wg);
  int64_t took = weft_now() - t0;
  atomic_store(&stop, 1);
  weft_wg_wait(&tick_wg);

  char what[96];
  snprintf(what, sizeof what, "every file's hash is right (%d of %d)",
           atomic_load(&hashed_ok), FILES);
  check(atomic_load(&hashed_ok) == FILES, what);
  int due = (int)(took / TICK);
  snprintf(what, sizeof what, "the ticker kept its beat: %d ticks of %d due in %.0f ms",
           ticks, due, (double)took / WEFT_MS);
  check(ticks + 2 >= due / 2, what); /* without the yields: 1 in 54 */
  snprintf(what, sizeof what, "never 100 ms without a tick (the longest gap %.1f ms)",
           (double)worst_gap / WEFT_MS);
  check(worst_gap < 100 * WEFT_MS, what);

  for (int i = 0; i < FILES; i++) {
    char path[128];
    path_of(i, path, sizeof path);
    unlink(path);
  }
  rmdir(dir);
  printf("%s\n", failures ? "FAILED" : "all ok");
  return failures != 0;
}

int main(int argc, char **argv) { return weft_main(app, argc, argv); }
