/* traceback.c -- backtraces of goroutine stacks, and their symbols.
 *
 * Unwinding: frame pointers, from the saved context. weft is built with
 * -fno-omit-frame-pointer, so every frame of weft and of code built the
 * same way links to its caller. A switched-out goroutine's context holds
 * its frame pointer and return address (arch/x86_64/switch.S: rbp at
 * sp[5], the return address at sp[6]; aarch64: x29, x30 at sp[10], sp[11];
 * ucontext: the saved registers). The walk then follows [fp] -> caller's
 * fp, [fp + 8] -> return address.
 *
 * Why not libunwind's DWARF unwinder for these stacks: a dump of a live
 * program (SIGQUIT, the leak report) can read a goroutine's context while
 * it resumes, or while it is between "status = waiting" and the save of
 * its registers. Its stack then holds anything, and libunwind's local
 * unwinder dereferences whatever it finds. The walk here reads only inside
 * the goroutine's own stack [stack.lo, record), which is always mapped
 * (stacks are never unmapped, stack.c), and only upwards, so garbage ends
 * the walk instead of faulting. A frame of code built without frame
 * pointers (most of libc) is skipped or ends the walk; a dump when every
 * goroutine is parked (a deadlock) is exact for code built with them.
 *
 * Symbols: libunwind, when the build found it (WEFT_HAVE_LIBUNWIND), reads
 * the full ELF symbol table (static functions included) of the module that
 * holds a pc; dladdr (exported symbols only) is the fallback. Each frame
 * also names its module and the offset in it, for addr2line. Lookups are
 * cached: a dump of many goroutines repeats the same return addresses.
 * The cache is used under dump.c's lock only.
 *
 * The walkers are not instrumented by the sanitizers: they read other
 * goroutines' stacks, whose red zones ASan poisons and whose writes TSan
 * never saw (the switch is assembly).
 */
#include <dlfcn.h>
#include <string.h>

#include "debug/traceback.h"

#ifdef WEFT_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

#define NO_SANITIZE __attribute__((no_sanitize("address", "thread")))

/* Follows the frame-pointer chain from (pc, fp) inside [lo, hi). */
static NO_SANITIZE int fp_walk(uintptr_t pc, uintptr_t fp, uintptr_t lo,
                               uintptr_t hi, uintptr_t *pcs, int max) {
  int n = 0;
  if (pc && n < max)
    pcs[n++] = pc;
  while (n < max && fp >= lo && fp <= hi - 2 * sizeof(uintptr_t) &&
         fp % sizeof(uintptr_t) == 0) {
    const volatile uintptr_t *frame = (const volatile uintptr_t *)fp;
    uintptr_t next = frame[0], ret = frame[1];
    if (ret == 0)
      break;
    pcs[n++] = ret;
    if (next <= fp) /* callers live higher up; anything else is garbage */
      break;
    fp = next;
  }
  return n;
}

NO_SANITIZE int weft__traceback_parked(const weft__g *g, uintptr_t *pcs,
                                       int max) {
  uintptr_t lo = (uintptr_t)g->stack.lo, hi = (uintptr_t)g;
  uintptr_t pc, fp;
#if defined(WEFT_SWITCH_UCONTEXT) && defined(__x86_64__)
  const volatile greg_t *r = g->ctx.uc.uc_mcontext.gregs;
  pc = (uintptr_t)r[REG_RIP];
  fp = (uintptr_t)r[REG_RBP];
#elif defined(WEFT_SWITCH_UCONTEXT) && defined(__aarch64__)
  const volatile unsigned long long *r = g->ctx.uc.uc_mcontext.regs;
  pc = (uintptr_t)r[30];
  fp = (uintptr_t)r[29];
#elif defined(WEFT_SWITCH_UCONTEXT)
  return 0; /* no register layout known for this target */
#else
  uintptr_t sp = (uintptr_t)*(void *const volatile *)&g->ctx.sp;
#if defined(__x86_64__)
  enum { FP_SLOT = 5, PC_SLOT = 6 };
#else
  enum { FP_SLOT = 10, PC_SLOT = 11 };
#endif
  if (sp < lo || sp > hi - (PC_SLOT + 1) * sizeof(uintptr_t))
    return 0;
  pc = ((const volatile uintptr_t *)sp)[PC_SLOT];
  fp = ((const volatile uintptr_t *)sp)[FP_SLOT];
#endif
  return fp_walk(pc, fp, lo, hi, pcs, max);
}

int weft__traceback_self(const weft__g *g, uintptr_t fp, uintptr_t *pcs,
                         int max) {
  return fp_walk(0, fp, (uintptr_t)g->stack.lo, (uintptr_t)g, pcs, max);
}

int weft__traceback_bounded(uintptr_t fp, uintptr_t lo, uintptr_t hi,
                            uintptr_t *pcs, int max) {
  return fp_walk(0, fp, lo, hi, pcs, max);
}

/* ---- symbols ----------------------------------------------------------- */

#define CACHE 512 /* direct-mapped, by pc */

typedef struct sym {
  uintptr_t pc;       /* 0: empty */
  uintptr_t off;      /* pc - function start */
  uintptr_t mod_off;  /* pc - module base */
  const char *module; /* dladdr's file name; lives as long as the module */
  char name[112];     /* "" if unknown */
} sym;

static sym cache[CACHE];

static void lookup(uintptr_t pc, sym *s) {
  uintptr_t at = pc - 1; /* inside the call, even if it ends the function */
  s->pc = pc;
  s->name[0] = '\0';
  s->module = NULL;
  s->off = s->mod_off = 0;
  Dl_info info;
  if (dladdr((void *)at, &info) != 0) {
    s->module = info.dli_fname;
    s->mod_off = pc - (uintptr_t)info.dli_fbase;
    if (info.dli_sname && info.dli_saddr) {
      strncpy(s->name, info.dli_sname, sizeof s->name - 1);
      s->name[sizeof s->name - 1] = '\0';
      s->off = pc - (uintptr_t)info.dli_saddr;
    }
  }
#ifdef WEFT_HAVE_LIBUNWIND
  if (s->name[0] == '\0') {
    unw_addr_space_t as = unw_local_addr_space;
    unw_accessors_t *acc = unw_get_accessors(as);
    unw_word_t off = 0;
    if (acc && acc->get_proc_name &&
        acc->get_proc_name(as, (unw_word_t)at, s->name, sizeof s->name, &off,
                           NULL) == 0)
      s->off = (uintptr_t)off + 1;
    else
      s->name[0] = '\0';
  }
#endif
}

static const sym *resolve(uintptr_t pc) {
  sym *s = &cache[(pc >> 2) % CACHE];
  if (s->pc != pc)
    lookup(pc, s);
  return s;
}

const char *weft__pc_name(uintptr_t pc, uintptr_t *off) {
  const sym *s = resolve(pc);
  if (off)
    *off = s->off;
  return s->name[0] ? s->name : NULL;
}

int weft__pc_is_switch(uintptr_t pc) {
  static const char *const names[] = {
      "weft__ctx_switch", "do_switch", "switch_common",
      "weft__schedule_away", "weft__switch_to",
  };
  const char *n = weft__pc_name(pc, NULL);
  if (n == NULL)
    return 0;
  size_t len = strcspn(n, "."); /* gcc's clones: switch_common.constprop.0 */
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i]) == len && strncmp(n, names[i], len) == 0)
      return 1;
  return 0;
}

void weft__print_pc(FILE *out, uintptr_t pc, const char *prefix,
                    const char *suffix) {
  const sym *s = resolve(pc);
  if (s->name[0])
    fprintf(out, "%s%s+0x%lx%s\n", prefix, s->name, (unsigned long)s->off,
            suffix);
  else
    fprintf(out, "%s?? %#lx%s\n", prefix, (unsigned long)pc, suffix);
  if (s->module)
    fprintf(out, "\t%s +0x%lx\n", s->module, (unsigned long)s->mod_off);
}
