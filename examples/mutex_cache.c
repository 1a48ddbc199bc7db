/*
 * mutex_cache.c -- shared state behind sync.Mutex and sync.RWMutex.
 *
 * Channels are Go's first answer to sharing, but a cache is the textbook
 * case for a lock: many goroutines look things up in one table. In Go:
 *
 *     type Cache struct {
 *         mu sync.Mutex
 *         m  map[int]uint64
 *     }
 *
 *     func (c *Cache) Get(k int) uint64 {
 *         c.mu.Lock()
 *         defer c.mu.Unlock()
 *         v, ok := c.m[k]
 *         if !ok {
 *             v = compute(k)
 *             c.m[k] = v
 *         }
 *         return v
 *     }
 *
 * and, for data that is read all the time and changed rarely, an RWMutex:
 *
 *     func (t *Table) Lookup(i int) Route { t.mu.RLock(); defer t.mu.RUnlock(); ... }
 *     func (t *Table) Update(...)         { t.mu.Lock();  defer t.mu.Unlock();  ... }
 *
 * weft_mutex and weft_rwmutex are the same types, as plain structs that are
 * ready when zeroed (like Go's zero values) and need no destroy call. A
 * goroutine that has to wait for one is parked; its OS thread goes on
 * running other goroutines, so a thousand goroutines queued on one lock
 * cost a thousand small records, not a thousand blocked threads.
 *
 * Run: ./mutex_cache
 */
#include <weft.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what) {
  printf("  %-56s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok) failures++;
}

static void go_or_die(void (*fn)(void *), void *arg) {
  int rc = weft_go(fn, arg);
  if (rc != 0) {
    fprintf(stderr, "weft_go: %s\n", strerror(-rc));
    exit(1);
  }
}

/* ---- 1. a Mutex-guarded cache ------------------------------------------ */

enum {
  KEYS = 1000,       /* distinct keys the goroutines ask for */
  SLOTS = 2048,      /* hash table slots (a power of two, > KEYS) */
  CACHE_USERS = 16,  /* goroutines sharing the cache */
  LOOKUPS = 20000,   /* lookups per goroutine */
};

/* C has no map: a small open-addressing hash table stands in for one. */
typedef struct cache {
  weft_mutex mu; /* guards everything below it */
  bool used[SLOTS];
  int key[SLOTS];
  uint64_t val[SLOTS];
  long misses; /* how many times compute() ran */
} cache;

static cache the_cache = {.mu = WEFT_MUTEX_INIT};

/* The "expensive" computation the cache saves us from repeating. */
static uint64_t compute(int k) { return (uint64_t)k * k + 1; }

static uint64_t cache_get(cache *c, int k) {
  /* One lock around lookup *and* insert. Were they two critical sections
   * (look up, unlock, compute, lock, insert), two goroutines could both
   * miss the same key and both compute it: still correct here, but the
   * miss count below would no longer be exact. */
  weft_mutex_lock(&c->mu);
  unsigned i = (unsigned)k * 2654435761u % SLOTS;
  while (c->used[i] && c->key[i] != k) i = (i + 1) % SLOTS;
  if (!c->used[i]) {
    c->used[i] = true;
    c->key[i] = k;
    c->val[i] = compute(k); /* under the lock: simple, and it serializes */
    c->misses++;
  }
  uint64_t v = c->val[i];
  /* Go would `defer c.mu.Unlock()`. In C, every return path must unlock
   * by hand, which is why this function has exactly one. */
  weft_mutex_unlock(&c->mu);
  return v;
}

static weft_waitgroup cache_wg = WEFT_WAITGROUP_INIT;
static long wrong_values[CACHE_USERS]; /* one slot per goroutine: no lock */

static void cache_user(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < LOOKUPS; i++) {
    int k = (i * 7919 + id * 31) % KEYS; /* every goroutine visits all keys */
    if (cache_get(&the_cache, k) != compute(k)) wrong_values[id]++;
  }
  weft_wg_done(&cache_wg);
}

static void mutex_cache(void) {
  printf("Mutex: %d goroutines x %d lookups of %d keys\n", CACHE_USERS,
         LOOKUPS, KEYS);
  weft_wg_add(&cache_wg, CACHE_USERS);
  for (int g = 0; g < CACHE_USERS; g++)
    go_or_die(cache_user, (void *)(intptr_t)g);
  weft_wg_wait(&cache_wg);

  /* Every goroutine is done, and the WaitGroup orders their writes before
   * this point, so main may read the table without the lock. */
  long wrong = 0, entries = 0, bad_entries = 0;
  for (int g = 0; g < CACHE_USERS; g++) wrong += wrong_values[g];
  for (int i = 0; i < SLOTS; i++) {
    if (!the_cache.used[i]) continue;
    entries++;
    bad_entries += the_cache.val[i] != compute(the_cache.key[i]);
  }
  long total = (long)CACHE_USERS * LOOKUPS;
  printf("  %ld lookups: %ld misses, %ld hits, %ld entries\n", total,
         the_cache.misses, total - the_cache.misses, entries);
  check(wrong == 0, "every lookup returned compute(key)");
  check(entries == KEYS && bad_entries == 0,
        "the table holds each key once, with the right value");
  check(the_cache.misses == KEYS, "each key was computed exactly once");
}

/* ---- 2. an RWMutex-guarded table: many readers, few writers ------------ */

enum {
  ROUTES = 64,      /* entries in the table */
  READERS = 15,     /* goroutines that only read */
  READS = 20000,    /* lookups per reader */
  WRITES = 200,     /* updates by the one writer */
};

/* A routing table that is replaced as a whole now and then. Each update
 * writes version and every entry; a reader that saw some entries of one
 * version and some of another would have read a torn table. */
typedef struct table {
  weft_rwmutex mu;
  uint64_t version;
  uint64_t route[ROUTES]; /* route[i] == version * ROUTES + i */
} table;

static table the_table = {.mu = WEFT_RWMUTEX_INIT};

typedef struct reader_stats {
  long reads, torn;
  uint64_t first_version, last_version;
} reader_stats;

static reader_stats stats[READERS];
static weft_waitgroup table_wg = WEFT_WAITGROUP_INIT;

static void reader(void *arg) {
  reader_stats *st = arg;
  for (int i = 0; i < READS; i++) {
    /* Any number of readers hold the read lock at once; they only keep
     * out a writer. */
    weft_rwmutex_rlock(&the_table.mu);
    uint64_t v = the_table.version;
    bool torn = false;
    for (int r = 0; r < ROUTES; r++)
      torn |= the_table.route[r] != v * ROUTES + (uint64_t)r;
    weft_rwmutex_runlock(&the_table.mu);

    if (i == 0) st->first_version = v;
    st->last_version = v;
    st->reads++;
    st->torn += torn;
    /* Scheduling is cooperative: a goroutine that never blocks keeps its P
     * until it returns. Yielding now and then lets the writer in between
     * reads, so readers see the table change while they run. */
    if (i % 64 == 63) weft_yield();
  }
  weft_wg_done(&table_wg);
}

static void writer(void *arg) {
  (void)arg;
  for (int w = 0; w < WRITES; w++) {
    /* Lock waits for the readers inside to leave, and holds back readers
     * that arrive meanwhile, so a steady stream of readers cannot starve
     * the writer (Go's RWMutex promises the same). */
    weft_rwmutex_lock(&the_table.mu);
    the_table.version++;
    for (int r = 0; r < ROUTES; r++)
      the_table.route[r] = the_table.version * ROUTES + (uint64_t)r;
    weft_rwmutex_unlock(&the_table.mu);
    weft_sleep(20 * WEFT_US); /* updates are rare; readers run meanwhile */
  }
  weft_wg_done(&table_wg);
}

static void rwmutex_table(void) {
  printf("RWMutex: %d readers x %d lookups, 1 writer x %d updates\n", READERS,
         READS, WRITES);
  for (int r = 0; r < ROUTES; r++) the_table.route[r] = (uint64_t)r;
  weft_wg_add(&table_wg, READERS + 1);
  for (int g = 0; g < READERS; g++) go_or_die(reader, &stats[g]);
  go_or_die(writer, NULL);
  weft_wg_wait(&table_wg);

  long reads = 0, torn = 0, saw_change = 0;
  for (int g = 0; g < READERS; g++) {
    reads += stats[g].reads;
    torn += stats[g].torn;
    saw_change += stats[g].first_version != stats[g].last_version;
  }
  /* How the reads and writes interleaved depends on timing: shown, not
   * checked. */
  printf("  %ld of %d readers saw the table change while they ran\n",
         saw_change, READERS);
  printf("  final version %" PRIu64 ", %ld reads, %ld torn\n",
         the_table.version, reads, torn);
  check(reads == (long)READERS * READS, "every read ran");
  check(torn == 0, "no reader saw a half-written table");
  check(the_table.version == WRITES, "every update is in");
}

int main(void) {
  mutex_cache();
  rwmutex_table();
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("mutex_cache ok\n");
  return 0;
}
