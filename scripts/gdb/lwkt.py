"""gdb helpers for the LWKT/i386 kernel.

Loaded by the gdbinit that `make gdb` / `make debug` write, or by hand:

    (gdb) file build/kernel.elf
    (gdb) source scripts/gdb/lwkt.py

Commands (all under the prefix `lwkt`; `help lwkt` lists them):

    lwkt cpus            one line per CPU: ids, state, current thread, ...
    lwkt threads [cpu]   every thread on each CPU's gd_tdallq
    lwkt runq [cpu]      run queues by priority, in run order
    lwkt ipiq [-a]       the IPIQ FIFO matrix and pending messages
    lwkt tokens          the token registry (lwkt_tokens), owners, holders
    lwkt bt <thread>     backtrace of a thread (name or address)
    lwkt vcpus           which gdb thread (QEMU vCPU) is which CPU

and convenience functions $lwkt_gd(cpu) (struct globaldata *) and
$lwkt_thread("name") (struct thread *).  It also registers a frame
unwinder for the interrupt entry code (arch/i386/vectors.asm has no
unwind information), so gdb's own `bt` continues from a handler into the
code the interrupt came in on.

Everything is read through the kernel's DWARF types, so layout changes
(or the CRIT_DEBUG build) need no change here.  Data of other CPUs is
read as it is in memory: exact when every vCPU is stopped (gdb's all-stop
mode, the default with QEMU), and a CPU whose current thread is in a
critical section may be half-way through changing its own state.
"""

import re

import gdb

MAX_LIST = 4096                 # bound on any list walk (corrupt lists)
BT_DEPTH = 32                   # bound on `lwkt bt`

# gd_reqflags bits (include/sys/globaldata.h)
RQF_NAMES = [(0x0001, "IPIQ"), (0x0002, "INTPEND"), (0x0004, "AST_RESCHED"),
             (0x0008, "TIMER"), (0x0010, "UNTIMELY")]
# gd_state (include/sys/globaldata.h)
GDS_NAMES = {0: "offline", 1: "online", 2: "stopped", 3: "held"}
# td_flags bit names when the kernel's own table cannot be read
# (kern/lwkt_thread.c: td_flag_names[]).
TDF_FALLBACK = ["RUNNING", "RUNQ", "PREEMPT_LOCK", "PREEMPT_DONE",
                "IDLE_NOHLT", "ALLOC_THREAD", "ALLOC_STACK", "VERBOSE",
                "STOPREQ", "EXITING", "MPSAFE", "TSLEEPQ", "MIGRATING"]
TDF_RUNNING, TDF_RUNQ, TDF_PREEMPT_LOCK, TDF_EXITING = 0x1, 0x2, 0x4, 0x200


class LwktError(gdb.GdbError):
    pass


# ---------------------------------------------------------------------------
# Reading kernel data
# ---------------------------------------------------------------------------
_cache = {}


def _clear_cache(*_args):
    _cache.clear()


gdb.events.new_objfile.connect(_clear_cache)


def lookup_type(name):
    t = _cache.get(("type", name))
    if t is None:
        try:
            t = gdb.lookup_type(name)
        except gdb.error:
            raise LwktError("lwkt: no type %r: load build/kernel.elf first "
                            "(file build/kernel.elf)" % name)
        _cache[("type", name)] = t
    return t


def thread_ptr_type():
    return lookup_type("struct thread").pointer()


def ev(expr):
    try:
        return gdb.parse_and_eval(expr)
    except gdb.error as e:
        raise LwktError("lwkt: cannot evaluate %s: %s" % (expr, e))


def addr(v):
    """A pointer (or integer) gdb.Value as a Python int."""
    return int(v) & 0xffffffff


def cstr(v, maxlen=64):
    """A char array or char * as a Python string (None for NULL, '?' if
    unreadable)."""
    try:
        if v.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
            if addr(v) == 0:
                return None
            return v.string(errors="replace")[:maxlen]
        return _array_str(v, maxlen)
    except (gdb.error, gdb.MemoryError, UnicodeDecodeError):
        return "?"


def _array_str(v, maxlen):
    n = v.type.strip_typedefs().range()[1] + 1
    out = []
    for i in range(min(n, maxlen)):
        c = int(v[i]) & 0xff
        if c == 0:
            break
        out.append(chr(c) if 32 <= c < 127 else "?")
    return "".join(out)


def ncpus():
    return int(ev("ncpus"))


def mask_int(v):
    """A cpumask_t gdb.Value (a struct of 32-bit words, ary[]) as a Python
    int: bit n is cpu n."""
    ary = v["ary"]
    n = ary.type.strip_typedefs().range()[1] + 1
    return sum((int(ary[i]) & 0xffffffff) << (32 * i) for i in range(n))


def mask_cpus(m):
    """The cpu ids of a mask (an int from mask_int), ascending."""
    out, c = [], 0
    while m:
        if m & 1:
            out.append(c)
        m >>= 1
        c += 1
    return out


def mask_str(m):
    """A mask (int) as a CPU list: "0-3,7", or "none"."""
    runs, cpus = [], mask_cpus(m)
    for c in cpus:
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join("%d" % a if a == b else "%d-%d" % (a, b)
                    for a, b in runs) or "none"


def active_mask():
    return mask_int(ev("smp_active_mask"))


def maxcpu():
    # MAXCPU: the size of a [MAXCPU] array in struct globaldata (the type
    # of cpu_private[] may be the incomplete extern declaration)
    return lookup_type("struct globaldata")["gd_cpusyncq"].type.range()[1] + 1


def gd(cpu):
    """struct globaldata of `cpu` (a gdb.Value, not a pointer)."""
    return ev("cpu_private")[cpu]["mi"]


def gd_addr(cpu):
    return addr(ev("&cpu_private[%d].mi" % cpu))


def connected():
    """True if gdb is attached to QEMU (not just reading the ELF file)."""
    try:
        return gdb.selected_inferior().pid != 0
    except gdb.error:
        return False


def kernel_started():
    if not connected():
        raise LwktError("lwkt: not connected to QEMU (make gdb connects; "
                        "by hand: target remote <socket or host:port>)")
    try:
        n = ncpus()
    except LwktError:
        raise
    except gdb.MemoryError:
        return False
    return 1 <= n <= maxcpu()


def cpus(arg=None):
    """CPU ids to show: `arg` (a number) or every online CPU."""
    if not kernel_started():
        raise LwktError("lwkt: the kernel has not set up its CPUs yet "
                        "(ncpus is %d): continue past the boot first"
                        % ncpus())
    n = ncpus()
    if arg is not None and arg.strip() != "":
        try:
            c = int(ev(arg.strip()))
        except (ValueError, gdb.error):
            raise LwktError("lwkt: bad cpu %r" % arg)
        if not 0 <= c < n:
            raise LwktError("lwkt: cpu %d out of range (ncpus %d)" % (c, n))
        return [c]
    return [c for c in mask_cpus(active_mask()) if c < n]


def tailq(head, field, limit=MAX_LIST):
    """The elements (values, not pointers) of a TAILQ."""
    seen = set()
    p = head["tqh_first"]
    while addr(p) != 0 and len(seen) < limit:
        a = addr(p)
        if a in seen:
            break
        seen.add(a)
        e = p.dereference()
        yield e
        p = e[field]["tqe_next"]


def cpu_threads(cpu):
    return list(tailq(gd(cpu)["gd_tdallq"], "td_allq"))


def all_threads():
    out = []
    for c in cpus():
        out += cpu_threads(c)
    return out


def flag_names():
    names = _cache.get("tdf")
    if names is None:
        try:
            sym = gdb.lookup_static_symbol("td_flag_names")
            v = sym.value()
            n = v.type.strip_typedefs().range()[1] + 1
            names = [v[i].string() for i in range(n)]
            _cache["tdf"] = names       # (not cached before the kernel
        except (gdb.error, gdb.MemoryError, AttributeError):  # is loaded)
            names = TDF_FALLBACK
    return names


def flags_str(flags):
    names = flag_names()
    out = [names[i] for i in range(len(names)) if flags & (1 << i)]
    rest = flags & ~((1 << len(names)) - 1)
    if rest:
        out.append("0x%x" % rest)
    return "|".join(out) if out else "-"


def reqflags_str(rf):
    out = [n for b, n in RQF_NAMES if rf & b]
    rest = rf & ~sum(b for b, _ in RQF_NAMES)
    if rest:
        out.append("0x%x" % rest)
    return "|".join(out) if out else "-"


def td_cpu(td):
    try:
        return int(td["td_gd"]["gd_cpuid"])
    except gdb.MemoryError:
        return -1


def td_name(td):
    return cstr(td["td_comm"]) or "?"


def td_state(td):
    """The kernel's td_state() (kern/lwkt_thread.c)."""
    f = int(td["td_flags"])
    if addr(td["td_gd"]["gd_curthread"]) == addr(td.address):
        return "running"
    if f & TDF_PREEMPT_LOCK:
        return "preempted"
    if f & TDF_EXITING:
        return "exiting"
    if f & TDF_RUNQ:
        return "runnable"
    return "blocked"


def td_tokens(td, limit=16):
    out = []
    ref = td["td_toks"]
    while addr(ref) != 0 and len(out) < limit:
        try:
            out.append(cstr(ref["tr_tok"]["t_name"]) or "?")
            ref = ref["tr_next"]
        except gdb.MemoryError:
            out.append("?")
            break
    return out


def find_thread(arg):
    """A thread by name (td_comm) or by address expression -> value."""
    arg = arg.strip()
    if not arg:
        raise LwktError("lwkt: which thread? give a name (lwkt threads "
                        "lists them) or an address")
    name = arg[1:-1] if len(arg) > 1 and arg[0] == arg[-1] == '"' else arg
    if kernel_started():
        hits = [t for t in all_threads() if td_name(t) == name]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise LwktError("lwkt: %d threads are named %r: give an address "
                            "(%s)" % (len(hits), name, ", ".join(
                                "0x%08x" % addr(t.address) for t in hits)))
    try:
        v = gdb.parse_and_eval(arg)
    except gdb.error:
        raise LwktError("lwkt: no thread named %r (and not an expression)"
                        % arg)
    if v.type.strip_typedefs().code == gdb.TYPE_CODE_STRUCT:
        v = v.address
    return v.cast(thread_ptr_type()).dereference()


# ---------------------------------------------------------------------------
# Symbols
# ---------------------------------------------------------------------------
_FMT_RE = re.compile(r"<(.+?)(?:\+(\d+))?>")


def msym(pc):
    """'name+0xoff' from the ELF symbol table (like the kernel's panic
    backtraces), or None."""
    s = None
    try:
        s = gdb.format_address(pc)          # gdb 13: "0x... <f+12>"
    except (AttributeError, gdb.error):
        try:
            out = gdb.execute("info symbol 0x%x" % pc, to_string=True)
            m = re.match(r"(\S+)(?: \+ (\d+))? in section", out)
            if m:
                return "%s+0x%x" % (m.group(1), int(m.group(2) or 0))
        except gdb.error:
            pass
        return None
    m = _FMT_RE.search(s or "")
    if not m:
        return None
    return "%s+0x%x" % (m.group(1), int(m.group(2) or 0))


def pc_functions(pc):
    """Functions containing pc, innermost first, from gdb's blocks:
    [(name, inlined)], the last one the real (non-inlined) function."""
    try:
        b = gdb.block_for_pc(pc)
    except (RuntimeError, gdb.error):
        b = None
    out = []
    while b is not None and not b.is_static and not b.is_global:
        if b.function is not None:
            out.append(b.function.name)
        b = b.superblock
    return [(n, i < len(out) - 1) for i, n in enumerate(out)]


def pc_line(pc):
    try:
        sal = gdb.find_pc_line(pc)
    except gdb.error:
        return None
    if sal.symtab is None or sal.line == 0:
        return None
    return "%s:%d" % (sal.symtab.filename, sal.line)


def sym_addr(name):
    """Address of a symbol (function or label), or None."""
    try:
        return addr(gdb.parse_and_eval("&'%s'" % name))
    except gdb.error:
        return None


def sym(pc):
    """Short 'name+0xoff' for a code address, or its hex value."""
    return msym(pc) or ("0x%08x" % pc)


def frame_lines(n, pc, lookup_pc, note=""):
    """Printed lines of one frame (more than one if functions are inlined
    at pc): '#n  0xpc in func+0xoff (inlined) at file:line'."""
    funcs = pc_functions(lookup_pc)
    where = pc_line(lookup_pc)
    m = msym(lookup_pc)
    if m is not None and lookup_pc != pc:
        name, off = m.rsplit("+", 1)
        m = "%s+0x%x" % (name, int(off, 16) + (pc - lookup_pc))
    lines = []
    for name, inlined in funcs[:-1]:
        lines.append("#%-2d 0x%08x in %s (inlined)%s" % (
            n, pc, name, (" at " + where) if where else ""))
        n += 1
        where = None
    outer = m or (funcs[-1][0] if funcs else "??")
    lines.append("#%-2d 0x%08x in %s%s%s" % (n, pc, outer,
                                            (" at " + where) if where else "",
                                            note))
    return lines, n + 1


# ---------------------------------------------------------------------------
# vCPUs (QEMU's gdb threads)
# ---------------------------------------------------------------------------
def _read_reg(frame, name):
    try:
        return int(frame.read_register(name)) & 0xffffffff
    except (ValueError, gdb.error):
        return None


def vcpus():
    """[{num, gdbthread, cpu, how, pc, esp, ebp, fs_base, details}] for
    every gdb thread of the current inferior, in gdb's order.

    CPU identification: %fs of every CPU is based at its own globaldata
    (machine/thread.h), and QEMU's stub exposes fs_base, so fs_base ==
    &cpu_private[i] names CPU i.  Fallback (no fs_base register): the
    vCPU's %esp inside the stack of CPU i's current thread."""
    inf = gdb.selected_inferior()
    try:
        threads = sorted(inf.threads(), key=lambda t: t.num)
    except gdb.error:
        return []
    if not threads:
        return []
    started = kernel_started()
    gds = {}
    stacks = {}
    if started:
        for c in range(ncpus()):
            gds[gd_addr(c)] = c
            try:
                td = gd(c)["gd_curthread"].dereference()
                base = addr(td["td_kstack"])
                stacks[c] = (base, base + int(td["td_kstack_size"]))
            except gdb.MemoryError:
                pass
    orig = gdb.selected_thread()
    try:
        orig_frame = gdb.selected_frame()
    except gdb.error:
        orig_frame = None
    out = []
    try:
        for th in threads:
            th.switch()
            f = gdb.newest_frame()
            r = dict(num=th.num, gdbthread=th, cpu=None, how=None,
                     pc=_read_reg(f, "eip"), esp=_read_reg(f, "esp"),
                     ebp=_read_reg(f, "ebp"), fs_base=_read_reg(f, "fs_base"),
                     details=getattr(th, "details", None) or th.name or "")
            if started and r["fs_base"] in gds:
                r["cpu"], r["how"] = gds[r["fs_base"]], "fs_base"
            elif started and r["esp"] is not None:
                for c, (lo, hi) in stacks.items():
                    if lo <= r["esp"] < hi:
                        r["cpu"], r["how"] = c, "esp in stack"
                        break
            out.append(r)
    finally:
        if orig is not None and orig.is_valid():
            orig.switch()
            if orig_frame is not None:
                try:
                    orig_frame.select()
                except (gdb.error, RuntimeError):
                    pass
    return out


def vcpu_of_cpu(cpu, vlist=None):
    for v in (vlist if vlist is not None else vcpus()):
        if v["cpu"] == cpu:
            return v
    return None


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
class LwktPrefix(gdb.Command):
    """LWKT kernel inspection (scripts/gdb/lwkt.py).
Usage: lwkt cpus | vcpus | threads [cpu] | runq [cpu] | ipiq [-a] | tokens |
       bt <thread>

Threads are named by td_comm (e.g. `lwkt bt ktest`) or by an address
expression (`lwkt bt 0x1cd000`, `lwkt bt cpu_private[1].mi.gd_curthread`)."""

    def __init__(self):
        super().__init__("lwkt", gdb.COMMAND_DATA, gdb.COMPLETE_COMMAND,
                         prefix=True)

    def invoke(self, arg, from_tty):
        gdb.execute("help lwkt", from_tty)


class Sub(gdb.Command):
    name = None

    def __init__(self):
        super().__init__("lwkt " + self.name, gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        try:
            for line in self.lines(arg):
                gdb.write(line + "\n")
        except gdb.MemoryError as e:
            raise LwktError("lwkt %s: cannot read memory: %s" % (self.name, e))

    def lines(self, arg):
        raise NotImplementedError


class LwktCpus(Sub):
    """One line per CPU: ids, state, current thread, masks, counters.
Columns: cpuid, APIC id, gd_state, the gdb thread (vCPU) running it, the
current thread, its critical count, interrupt nesting, run-queue mask,
gd_reqflags and counters (hardclock ticks, switches, IPIQ messages run, IPIs sent and
received, idle halts).  A '*' after the thread name: the gdb thread
selected now runs that CPU."""
    name = "cpus"

    def lines(self, arg):
        cl = cpus(arg)
        vl = vcpus()
        sel = gdb.selected_thread()
        sel = sel.num if sel is not None else None
        out = ["cpu apic state    vcpu curthread                      crit "
               "nest runqmask   reqflags           ticks   switches  ipiq-run "
               "ipi-sent ipi-recv   halts"]
        for c in cl:
            g = gd(c)
            td = g["gd_curthread"]
            tdv = td.dereference()
            v = vcpu_of_cpu(c, vl)
            vs = str(v["num"]) if v else "-"
            nm = td_name(tdv) + ("*" if v and v["num"] == sel else "")
            out.append("%3d %4d %-8s %4s 0x%08x %-20s %4d %4d 0x%08x %-14s "
                       "%9d %10d %9d %8d %8d %7d" % (
                           c, int(g["gd_apicid"]),
                           GDS_NAMES.get(int(g["gd_state"]),
                                         str(int(g["gd_state"]))),
                           vs, addr(td), nm, int(tdv["td_critcount"]),
                           int(g["gd_intr_nesting_level"]),
                           int(g["gd_runqmask"]) & 0xffffffff,
                           reqflags_str(int(g["gd_reqflags"])),
                           int(g["gd_ticks"]), int(g["gd_cnt_switch"]),
                           int(g["gd_cnt_ipiq_count"]),
                           int(g["gd_cnt_ipi_sent"]),
                           int(g["gd_cnt_ipi_recv"]),
                           int(g["gd_cnt_idle_halt"])))
        m = active_mask()
        out.append("ncpus %d, smp_active_mask %s (0x%x)" % (ncpus(),
                                                          mask_str(m), m))
        return out


THREAD_HEAD = ("  thread     name                 cpu pri crit state      "
               "flags                                 wmesg        tokens")


def thread_line(td):
    f = int(td["td_flags"])
    wm = cstr(td["td_wmesg"]) if addr(td["td_wmesg"]) else None
    toks = td_tokens(td)
    extra = ""
    pre = td["td_preempted"]
    if addr(pre):
        extra = "  preempted:%s" % td_name(pre.dereference())
    return "  0x%08x %-20s %3d %3d %4d %-10s %-37s %-12s %s%s" % (
        addr(td.address), td_name(td), td_cpu(td), int(td["td_pri"]),
        int(td["td_critcount"]), td_state(td), flags_str(f),
        (wm or "-").replace(" ", "_"), ",".join(toks) if toks else "-", extra)


class LwktThreads(Sub):
    """Every thread of each CPU (gd_tdallq), or of CPU N: lwkt threads N.
Columns: address, name, CPU, priority, critical count, state (the kernel's own
td_state: running = its CPU's curthread, preempted, exiting, runnable =
on the run queue, else blocked), td_flags, wait message and held tokens
(newest first)."""
    name = "threads"

    def lines(self, arg):
        out = []
        for c in cpus(arg):
            g = gd(c)
            tds = cpu_threads(c)
            cur = g["gd_curthread"]
            out.append("cpu %d: %d threads, curthread 0x%08x %s, runqmask "
                       "0x%08x" % (c, len(tds), addr(cur),
                                   td_name(cur.dereference()),
                                   int(g["gd_runqmask"]) & 0xffffffff))
            out.append(THREAD_HEAD)
            out += [thread_line(td) for td in tds]
        return out


class LwktRunq(Sub):
    """Run queues of each CPU (or of CPU N), in run order.
Highest priority first, each queue in order: the order lwkt_switch() considers them (a thread holding a
token this CPU does not own is skipped until it arrives).  `mask` is the
queue's gd_runqmask bit; the kernel clears it lazily, so a set bit over an
empty queue is normal, but a thread on a queue whose bit is clear is
flagged with '!!'."""
    name = "runq"

    def lines(self, arg):
        out = []
        for c in cpus(arg):
            g = gd(c)
            mask = int(g["gd_runqmask"]) & 0xffffffff
            cur = addr(g["gd_curthread"])
            out.append("cpu %d: runqmask 0x%08x, curthread %s" % (
                c, mask, td_name(g["gd_curthread"].dereference())))
            nq = g["gd_tdrunq"].type.strip_typedefs().range()[1] + 1
            any_ = False
            for pri in range(nq - 1, -1, -1):
                q = list(tailq(g["gd_tdrunq"][pri], "td_threadq"))
                bit = (mask >> pri) & 1
                if not q and not bit:
                    continue
                any_ = True
                names = []
                for td in q:
                    s = "0x%08x %s" % (addr(td.address), td_name(td))
                    notes = []
                    if addr(td.address) == cur:
                        notes.append("running")
                    if not int(td["td_flags"]) & TDF_RUNQ:
                        notes.append("!! no RUNQ flag")
                    if int(td["td_pri"]) & 31 != pri:
                        notes.append("!! pri %d" % int(td["td_pri"]))
                    if addr(td["td_toks"]):
                        notes.append("tokens " + ",".join(td_tokens(td)))
                    names.append(s + (" (%s)" % ", ".join(notes)
                                      if notes else ""))
                warn = "  !! mask bit clear" if q and not bit else ""
                out.append("  pri %2d mask %d n %d: %s%s" % (
                    pri, bit, len(q), ", ".join(names) if names else "(empty)",
                    warn))
            if not any_:
                out.append("  (all queues empty)")
            idle = g["gd_idlethread"]
            out.append("  else: 0x%08x %s" % (addr(idle.address),
                                              td_name(idle)))
        return out


def ipiq_pending(ip, first, last, fifo):
    out = []
    i = first
    while i != last and len(out) < fifo:
        e = ip["ip_info"][i & (fifo - 1)]
        fn = addr(e["ie_func"])
        out.append("%s(0x%x, %d)" % (sym(fn) if fn else "NULL",
                                     addr(e["ie_arg"]), int(e["ie_arg2"])))
        i = (i + 1) & 0xffffffff
    return out


class LwktIpiq(Sub):
    """The IPIQ FIFO matrix and pending messages: lwkt ipiq [-a].
FIFO s->t lives in cpu s's gd_ipiq[t], written
by s (windex) and read by t (rindex before running an entry, xindex once
it returned).  First a grid of messages ever sent (windex) per pair, then
one line per pair with traffic (all pairs with -a): the indices, the fill
level (windex - rindex), npoll, and the messages not yet run (and those
running: between xindex and rindex), by function symbol."""
    name = "ipiq"

    def lines(self, arg):
        show_all = arg.strip() == "-a"
        if arg.strip() not in ("", "-a"):
            raise LwktError("usage: lwkt ipiq [-a]")
        cl = cpus()
        fifo = lookup_type("struct lwkt_ipiq")["ip_info"].type.range()[1] + 1
        out = ["ipiq: %d CPUs, MAXCPUFIFO %d; grid: messages sent (windex), "
               "row = source, column = target" % (len(cl), fifo)]
        out.append("  from\\to " + " ".join("%8d" % t for t in cl))
        rows = []
        for s in cl:
            base = gd(s)["gd_ipiq"]
            cells = []
            for t in cl:
                if addr(base) == 0:
                    cells.append("%8s" % "-")
                    continue
                ip = base[t]
                w = int(ip["ip_windex"]) & 0xffffffff
                r = int(ip["ip_rindex"]) & 0xffffffff
                x = int(ip["ip_xindex"]) & 0xffffffff
                cells.append("%8d" % w)
                if w == 0 and not show_all:
                    continue
                fill = (w - r) & 0xffffffff
                pend = ipiq_pending(ip, r, w, fifo)
                run = ipiq_pending(ip, x, r, fifo)
                txt = []
                if run:
                    txt.append("running: " + ", ".join(run))
                if pend:
                    txt.append("pending: " + ", ".join(pend))
                rows.append("  %2d->%-2d %10d %10d %10d %4d %5d  %s" % (
                    s, t, w, r, x, fill, int(ip["ip_npoll"]),
                    "; ".join(txt) if txt else "-"))
            out.append("  %7d " % s + " ".join(cells))
        out.append("  src->dst     windex     rindex     xindex fill npoll"
                   "  messages")
        out += rows if rows else ["  (no traffic)"]
        return out


class LwktTokens(Sub):
    """Known tokens (registry lwkt_tokens) with owner CPU and holders.
In registration order: address, name, owner CPU (t_cpu), CPUs asking for it (t_reqmask),
acquisition counters, and the threads holding it (from every thread's
td_toks): 'active' if the holder's CPU owns the token, 'waiting' if not
(it cannot run until the token comes back)."""
    name = "tokens"

    def lines(self, arg):
        holders = {}
        if kernel_started():
            for td in all_threads():
                ref = td["td_toks"]
                n = 0
                while addr(ref) != 0 and n < 64:
                    holders.setdefault(addr(ref["tr_tok"]), []).append(
                        (td, ref))
                    ref = ref["tr_next"]
                    n += 1
        toks = list(tailq(ev("lwkt_tokens"), "t_link"))
        out = ["%d token(s) registered" % len(toks)]
        if toks:
            out.append("  token      name             owner reqmask    "
                       "gen   requests migrations contention  holders")
        for t in toks:
            a = addr(t.address)
            own = t["t_cpu"]
            owner = int(own["gd_cpuid"]) if addr(own) else None
            hs = []
            for td, ref in holders.get(a, []):
                c = td_cpu(td)
                hs.append("%s@cpu%d(%s)" % (td_name(td), c,
                                            "active" if owner == c
                                            else "waiting"))
            out.append("  0x%08x %-16s %5s 0x%08x %5d %10d %10d %10d  %s" % (
                a, cstr(t["t_name"]) or "?",
                "-" if owner is None else str(owner),
                mask_int(t["t_reqmask"]), int(t["t_gen"]),
                int(t["t_requests"]), int(t["t_migrations"]),
                int(t["t_contention"]), ", ".join(hs) if hs else "-"))
        return out


def read_u32(a):
    inf = gdb.selected_inferior()
    return int.from_bytes(bytes(inf.read_memory(a, 4)), "little")


def intrframe_fields(tf):
    """The fields of the struct intrframe at address tf (trap.c's view
    of an interrupt: pushad registers, vector, error, eip, cs, eflags)."""
    v = gdb.Value(tf).cast(lookup_type("struct intrframe").pointer())
    v = v.dereference()
    return {f.name: int(v[f.name]) & 0xffffffff for f in v.type.fields()}


def prologue_return(pc, esp):
    """The return address of a function stopped at pc with stack pointer
    esp if its frame is not on the %ebp chain yet: pc at its first
    instruction, or after the `push %ebp` of `push %ebp; mov %esp,%ebp`.
    Else None."""
    m = msym(pc)
    if m is None:
        return None
    off = int(m.rsplit("+", 1)[1], 16)
    if off > 1:
        return None
    try:
        if off == 1:
            code = bytes(gdb.selected_inferior().read_memory(pc - 1, 3))
            if code != b"\x55\x89\xe5":      # push %ebp; mov %esp,%ebp
                return None
        return read_u32(esp + 4 * off) or None
    except gdb.MemoryError:
        return None


def walk_ebp(pc, ebp, lo, hi, depth=BT_DEPTH):
    """Frames of a saved %ebp chain and why the walk stopped.

    Each frame: [ebp] = caller's ebp, [ebp+4] = return address; bounded by
    the stack [lo, hi), a strictly increasing ebp, and depth.  Frames are
    dicts: pc, exact (pc is where the code stopped, not a return address)
    and note.  A return into intr_common is an interrupt: trap()'s
    argument (at its ebp+8) is the struct intrframe, whose eip and ebp
    continue the walk in the interrupted code."""
    frames = [dict(pc=pc, exact=False, note="")]
    why = "depth limit"
    while len(frames) < depth:
        if ebp == 0:
            why = "end of chain (ebp 0)"
            break
        if ebp & 3 or not lo <= ebp < hi - 8:
            why = "frame pointer 0x%08x outside the stack [0x%08x, 0x%08x)" \
                % (ebp, lo, hi)
            break
        try:
            nebp, npc = read_u32(ebp), read_u32(ebp + 4)
        except gdb.MemoryError:
            why = "unreadable frame at 0x%08x" % ebp
            break
        if npc == 0:
            why = "end of chain (return address 0)"
            break
        if in_intr_stub(npc):
            frames.append(dict(pc=npc, exact=False, note=""))
            try:
                tf = read_u32(ebp + 8)
                if not lo <= tf < hi:
                    raise gdb.MemoryError("intrframe outside the stack")
                f = intrframe_fields(tf)
            except (gdb.MemoryError, gdb.error) as e:
                why = "bad interrupt frame above 0x%08x (%s)" % (ebp, e)
                break
            frames.append(dict(pc=f["tf_eip"], exact=True,
                               note="  <-- interrupted (vector %d, "
                               "intrframe 0x%08x)" % (f["tf_trapno"], tf)))
            ebp = f["tf_ebp"]
            # Interrupted before its `push %ebp; mov %esp,%ebp`: the
            # function's return address is on the stack, not in the chain.
            ret = prologue_return(f["tf_eip"], tf + lookup_type(
                "struct intrframe").sizeof)
            if ret:
                frames.append(dict(pc=ret, exact=False, note=""))
            continue
        if nebp != 0 and nebp <= ebp:
            frames.append(dict(pc=npc, exact=False, note=""))
            why = "frame pointer 0x%08x does not move up the stack" % nebp
            break
        frames.append(dict(pc=npc, exact=False, note=""))
        ebp = nebp
    return frames, why


# ---------------------------------------------------------------------------
# Interrupt entry stubs (arch/i386/vectors.asm) for gdb's own unwinder
# ---------------------------------------------------------------------------
def _stub_ranges():
    """[(start, end)] of the vec_N stubs and intr_common (no DWARF CFI:
    NASM code), from vec_0 to intr_common's iret."""
    r = _cache.get("stubs")
    if r is None:           # (not cached until found: before GRUB loads the
        r = []              # kernel, its memory holds no iret to find)
        v0, ic = sym_addr("vec_0"), sym_addr("intr_common")
        if v0 is not None and ic is not None:
            end = None
            try:
                arch = gdb.selected_inferior().architecture()
                for ins in arch.disassemble(ic, count=64):
                    if "iret" in ins["asm"]:
                        end = ins["addr"] + ins["length"]
                        break
            except (gdb.error, gdb.MemoryError):
                end = None
            if end is not None:
                r = [(min(v0, ic), end)]
                _cache["stubs"] = r
    return r


def in_intr_stub(pc):
    return any(lo <= pc < hi for lo, hi in _stub_ranges())


_IMM_RE = re.compile(r"\$?(0x[0-9a-f]+|\d+)")


def _push_bytes(asm):
    """Stack bytes an instruction pushes (negative: pops)."""
    a = asm.strip().lower()
    op = a.split()[0] if a else ""
    if op.startswith("pusha"):
        return 32
    if op.startswith("popa"):
        return -32
    if op.startswith("push"):
        return 4
    if op.startswith("pop"):
        return -4
    if op in ("add", "addl", "sub", "subl") and "esp" in a:
        m = _IMM_RE.search(a.split(None, 1)[1])
        if m:
            n = int(m.group(1), 0)
            return -n if op.startswith("add") else n
    return 0


def stub_depth(pc):
    """Bytes the entry code has pushed on top of the CPU's interrupt frame
    (eip, cs, eflags) when it is at pc, or None if pc is not in it."""
    if not in_intr_stub(pc):
        return None
    arch = gdb.selected_inferior().architecture()
    m = msym(pc)
    if m is None:
        return None
    name, off = m.rsplit("+", 1)
    start = pc - int(off, 16)
    ins = arch.disassemble(start, count=32)
    if name == "intr_common":
        d = 8                      # vector number and (real or 0) error code
    else:
        # vec_N: 8 - 4 * (its pushes) bytes of error code from the CPU
        pushes = 0
        for i in ins:
            if i["asm"].lower().startswith("jmp"):
                break
            pushes += _push_bytes(i["asm"]) // 4
        d = 8 - 4 * pushes
    for i in ins:
        if i["addr"] >= pc:
            return d
        d += _push_bytes(i["asm"])
    return None


try:
    from gdb.unwinder import Unwinder, register_unwinder
except ImportError:                            # gdb without the API
    Unwinder = None


class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


if Unwinder is not None:
    class IntrStubUnwinder(Unwinder):
        """Unwinds through vectors.asm: the interrupted code's eip, cs and
        eflags sit above what the stub pushed; pushad's registers too,
        once it ran.  Lets gdb (and lwkt bt of a running thread) show the
        code an interrupt came in on."""

        def __init__(self):
            super().__init__("lwkt-interrupt-stubs")

        def __call__(self, pending_frame):
            try:
                pc = int(pending_frame.read_register("eip")) & 0xffffffff
                if not in_intr_stub(pc):
                    return None
                d = stub_depth(pc)
                if d is None:
                    return None
                regt = pending_frame.read_register("esp").type
                u32 = lookup_type("unsigned int")

                def val(x):
                    return gdb.Value(x & 0xffffffff).cast(u32)
                esp = int(pending_frame.read_register("esp")) & 0xffffffff
                base = esp + d                  # the CPU's frame: eip first
                m = msym(pc)
                start = pc - int(m.rsplit("+", 1)[1], 16)
                ui = pending_frame.create_unwind_info(
                    _FrameId(gdb.Value(base + 12).cast(regt),
                             gdb.Value(start).cast(regt)))
                ui.add_saved_register("eip", val(read_u32(base)))
                ui.add_saved_register("esp", val(base + 12))
                ui.add_saved_register("eflags", val(read_u32(base + 8)))
                if m.startswith("intr_common+") and d >= 8 + 32:
                    # pushad ran: edi esi ebp esp ebx edx ecx eax at base-40
                    pa = base - 8 - 32
                    for i, r in enumerate(("edi", "esi", "ebp", None, "ebx",
                                           "edx", "ecx", "eax")):
                        if r:
                            ui.add_saved_register(r, val(read_u32(pa + 4 * i)))
                else:
                    ui.add_saved_register(
                        "ebp", pending_frame.read_register("ebp"))
                return ui
            except (gdb.error, gdb.MemoryError, ValueError):
                return None

    register_unwinder(None, IntrStubUnwinder(), replace=True)


class LwktBt(Sub):
    """Backtrace of a thread: lwkt bt <name | address expression>.

A thread that is not running is unwound from its saved switch frame: at
td_sp, cpu_lwkt_switch pushed eflags, edi, esi, ebx, ebp and its return
address, so the thread's resume pc is at td_sp+20 and its frame pointer at
td_sp+16; then the %ebp chain ([ebp] = caller's ebp, [ebp+4] = return
address) is followed inside the thread's stack, at most 32 frames.  The
running thread of a CPU is unwound by gdb itself from that vCPU's live
registers (lwkt vcpus shows the mapping)."""
    name = "bt"

    def lines(self, arg):
        td = find_thread(arg)
        tda = addr(td.address)
        lo = addr(td["td_kstack"])
        hi = lo + int(td["td_kstack_size"])
        st = td_state(td)
        head = "thread 0x%08x %s on cpu %d, %s, stack [0x%08x, 0x%08x)" % (
            tda, td_name(td), td_cpu(td), st, lo, hi)
        if st == "running":
            return [head] + self.live(td)
        sp = addr(td["td_sp"])
        if not lo <= sp < hi:
            return [head, "  td_sp 0x%08x is outside its stack: no saved "
                    "frame" % sp]
        try:
            ebp, pc = read_u32(sp + 16), read_u32(sp + 20)
        except gdb.MemoryError:
            return [head, "  cannot read the switch frame at td_sp 0x%08x"
                    % sp]
        out = [head, "#0  cpu_lwkt_switch: switch frame at td_sp 0x%08x "
               "(ebp 0x%08x, resume pc 0x%08x)" % (sp, ebp, pc)]
        frames, why = walk_ebp(pc, ebp, lo, hi)
        n = 1
        for i, f in enumerate(frames):
            # return addresses: look up the call instruction (pc - 1),
            # except an interrupted pc and where a thread that never ran
            # resumes: the entry of cpu_thread_trampoline
            fpc = f["pc"]
            exact = f["exact"] or (i == 0 and fpc ==
                                   sym_addr("cpu_thread_trampoline"))
            lines, n = frame_lines(n, fpc, fpc if exact else fpc - 1,
                                   f["note"])
            out += lines
        out.append("(%s)" % why)
        return out

    def live(self, td):
        vl = vcpus()
        v = vcpu_of_cpu(td_cpu(td), vl)
        if v is None:
            return ["  running, but no gdb thread maps to cpu %d "
                    "(lwkt vcpus)" % td_cpu(td)]
        out = ["  running on gdb thread %d (%s): unwound by gdb from live "
               "registers" % (v["num"], v["details"])]
        orig = gdb.selected_thread()
        try:
            orig_frame = gdb.selected_frame()
        except gdb.error:
            orig_frame = None
        try:
            v["gdbthread"].switch()
            f = gdb.newest_frame()
            n = 0
            caller = False      # below a real (not inlined) frame: pc is
            while f is not None and n < BT_DEPTH:   # a return address
                pc = f.pc()
                if f.type() == gdb.INLINE_FRAME:
                    label = "%s (inlined)" % (f.name() or "??")
                else:
                    # a caller: name the call instruction (pc - 1)
                    lpc = pc - 1 if caller and pc else pc
                    m = msym(lpc)
                    if m is not None and lpc != pc:
                        nm, off = m.rsplit("+", 1)
                        m = "%s+0x%x" % (nm, int(off, 16) + 1)
                    label = m or f.name() or "??"
                sal = f.find_sal()
                where = ("%s:%d" % (sal.symtab.filename, sal.line)) \
                    if sal.symtab and sal.line else None
                out.append("#%-2d 0x%08x in %s%s" % (
                    n, pc, label, (" at " + where) if where else ""))
                n += 1
                if f.type() != gdb.INLINE_FRAME:
                    # above an interrupt stub, pc is where it came in
                    caller = not in_intr_stub(pc)
                try:
                    f = f.older()
                except gdb.error:
                    break
        finally:
            if orig is not None and orig.is_valid():
                orig.switch()
                if orig_frame is not None:
                    try:
                        orig_frame.select()
                    except (gdb.error, RuntimeError):
                        pass
        return out


class LwktVcpus(Sub):
    """Which gdb thread (QEMU vCPU) is which CPU, and what it runs.
gdb's threads are QEMU's vCPUs, one each, in QEMU's CPU order.  For each: the kernel CPU it is (found from its fs_base, which is the address
of the CPU's globaldata; else from %esp inside a CPU's current thread's
stack), the LWKT thread it runs, and its pc.  '*' marks the selected
thread."""
    name = "vcpus"

    def lines(self, arg):
        vl = vcpus()
        sel = gdb.selected_thread()
        sel = sel.num if sel is not None else None
        started = kernel_started()
        out = ["gdb-thread cpu apic thread                      by        "
               "pc"]
        for v in vl:
            c = v["cpu"]
            if c is None:
                cs, ap, tds = "-", "-", "-"
            else:
                g = gd(c)
                ap = str(int(g["gd_apicid"]))
                cs = str(c)
                cur = g["gd_curthread"]
                tds = "0x%08x %s" % (addr(cur), td_name(cur.dereference()))
            pcs = ("0x%08x %s" % (v["pc"], sym(v["pc"]))) \
                if v["pc"] is not None else "?"
            out.append("%s%-9d %3s %4s %-27s %-9s %s  [%s]" % (
                "*" if v["num"] == sel else " ", v["num"], cs, ap, tds,
                v["how"] or "-", pcs, v["details"]))
        if not started:
            out.append("(the kernel has not started its CPUs yet)")
        return out


class GdFunc(gdb.Function):
    """$lwkt_gd(cpu): struct globaldata * of a CPU."""

    def __init__(self):
        super().__init__("lwkt_gd")

    def invoke(self, cpu):
        return ev("&cpu_private[%d].mi" % int(cpu))


class ThreadFunc(gdb.Function):
    """$lwkt_thread("name"): struct thread * of the thread with that
td_comm (an error if none or several)."""

    def __init__(self):
        super().__init__("lwkt_thread")

    def invoke(self, name):
        return find_thread(name.string()).address


LwktPrefix()
for _c in (LwktCpus, LwktThreads, LwktRunq, LwktIpiq, LwktTokens, LwktBt,
           LwktVcpus):
    _c()
GdFunc()
ThreadFunc()
