# weft-gdb.py -- goroutines in gdb, in the spirit of Go's runtime-gdb.py.
#
#   (gdb) source scripts/weft-gdb.py     (or: gdb -x scripts/weft-gdb.py)
#   (gdb) info goroutines                every live goroutine: id, state, name
#   (gdb) goroutine 7 bt                 backtrace of goroutine 7
#   (gdb) goroutine 7 info registers     any command, run in its context
#
# Needs the program's weft built with debug information (-g; the default
# RelWithDebInfo build has it): the script reads weft's own structures.
#
# How it finds goroutines: as weft_dump does (src/debug/dump.c). weft__stack_arenas
# lists every stack arena; each slot's stack holds its goroutine's record
# (weft__g) at the top, 64-byte aligned; a record is live while its magic is
# 0x77656674 and its status is not DEAD.
#
# How "goroutine N cmd" works: a goroutine that is switched out saved its
# registers on its own stack (src/arch/x86_64/switch.S: r15 r14 r13 r12 rbx
# rbp and the return address, from ctx.sp up; or a ucontext in the
# ucontext build). The command loads them into the selected thread's
# registers, runs cmd, and puts the thread's own registers back. A running
# goroutine is on some thread: use "thread apply all bt" for those.

import gdb

MAGIC = 0x77656674
STATUS = {0: "runnable", 1: "running", 2: "waiting", 3: "dead", 4: "syscall"}
SAVED = ["r15", "r14", "r13", "r12", "rbx", "rbp"]  # from ctx.sp up
# Indices of gregs in the x86-64 ucontext (sys/ucontext.h).
UC_REGS = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10, "rbx": 11,
           "rsp": 15, "rip": 16}


def _gtype():
    return gdb.lookup_type("weft__g")


def goroutines():
    """Yields (address, gdb.Value of weft__g) for every live goroutine."""
    gt = _gtype()
    gptr = gt.pointer()
    arena = gdb.parse_and_eval("weft__stack_arenas")
    while int(arena) != 0:
        base, slot = int(arena["base"]), int(arena["slot"])
        size, n = int(arena["size"]), int(arena["n"])
        guard = slot - size
        for i in range(n):
            lo = base + i * slot + guard
            addr = (lo + size - gt.sizeof) & ~63
            g = gdb.Value(addr).cast(gptr).dereference()
            try:
                if int(g["magic"]) != MAGIC or int(g["status"]) == 3:
                    continue
            except gdb.MemoryError:
                continue
            yield addr, g
        arena = arena["next"]


def _cstr(v):
    p = int(v)
    if p == 0:
        return ""
    return v.cast(gdb.lookup_type("char").pointer()).string()


def _symbol(pc):
    out = gdb.execute("info symbol 0x%x" % pc, to_string=True).strip()
    return out.split(" in section")[0] if not out.startswith("No symbol") \
        else "0x%x" % pc


def state(g):
    s = int(g["status"])
    if s == 2:
        return _cstr(g["wait_reason"]) or "waiting"
    return STATUS.get(s, "?")


def find(goid):
    for addr, g in goroutines():
        if int(g["id"]) == goid:
            return addr, g
    return None, None


class InfoGoroutines(gdb.Command):
    """info goroutines: every live goroutine (id, state, name, function)."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        rows = sorted((int(g["id"]), g) for _, g in goroutines())
        for goid, g in rows:
            name = g["name"].string()
            print("%6d %-28s %-16s %s" % (
                goid, state(g), '"%s"' % name if name else "-",
                _symbol(int(g["fn"]))))


def saved_registers(g):
    """The registers a switched-out goroutine saved, by gdb name."""
    ctx = g["ctx"]
    fields = [f.name for f in ctx.type.strip_typedefs().fields()]
    if "uc" in fields:  # the ucontext build
        gregs = ctx["uc"]["uc_mcontext"]["gregs"]
        return {name: int(gregs[i]) for name, i in UC_REGS.items()}
    sp = int(ctx["sp"])
    words = gdb.selected_inferior().read_memory(sp, 8 * 7).tobytes()
    vals = [int.from_bytes(words[8 * i:8 * i + 8], "little")
            for i in range(7)]
    regs = dict(zip(SAVED, vals[:6]))
    regs["rip"] = vals[6]
    regs["rsp"] = sp + 8 * 7  # past the return address, as after the ret
    return regs


class Goroutine(gdb.Command):
    """goroutine N CMD: run CMD (bt, info frame, ...) in goroutine N's saved
    context, then restore the thread's registers."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) != 2:
            raise gdb.GdbError("usage: goroutine N CMD")
        _, g = find(int(parts[0]))
        if g is None:
            raise gdb.GdbError("no goroutine %s" % parts[0])
        if int(g["status"]) == 1:
            print("goroutine %s is running on a thread: see "
                  "'thread apply all bt'" % parts[0])
            return
        regs = saved_registers(g)
        gdb.newest_frame().select()
        saved = {r: int(gdb.parse_and_eval("$" + r)) for r in regs}
        try:
            for r, v in regs.items():
                gdb.parse_and_eval("$%s = 0x%x" % (r, v))
            gdb.execute(parts[1], from_tty)
        finally:
            gdb.newest_frame().select()
            for r, v in saved.items():
                gdb.parse_and_eval("$%s = 0x%x" % (r, v))


InfoGoroutines()
Goroutine()
