#!/usr/bin/env python3
"""`make gdb-test`: the gdb helpers (scripts/gdb/lwkt.py) against a live
kernel under QEMU -smp 4.

  python3 scripts/gdb_test.py [--kernel build/kernel.elf] [--timeout S]
                              [--summary] [--keep]

On the host, this script boots the kernel paused with QEMU's gdb stub on a
socket of its own (scripts/runner.py: GdbStub) and runs
`gdb -batch -nx -x scripts/gdb_test.py`: inside gdb the same file is the
driver.  The driver sets three breakpoints, each stopping only in one
LWKT thread, and the boot runs three tests (in whichever order the kernel
picks):

  sched    hc_worker, in thread hc_0 (sched.hardclock_round_robin): CPU 0
           runs hc_0, hc_1 waits on the same run queue, the test thread
           kt_cpu0 sleeps in lwkt_sleep_us, the runner `ktest` in kt_wait;
           CPUs 1-3 idle.
  token    lwkt_gettoken_slow, in thread bench_remote on CPU 1
           (bench.token_migrate): it holds token "bench" that CPU 0 owns.
  preempt  the return from lwkt_switch() in ithread_main, in thread
           ithread_test once it has preempted kt_cpu0 inside a timer
           interrupt (sched.preemption_hit): kt_cpu0's backtrace must go
           through the interrupt frame into the test function.

At each stop the driver runs `info threads` and every `lwkt` command, and
separately reads the same kernel state with plain gdb expressions (the
oracle: it shares no code with lwkt.py).  Back on the host the commands'
output is parsed and compared with the oracle and with the invariants of
the scheduler; any mismatch fails.  Timeouts: the driver interrupts a
`continue` that takes too long, the host kills gdb past --timeout, and
QEMU is always killed.  The transcript goes to build/logs/gdb-test.txt.
Exit status 0 only if every check passed.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

try:
    import gdb
    # (on the host, `import gdb` may find the directory scripts/gdb/)
    IN_GDB = hasattr(gdb, "parse_and_eval")
except ImportError:
    IN_GDB = False

# repeat=3: more chances for the timer kick of sched.preemption_hit to
# land as a preemption (QEMU is killed once all three stops are done).
CMDLINE = ("test=sched.preemption_hit,sched.hardclock_round_robin,"
           "bench.token_migrate expect.ncpus=4 repeat=3")
SMP = "4"
# name -> (breakpoint location, the LWKT thread that must be running it,
#          and must it have preempted another thread)
STOPS = {
    "sched": ("hc_worker", "hc_0", False),
    "token": ("lwkt_gettoken_slow", "bench_remote", False),
    # where ithread_main's lwkt_switch() returns, having preempted a
    # thread inside an interrupt handler (sched.preemption_hit)
    "preempt": ("after-call:ithread_main:lwkt_switch", "ithread_test", True),
}
COMMANDS = ["info threads", "lwkt vcpus", "lwkt cpus", "lwkt threads",
            "lwkt runq", "lwkt ipiq", "lwkt tokens", "lwkt bt ktest",
            "lwkt bt kt_cpu0"]
STOP_BT = {"sched": ["lwkt bt hc_0", "lwkt bt hc_1"],
           "token": ["lwkt bt bench_remote"],
           "preempt": ["lwkt bt ithread_test"]}
DEFAULT_TIMEOUT = 90          # seconds for the whole gdb session
CONTINUE_TIMEOUT = 45         # the driver interrupts a longer `continue`


# ===========================================================================
# Inside gdb: the driver
# ===========================================================================
def _pe(expr):
    return gdb.parse_and_eval(expr)


def _u(v):
    return int(v) & 0xffffffff


def _mask(expr):
    """A cpumask_t (struct of 32-bit words `ary`) as an int, word by word."""
    n = int(_pe("sizeof((%s).ary) / sizeof((%s).ary[0])" % (expr, expr)))
    return sum(_u(_pe("(%s).ary[%d]" % (expr, i))) << (32 * i)
               for i in range(n))


def _arr_str(v):
    n = v.type.strip_typedefs().range()[1] + 1
    b = bytearray()
    for i in range(n):
        c = int(v[i]) & 0xff
        if c == 0:
            break
        b.append(c)
    return b.decode("latin-1")


def _ptr_str(v):
    if _u(v) == 0:
        return None
    return v.string(errors="replace")


def _list(first, link, limit=1000):
    out, p = [], first
    while _u(p) and len(out) < limit:
        out.append(p)
        p = p.dereference()[link]["tqe_next"]
    return out


def _sym_name(pc):
    out = gdb.execute("info symbol 0x%x" % pc, to_string=True)
    m = re.match(r"(\S+)", out)
    return m.group(1) if m and not out.startswith("No symbol") else None


def oracle():
    """The kernel state read with plain gdb expressions."""
    n = int(_pe("ncpus"))
    mask = _mask("smp_active_mask")
    fl = _pe("td_flag_names")
    flag_names = [fl[i].string() for i in
                  range(fl.type.strip_typedefs().range()[1] + 1)]
    cpus = []
    for c in range(n):
        if not (mask >> c) & 1:
            continue
        g = _pe("cpu_private[%d].mi" % c)
        cur = g["gd_curthread"]
        threads = []
        for p in _list(g["gd_tdallq"]["tqh_first"], "td_allq"):
            td = p.dereference()
            toks, r = [], td["td_toks"]
            while _u(r) and len(toks) < 64:
                toks.append(_ptr_str(r["tr_tok"]["t_name"]))
                r = r["tr_next"]
            sp = _u(td["td_sp"])
            try:
                resume = _u(_pe("*(unsigned int *)%d" % (sp + 20)))
            except gdb.error:
                resume = None
            threads.append(dict(
                addr=_u(p), name=_arr_str(td["td_comm"]),
                cpu=int(td["td_gd"]["gd_cpuid"]), pri=int(td["td_pri"]),
                crit=int(td["td_critcount"]), flags=_u(td["td_flags"]),
                wmesg=_ptr_str(td["td_wmesg"]), tokens=toks,
                preempted=_u(td["td_preempted"]), sp=sp, resume=resume,
                kstack=_u(td["td_kstack"]),
                kstack_size=int(td["td_kstack_size"])))
        runq = {}
        for pri in range(32):
            q = _list(g["gd_tdrunq"][pri]["tqh_first"], "td_threadq")
            if q:
                runq[pri] = [_u(p) for p in q]
        cpus.append(dict(
            cpu=c, gd_cpuid=int(g["gd_cpuid"]), apic=int(g["gd_apicid"]),
            state=int(g["gd_state"]), gd_addr=_u(_pe("cpu_private[%d]" % c)),
            cur=_u(cur), curname=_arr_str(cur["td_comm"]),
            curcrit=int(cur["td_critcount"]),
            nest=int(g["gd_intr_nesting_level"]),
            runqmask=_u(g["gd_runqmask"]), reqflags=_u(g["gd_reqflags"]),
            idle=_u(g["gd_idlethread"].address), threads=threads, runq=runq))
    fifo = gdb.lookup_type("struct lwkt_ipiq")["ip_info"].type.range()[1] + 1
    ipiq = []
    for s in cpus:
        base = _pe("cpu_private[%d].mi.gd_ipiq" % s["cpu"])
        for t in cpus:
            ip = base[t["cpu"]]
            w, r, x = (_u(ip["ip_windex"]), _u(ip["ip_rindex"]),
                       _u(ip["ip_xindex"]))
            pend = []
            i = r
            while i != w and len(pend) < fifo:
                pend.append(_sym_name(_u(ip["ip_info"][i % fifo]["ie_func"])))
                i = (i + 1) & 0xffffffff
            ipiq.append(dict(src=s["cpu"], dst=t["cpu"], w=w, r=r, x=x,
                             npoll=_u(ip["ip_npoll"]), pending=pend))
    tokens = []
    for p in _list(_pe("lwkt_tokens")["tqh_first"], "t_link"):
        t = p.dereference()
        own = t["t_cpu"]
        tokens.append(dict(addr=_u(p), name=_ptr_str(t["t_name"]),
                           owner=int(own["gd_cpuid"]) if _u(own) else None,
                           reqmask=_mask("((struct lwkt_token *)0x%x)"
                                         "->t_reqmask" % _u(p))))
    # vCPUs: each gdb thread's fs_base and registers
    vcpus = []
    sel = gdb.selected_thread()
    for th in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
        th.switch()
        f = gdb.newest_frame()
        vcpus.append(dict(num=th.num, fs_base=_u(f.read_register("fs_base")),
                          esp=_u(f.read_register("esp")),
                          pc=_u(f.read_register("eip"))))
    sel.switch()
    return dict(ncpus=n, mask=mask, flag_names=flag_names, cpus=cpus,
                fifo=fifo, ipiq=ipiq, tokens=tokens, vcpus=vcpus,
                selected=sel.num)


def _after_call(f, g, count=400):
    """Address of the instruction after f's call to g (found by
    disassembling f from the ELF file: no line numbers to go stale)."""
    arch = gdb.selected_inferior().architecture()
    ins = arch.disassemble(int(_pe("(unsigned int)&'%s'" % f)), count=count)
    for a, b in zip(ins, ins[1:]):
        if a["asm"].startswith("call") and "<%s>" % g in a["asm"]:
            return b["addr"]
        if a["asm"].startswith("ret") or a["asm"].startswith("iret"):
            break
    raise gdb.GdbError("no call to %s in %s" % (g, f))


def _location(spec):
    """A breakpoint spec; "after-call:F:G": where F's call to G returns."""
    if not spec.startswith("after-call:"):
        return spec
    _, f, g = spec.split(":")
    return "*0x%x" % _after_call(f, g)


def _interrupted(td, intr_ret):
    """Is the switched-out thread td inside an interrupt handler: does its
    stack hold intr_common's return address from trap()?"""
    sp = _u(td["td_sp"])
    top = _u(td["td_kstack"]) + int(td["td_kstack_size"])
    if not 0 < top - sp <= 64 * 1024:
        return False
    mem = bytes(gdb.selected_inferior().read_memory(sp, top - sp))
    return intr_ret.to_bytes(4, "little") in [
        mem[i:i + 4] for i in range(0, len(mem) - 3, 4)]


def _thread_at_stop(intr_ret):
    """(name, preempted a thread inside an interrupt handler?) of the
    thread the stopped CPU runs."""
    td = _pe("(struct globaldata *)$fs_base")["gd_curthread"]
    v = td["td_preempted"]
    return (_arr_str(td["td_comm"]),
            _u(v) != 0 and _interrupted(v.dereference(), intr_ret))


def driver():
    env = os.environ
    out_path = env["LWKT_GDBTEST_OUT"]
    result = dict(stops={}, errors=[], preboot=None, transcript=[])

    def save():
        with open(out_path, "w") as f:
            json.dump(result, f, indent=1)

    def run(cmd):
        try:
            text = gdb.execute(cmd, to_string=True)
        except gdb.error as e:
            text = "ERROR: %s\n" % e
        result["transcript"].append(dict(cmd=cmd, out=text))
        return text

    deadline = [0.0]

    class ThreadBreakpoint(gdb.Breakpoint):
        """Stops only when the CPU hitting it runs thread `want` (or once
        the wait is over: the driver then reports the timeout)."""

        def __init__(self, stop, spec, want, preempting):
            super().__init__(_location(spec), internal=False)
            self.stop_name, self.want, self.hits = stop, want, 0
            self.preempting = preempting
            self.intr_ret = _after_call("intr_common", "trap")

        def stop(self):
            self.hits += 1
            if time.monotonic() > deadline[0]:
                return True
            try:
                name, pre = _thread_at_stop(self.intr_ret)
                return name == self.want and (pre or not self.preempting)
            except gdb.error:
                return False

    hit = {}

    def on_stop(ev):
        hit["bps"] = list(getattr(ev, "breakpoints", []) or [])
        hit["sig"] = getattr(ev, "stop_signal", None)

    try:
        for c in ("set pagination off", "set confirm off", "set width 0",
                  "set height 0", "set architecture i386"):
            gdb.execute(c)
        gdb.execute("file " + env["LWKT_GDBTEST_KERNEL"])
        gdb.execute("source " + env["LWKT_GDBTEST_LWKT"])
        # (before connecting: _location() disassembles the ELF file, the
        # guest's memory holds no kernel yet)
        bps = {name: ThreadBreakpoint(name, spec, want, pre)
               for name, (spec, want, pre) in STOPS.items()}
        gdb.execute("target remote " + env["LWKT_GDBTEST_TARGET"])
        result["preboot"] = run("lwkt vcpus")
        gdb.events.stop.connect(on_stop)
        pid = os.getpid()
        while bps:
            # A `continue` that does not end in time is interrupted the
            # way ^C does it (SIGINT to gdb, every second until it stops).
            t0 = time.monotonic()
            deadline[0] = t0 + CONTINUE_TIMEOUT
            done = threading.Event()

            def interrupter():
                if done.wait(CONTINUE_TIMEOUT):
                    return
                while not done.is_set():
                    os.kill(pid, signal.SIGINT)
                    done.wait(1.0)
            th = threading.Thread(target=interrupter, daemon=True)
            th.start()
            hit.clear()
            try:
                gdb.execute("continue", to_string=True)
            except gdb.error as e:
                result["errors"].append(
                    "continue (waiting for %s) failed: %s"
                    % (", ".join(sorted(bps)), e))
                break
            finally:
                done.set()
            mine = [b for b in hit.get("bps", []) if b in bps.values()]
            late = time.monotonic() > deadline[0]
            if not mine or late:
                result["errors"].append(
                    "no test breakpoint within %d s (waiting for %s; gdb "
                    "stopped %s)" % (
                        CONTINUE_TIMEOUT, ", ".join(sorted(bps)),
                        "at breakpoint %s" % mine[0].location if mine else
                        "by signal %s" % hit.get("sig")))
                break
            b = mine[0]
            name = b.stop_name
            stop = dict(location=STOPS[name][0], thread=STOPS[name][1],
                        hits=b.hits, outputs={}, secs=round(
                            time.monotonic() - t0, 2))
            result["transcript"].append(dict(
                cmd="# stop %s: %s in %s" % (name, STOPS[name][0],
                                             STOPS[name][1]), out=""))
            stop["oracle"] = oracle()
            for cmd in COMMANDS + STOP_BT[name]:
                stop["outputs"][cmd] = run(cmd)
            result["stops"][name] = stop
            b.delete()
            del bps[name]
            save()
    except Exception as e:                       # report, never hang
        result["errors"].append("driver: %s: %s" % (type(e).__name__, e))
    save()
    try:
        gdb.execute("kill")
    except gdb.error:
        pass


# ===========================================================================
# On the host: parsing the commands' output
# ===========================================================================
HEX = r"0x([0-9a-f]+)"


def parse_info_threads(text):
    """[(gdb thread num, QEMU cpu index)]"""
    return [(int(m.group(1)), int(m.group(2))) for m in re.finditer(
        r"^\*?\s*(\d+)\s+Thread \d+\.\d+ \(CPU#(\d+)", text, re.M)]


def parse_vcpus(text):
    out = []
    for m in re.finditer(r"^(\*| )(\d+)\s+(\d+|-)\s+(\d+|-)\s+(?:" + HEX +
                         r"\s+(\S+)|-)\s+(\S+(?: in stack)?)\s+0x([0-9a-f]+)",
                         text, re.M):
        out.append(dict(selected=m.group(1) == "*", num=int(m.group(2)),
                        cpu=None if m.group(3) == "-" else int(m.group(3)),
                        apic=None if m.group(4) == "-" else int(m.group(4)),
                        thread=int(m.group(5), 16) if m.group(5) else None,
                        name=m.group(6), how=m.group(7),
                        pc=int(m.group(8), 16)))
    return out


CPUS_RE = re.compile(
    r"^\s*(\d+)\s+(\d+)\s+(\S+)\s+(\d+|-)\s+" + HEX + r"\s+(\S+?)(\*?)\s+"
    r"(-?\d+)\s+(\d+)\s+" + HEX + r"\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+"
    r"(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)


def parse_cpus(text):
    out = []
    for m in CPUS_RE.finditer(text):
        g = m.groups()
        out.append(dict(cpu=int(g[0]), apic=int(g[1]), state=g[2],
                        vcpu=None if g[3] == "-" else int(g[3]),
                        cur=int(g[4], 16), curname=g[5], star=g[6] == "*",
                        crit=int(g[7]), nest=int(g[8]),
                        runqmask=int(g[9], 16), reqflags=g[10]))
    return out


THREAD_RE = re.compile(
    r"^  " + HEX + r"\s+(\S+)\s+(-?\d+)\s+(\d+)\s+(-?\d+)\s+(\S+)\s+(\S+)\s+"
    r"(\S+)\s+(\S+)(?:\s+preempted:(\S+))?\s*$")


def parse_threads(text):
    """{cpu: dict(cur, curname, runqmask, rows=[...])}"""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^cpu (\d+): (\d+) threads, curthread " + HEX +
                     r" (\S+), runqmask " + HEX, line)
        if m:
            cur = dict(n=int(m.group(2)), cur=int(m.group(3), 16),
                       curname=m.group(4), runqmask=int(m.group(5), 16),
                       rows=[])
            out[int(m.group(1))] = cur
            continue
        m = THREAD_RE.match(line)
        if m and cur is not None:
            g = m.groups()
            cur["rows"].append(dict(
                addr=int(g[0], 16), name=g[1], cpu=int(g[2]), pri=int(g[3]),
                crit=int(g[4]), state=g[5],
                flags=set() if g[6] == "-" else set(g[6].split("|")),
                wmesg=None if g[7] == "-" else g[7],
                tokens=[] if g[8] == "-" else g[8].split(","),
                preempted=g[9]))
    return out


def parse_runq(text):
    """{cpu: dict(mask, queues={pri: (bit, [addr...], warn)})}"""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^cpu (\d+): runqmask " + HEX, line)
        if m:
            cur = dict(mask=int(m.group(2), 16), queues={}, bad=[])
            out[int(m.group(1))] = cur
            continue
        m = re.match(r"^  pri\s+(\d+) mask (\d) n (\d+): (.*)$", line)
        if m and cur is not None:
            addrs = [int(a, 16) for a in re.findall(
                r"(?:^|, )0x([0-9a-f]{8}) ", m.group(4))]
            cur["queues"][int(m.group(1))] = (int(m.group(2)), addrs,
                                              int(m.group(3)))
            if "!!" in line:
                cur["bad"].append(line.strip())
    return out


def parse_ipiq(text):
    grid, rows, cols = {}, {}, None
    for line in text.splitlines():
        m = re.match(r"^  from\\to\s+([\d\s]+)$", line)
        if m:
            cols = [int(x) for x in m.group(1).split()]
            continue
        m = re.match(r"^\s+(\d+)((?:\s+(?:\d+|-))+)\s*$", line)
        if m and cols is not None and not rows:
            vals = m.group(2).split()
            for t, v in zip(cols, vals):
                grid[(int(m.group(1)), t)] = None if v == "-" else int(v)
            continue
        m = re.match(r"^\s+(\d+)->(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+"
                     r"(\d+)\s+(.*)$", line)
        if m:
            g = m.groups()
            msgs = g[7]
            pend = []
            pm = re.search(r"pending: (.*)$", msgs)
            if pm:
                pend = [re.sub(r"\+0x[0-9a-f]+$", "", f) for f in
                        re.findall(r"(\S+?)\(0x[0-9a-f]+, -?\d+\)",
                                   pm.group(1))]
            rows[(int(g[0]), int(g[1]))] = dict(
                w=int(g[2]), r=int(g[3]), x=int(g[4]), fill=int(g[5]),
                npoll=int(g[6]), pending=pend)
    return grid, rows


def parse_tokens(text):
    m = re.search(r"^(\d+) token\(s\) registered", text, re.M)
    n = int(m.group(1)) if m else None
    rows = []
    for m in re.finditer(r"^  " + HEX + r" (\S+)\s+(\d+|-) " + HEX +
                         r"\s+\d+\s+\d+\s+\d+\s+\d+\s+(.*)$", text, re.M):
        hs = [] if m.group(5).strip() == "-" else \
            [h.strip() for h in m.group(5).split(",")]
        rows.append(dict(addr=int(m.group(1), 16), name=m.group(2),
                         owner=None if m.group(3) == "-" else
                         int(m.group(3)), reqmask=int(m.group(4), 16),
                         holders=hs))
    return n, rows


def parse_bt(text):
    """[(n, pc, function name)], and whether the walk ended cleanly."""
    frames = []
    for m in re.finditer(r"^#(\d+)\s+" + HEX + r" in (\S+)", text, re.M):
        frames.append((int(m.group(1)), int(m.group(2), 16),
                       re.sub(r"\+0x[0-9a-f]+$", "", m.group(3))))
    m0 = re.search(r"^#0\s+cpu_lwkt_switch: switch frame at td_sp " + HEX +
                   r" \(ebp " + HEX + r", resume pc " + HEX, text, re.M)
    return dict(frames=frames, names=[f[2] for f in frames],
                switch=(int(m0.group(1), 16), int(m0.group(3), 16))
                if m0 else None,
                live="unwound by gdb from live registers" in text,
                end=re.search(r"^\((.*)\)\s*$", text, re.M).group(1)
                if re.search(r"^\((.*)\)\s*$", text, re.M) else None)


# ===========================================================================
# On the host: the checks
# ===========================================================================
def td_state(cpu, t):
    f = t["flags"]
    if cpu["cur"] == t["addr"]:
        return "running"
    if f & 0x4:
        return "preempted"
    if f & 0x200:
        return "exiting"
    if f & 0x2:
        return "runnable"
    return "blocked"


def flag_set(names, flags):
    return {names[i] for i in range(len(names)) if flags & (1 << i)}


class Checker(object):
    def __init__(self):
        self.results = []           # (stop, name, ok, detail)

    def check(self, stop, name, problems):
        problems = [p for p in problems if p]
        self.results.append((stop, name, not problems, problems))


def check_stop(ck, name, stop):
    o, outs = stop["oracle"], stop["outputs"]
    for c in o["cpus"]:                 # JSON made the priorities strings
        c["runq"] = {int(k): v for k, v in c["runq"].items()}
    want_thread = stop["thread"]
    cpus = {c["cpu"]: c for c in o["cpus"]}
    by_addr = {t["addr"]: (c, t) for c in o["cpus"] for t in c["threads"]}
    by_name = {}
    for c in o["cpus"]:
        for t in c["threads"]:
            by_name.setdefault(t["name"], []).append((c, t))
    gd_of = {c["gd_addr"]: c["cpu"] for c in o["cpus"]}

    # The stop itself: the selected vCPU runs the wanted thread.
    sel_cpu = next((gd_of.get(v["fs_base"]) for v in o["vcpus"]
                    if v["num"] == o["selected"]), None)
    p = []
    if sel_cpu is None:
        p.append("the selected gdb thread %s maps to no CPU" % o["selected"])
    elif cpus[sel_cpu]["curname"] != want_thread:
        p.append("stopped on cpu %d in %s, not %s" % (
            sel_cpu, cpus[sel_cpu]["curname"], want_thread))
    ck.check(name, "stopped in %s (%s)" % (want_thread, stop["location"]), p)

    # info threads: one gdb thread per vCPU
    it = parse_info_threads(outs["info threads"])
    ck.check(name, "info threads: %s vCPUs" % SMP, [
        "info threads lists %d vCPU threads, want %s" % (len(it), SMP)
        if len(it) != int(SMP) else None,
        "QEMU cpu indexes %s" % sorted(c for _, c in it)
        if sorted(c for _, c in it) != list(range(int(SMP))) else None])

    # lwkt vcpus
    vs = parse_vcpus(outs["lwkt vcpus"])
    p = []
    if len(vs) != len(o["vcpus"]):
        p.append("%d rows for %d gdb threads" % (len(vs), len(o["vcpus"])))
    for v in vs:
        ov = next((x for x in o["vcpus"] if x["num"] == v["num"]), None)
        if ov is None:
            p.append("gdb thread %d does not exist" % v["num"])
            continue
        want = gd_of.get(ov["fs_base"])
        if v["cpu"] != want:
            p.append("gdb thread %d: cpu %s, fs_base says %s"
                     % (v["num"], v["cpu"], want))
        if v["how"] != "fs_base":
            p.append("gdb thread %d identified by %r, not fs_base"
                     % (v["num"], v["how"]))
        if want is not None and v["thread"] != cpus[want]["cur"]:
            p.append("gdb thread %d: thread 0x%x, cpu %d runs 0x%x"
                     % (v["num"], v["thread"] or 0, want, cpus[want]["cur"]))
        if want is not None:
            t = by_addr.get(cpus[want]["cur"])
            if t and not t[1]["kstack"] <= ov["esp"] < t[1]["kstack"] + \
                    t[1]["kstack_size"]:
                p.append("gdb thread %d: esp 0x%x outside the stack of %s"
                         % (v["num"], ov["esp"], t[1]["name"]))
        if v["pc"] != ov["pc"]:
            p.append("gdb thread %d: pc 0x%x, register says 0x%x"
                     % (v["num"], v["pc"], ov["pc"]))
        if v["selected"] != (v["num"] == o["selected"]):
            p.append("gdb thread %d: selection mark wrong" % v["num"])
    if sorted(v["cpu"] for v in vs if v["cpu"] is not None) != \
            sorted(cpus):
        p.append("vCPUs map to cpus %s, want each of %s once" % (
            sorted(v["cpu"] for v in vs if v["cpu"] is not None),
            sorted(cpus)))
    ck.check(name, "lwkt vcpus: each vCPU is one CPU (fs_base), with its "
             "thread", p)

    # lwkt cpus
    cs = parse_cpus(outs["lwkt cpus"])
    p = []
    if [c["cpu"] for c in cs] != list(range(int(SMP))):
        p.append("cpu rows %s, want 0..%d" % ([c["cpu"] for c in cs],
                                              int(SMP) - 1))
    vmap = {v["cpu"]: v["num"] for v in vs}
    for c in cs:
        oc = cpus.get(c["cpu"])
        if oc is None:
            p.append("cpu %d is not online" % c["cpu"])
            continue
        for k, ok in (("apic", "apic"), ("cur", "cur"),
                      ("curname", "curname"), ("crit", "curcrit"),
                      ("nest", "nest"), ("runqmask", "runqmask")):
            if c[k] != oc[ok]:
                p.append("cpu %d: %s %r, kernel has %r" % (c["cpu"], k, c[k],
                                                           oc[ok]))
        if oc["gd_cpuid"] != c["cpu"]:
            p.append("cpu %d: gd_cpuid is %d" % (c["cpu"], oc["gd_cpuid"]))
        if c["state"] != "online":
            p.append("cpu %d: state %s" % (c["cpu"], c["state"]))
        if c["vcpu"] != vmap.get(c["cpu"]):
            p.append("cpu %d: vcpu %s, lwkt vcpus says %s" % (
                c["cpu"], c["vcpu"], vmap.get(c["cpu"])))
        if c["star"] != (c["cpu"] == sel_cpu):
            p.append("cpu %d: selected-vCPU mark wrong" % c["cpu"])
    ck.check(name, "lwkt cpus: %s CPUs, ids, APIC ids, current threads, "
             "masks" % SMP, p)

    # lwkt threads
    th = parse_threads(outs["lwkt threads"])
    p = []
    names = o["flag_names"]
    if sorted(th) != sorted(cpus):
        p.append("cpus listed %s, online %s" % (sorted(th), sorted(cpus)))
    for cpu, oc in cpus.items():
        tc = th.get(cpu)
        if tc is None:
            continue
        rows = tc["rows"]
        if [r["addr"] for r in rows] != [t["addr"] for t in oc["threads"]]:
            p.append("cpu %d: threads %s, gd_tdallq has %s" % (
                cpu, [r["name"] for r in rows],
                [t["name"] for t in oc["threads"]]))
            continue
        if tc["cur"] != oc["cur"] or tc["n"] != len(oc["threads"]):
            p.append("cpu %d: header wrong" % cpu)
        for r, t in zip(rows, oc["threads"]):
            want = dict(name=t["name"], cpu=t["cpu"], pri=t["pri"],
                        crit=t["crit"], state=td_state(oc, t),
                        flags=flag_set(names, t["flags"]),
                        wmesg=t["wmesg"].replace(" ", "_")
                        if t["wmesg"] else None, tokens=t["tokens"])
            for k, v in want.items():
                if r[k] != v:
                    p.append("cpu %d thread %s: %s %r, kernel has %r"
                             % (cpu, t["name"], k, r[k], v))
        idle = [r for r in rows if r["addr"] == oc["idle"]]
        if not idle or idle[0]["name"] != "idle_%d" % cpu:
            p.append("cpu %d: no idle_%d thread" % (cpu, cpu))
        running = [r for r in rows if r["state"] == "running"]
        if [r["addr"] for r in running] != [oc["cur"]]:
            p.append("cpu %d: running threads %s, curthread %s" % (
                cpu, [r["name"] for r in running], oc["curname"]))
        # Invariants, which a CPU holds outside critical sections (it
        # changes its scheduling state only inside one).
        if oc["curcrit"] == 0 and oc["nest"] == 0:
            for r in rows:
                is_cur = r["addr"] == oc["cur"]
                if ("RUNNING" in r["flags"]) != is_cur:
                    p.append("cpu %d (quiescent): %s %s the RUNNING flag"
                             % (cpu, r["name"], "lacks" if is_cur
                                else "has"))
                if r["cpu"] != cpu:
                    p.append("cpu %d: %s says cpu %d" % (cpu, r["name"],
                                                          r["cpu"]))
    # The test's own threads.
    want_states = {
        "sched": [("ktest", 0, ("blocked",)), ("kt_cpu0", 0, ("blocked",)),
                  ("hc_0", 0, ("running",)), ("hc_1", 0, ("runnable",))],
        "token": [("ktest", 0, ("blocked",)),
                  ("kt_cpu0", 0, ("blocked", "running", "runnable")),
                  ("bench_remote", 1, ("running",))],
        "preempt": [("ktest", 0, ("blocked",)),
                    ("kt_cpu0", 0, ("preempted",)),
                    ("ithread_test", 0, ("running",))],
    }[name]
    rows_by_name = {}
    for cpu, tc in th.items():
        for r in tc["rows"]:
            rows_by_name.setdefault(r["name"], []).append(r)
    for tname, cpu, states in want_states:
        rs = rows_by_name.get(tname, [])
        if len(rs) != 1:
            p.append("%d threads named %s" % (len(rs), tname))
        elif rs[0]["cpu"] != cpu or rs[0]["state"] not in states:
            p.append("%s: cpu %d %s, want cpu %d %s" % (
                tname, rs[0]["cpu"], rs[0]["state"], cpu, "/".join(states)))
    if name == "token":
        rs = rows_by_name.get("bench_remote", [])
        if rs and rs[0]["tokens"] != ["bench"]:
            p.append("bench_remote holds %s, want bench" % rs[0]["tokens"])
    if name == "preempt":
        rs = rows_by_name.get("ithread_test", [])
        if rs and rs[0]["preempted"] != "kt_cpu0":
            p.append("ithread_test preempted %s, want kt_cpu0"
                     % rs[0]["preempted"])
        rs = rows_by_name.get("kt_cpu0", [])
        if rs and "PREEMPT_LOCK" not in rs[0]["flags"]:
            p.append("kt_cpu0 flags %s lack PREEMPT_LOCK" % rs[0]["flags"])
    ck.check(name, "lwkt threads: every thread, idle threads, states", p)

    # lwkt runq
    rq = parse_runq(outs["lwkt runq"])
    p = []
    for cpu, oc in cpus.items():
        r = rq.get(cpu)
        if r is None:
            p.append("cpu %d missing" % cpu)
            continue
        if r["mask"] != oc["runqmask"]:
            p.append("cpu %d: mask 0x%x, kernel 0x%x" % (cpu, r["mask"],
                                                        oc["runqmask"]))
        bits = {q for q, (bit, _, _) in r["queues"].items() if bit}
        want_bits = {i for i in range(32) if oc["runqmask"] >> i & 1}
        if bits != want_bits:
            p.append("cpu %d: queues marked in the mask %s, mask bits %s"
                     % (cpu, sorted(bits), sorted(want_bits)))
        shown = {q: a for q, (_, a, _) in r["queues"].items() if a}
        if shown != oc["runq"]:
            p.append("cpu %d: queues %s, kernel %s" % (cpu, shown,
                                                       oc["runq"]))
        # every RUNQ-flagged thread is on the queue of its priority
        queued = {a: q for q, al in oc["runq"].items() for a in al}
        if oc["curcrit"] == 0 and oc["nest"] == 0:
            for t in oc["threads"]:
                if bool(t["flags"] & 0x2) != (t["addr"] in queued):
                    p.append("cpu %d: %s RUNQ flag %d, on a queue: %s" % (
                        cpu, t["name"], bool(t["flags"] & 2),
                        t["addr"] in queued))
                elif t["addr"] in queued and queued[t["addr"]] != \
                        t["pri"] & 31:
                    p.append("cpu %d: %s (pri %d) on queue %d" % (
                        cpu, t["name"], t["pri"], queued[t["addr"]]))
            for q in oc["runq"]:
                if not oc["runqmask"] >> q & 1:
                    p.append("cpu %d: queue %d not empty, mask bit clear"
                             % (cpu, q))
            if r["bad"]:
                p.append("cpu %d: %s" % (cpu, "; ".join(r["bad"])))
    if name == "sched":
        hc = [t for c in o["cpus"] for t in c["threads"]
              if t["name"] in ("hc_0", "hc_1")]
        if len(hc) == 2:
            q = rq.get(0, {}).get("queues", {}).get(hc[0]["pri"])
            order = [by_addr[a][1]["name"] for a in (q[1] if q else [])
                     if a in by_addr]
            if order[:2] != ["hc_0", "hc_1"] and \
                    order[:2] != ["hc_1", "hc_0"]:
                p.append("cpu 0 queue %d is %s, want hc_0 and hc_1"
                         % (hc[0]["pri"], order))
    ck.check(name, "lwkt runq: queues match the run-queue mask and the "
             "threads' RUNQ flags", p)

    # lwkt ipiq
    grid, rows = parse_ipiq(outs["lwkt ipiq"])
    p = []
    for e in o["ipiq"]:
        k = (e["src"], e["dst"])
        if grid.get(k) != e["w"]:
            p.append("grid %d->%d: %s, windex %d" % (k + (grid.get(k),
                                                          e["w"])))
        r = rows.get(k)
        if e["w"] == 0:
            if r is not None:
                p.append("%d->%d listed without traffic" % k)
            continue
        if r is None:
            p.append("%d->%d (windex %d) not listed" % (k + (e["w"],)))
            continue
        want = dict(w=e["w"], r=e["r"], x=e["x"],
                    fill=(e["w"] - e["r"]) & 0xffffffff, npoll=e["npoll"],
                    pending=e["pending"])
        for kk, v in want.items():
            if r[kk] != v:
                p.append("%d->%d: %s %r, kernel %r" % (k + (kk, r[kk], v)))
    if len(grid) != len(o["ipiq"]):
        p.append("grid has %d cells for %d pairs" % (len(grid),
                                                     len(o["ipiq"])))
    if not any(e["w"] for e in o["ipiq"]):
        p.append("no IPIQ traffic at all: nothing was checked")
    ck.check(name, "lwkt ipiq: FIFO matrix indices, fill, pending "
             "functions", p)

    # lwkt tokens
    n, toks = parse_tokens(outs["lwkt tokens"])
    p = []
    if n != len(o["tokens"]) or len(toks) != len(o["tokens"]):
        p.append("%s tokens (%d rows), registry has %d" % (n, len(toks),
                                                          len(o["tokens"])))
    holders = {}
    for c in o["cpus"]:
        for t in c["threads"]:
            for tn in t["tokens"]:
                holders.setdefault(tn, []).append((t["name"], c["cpu"]))
    for r, ot in zip(toks, o["tokens"]):
        if (r["addr"], r["name"], r["owner"], r["reqmask"]) != \
                (ot["addr"], ot["name"], ot["owner"], ot["reqmask"]):
            p.append("token %s: %s, kernel %s" % (ot["name"], r, ot))
        want = sorted("%s@cpu%d(%s)" % (tn, c, "active" if c == ot["owner"]
                                        else "waiting")
                      for tn, c in holders.get(ot["name"], []))
        if sorted(r["holders"]) != want:
            p.append("token %s: holders %s, want %s" % (
                ot["name"], r["holders"], want))
    if name == "token":
        b = [r for r in toks if r["name"] == "bench"]
        if len(b) != 1:
            p.append("token bench not listed")
        elif not any(h.startswith("bench_remote@cpu1(") for h in
                     b[0]["holders"]):
            p.append("token bench: holders %s, want bench_remote@cpu1"
                     % b[0]["holders"])
    ck.check(name, "lwkt tokens: registry, owners, holders", p)

    # lwkt bt of sleeping threads (from the switch frame)
    def bt_check(cmd, thread, must):
        bt = parse_bt(outs[cmd])
        p = []
        ts = by_name.get(thread, [])
        if len(ts) != 1:
            return ["%d threads named %s" % (len(ts), thread)]
        oc, t = ts[0]
        st = td_state(oc, t)
        if st == "running":
            if not bt["live"]:
                p.append("%s runs, but was not unwound live" % thread)
        else:
            if bt["switch"] is None:
                p.append("no switch frame line")
            elif bt["switch"] != (t["sp"], t["resume"]):
                p.append("switch frame (td_sp, pc) %s, kernel (0x%x, 0x%x)"
                         % (tuple(hex(x) for x in bt["switch"]), t["sp"],
                            t["resume"] or 0))
            f1 = [f for f in bt["frames"] if f[0] == 1]
            if not f1 or f1[0][1] != t["resume"]:
                p.append("frame #1 pc %s, resume pc 0x%x" % (
                    hex(f1[0][1]) if f1 else "missing", t["resume"] or 0))
            if bt["end"] != "end of chain (ebp 0)":
                p.append("walk ended with %r" % bt["end"])
            if not bt["names"] or bt["names"][-1] != "cpu_thread_trampoline":
                p.append("last frame %s, want cpu_thread_trampoline"
                         % (bt["names"][-1:] or "none"))
        names = bt["names"]
        idx = -1
        for m in must:
            alts = m.split("|")
            hits = [i for i, nm in enumerate(names) if nm in alts]
            if not hits:
                p.append("no %s frame in %s" % (m, names))
            elif hits[0] < idx:
                p.append("%s out of order in %s" % (m, names))
            else:
                idx = hits[0]
        return p

    ck.check(name, "lwkt bt ktest: lwkt_switch <- kt_wait <- "
             "ktest_main_thread", bt_check(
                 "lwkt bt ktest", "ktest",
                 ["lwkt_switch", "kt_wait|kt_run_group", "ktest_main_thread",
                  "lwkt_thread_start"]))
    if name == "sched":
        ck.check(name, "lwkt bt kt_cpu0: asleep in lwkt_sleep_us in the "
                 "test", bt_check("lwkt bt kt_cpu0", "kt_cpu0", [
                     "lwkt_switch", "lwkt_sleep_us",
                     "ktest_fn_sched_hardclock_round_robin",
                     "kt_group_thread"]))
        ck.check(name, "lwkt bt hc_0 (running: live registers)", bt_check(
            "lwkt bt hc_0", "hc_0", ["hc_worker", "lwkt_thread_start"]))
        ck.check(name, "lwkt bt hc_1 (never ran: cpu_thread_trampoline)",
                 bt_check("lwkt bt hc_1", "hc_1", ["cpu_thread_trampoline"]))
    elif name == "preempt":
        p = bt_check("lwkt bt kt_cpu0", "kt_cpu0", [
            "lwkt_preempt", "trap", "intr_common",
            "ktest_fn_sched_preemption_hit", "kt_group_thread"])
        if "<-- interrupted (vector" not in outs["lwkt bt kt_cpu0"]:
            p.append("no interrupted frame marked")
        ck.check(name, "lwkt bt kt_cpu0 (preempted: through the interrupt "
                 "frame into the test)", p)
        ck.check(name, "lwkt bt ithread_test (running: live registers)",
                 bt_check("lwkt bt ithread_test", "ithread_test", [
                     "ithread_main", "lwkt_thread_start"]))
    else:
        kt = by_name.get("kt_cpu0", [(None, None)])[0]
        must = ["ktest_fn_bench_token_migrate", "kt_group_thread"]
        if kt[1] is not None and td_state(kt[0], kt[1]) != "running":
            must = ["lwkt_switch"] + must
        ck.check(name, "lwkt bt kt_cpu0 (%s)" % (
            td_state(kt[0], kt[1]) if kt[1] else "?"),
            bt_check("lwkt bt kt_cpu0", "kt_cpu0", must))
        ck.check(name, "lwkt bt bench_remote (running: live registers)",
                 bt_check("lwkt bt bench_remote", "bench_remote", [
                     "lwkt_gettoken_slow", "token_take_op",
                     "remote_loop_thread"]))


def check_all(res):
    ck = Checker()
    p = []
    pre = res.get("preboot") or ""
    if len(parse_vcpus(pre)) != int(SMP):
        p.append("%d vCPU rows before boot" % len(parse_vcpus(pre)))
    if "has not started its CPUs yet" not in pre:
        p.append("no 'not started' note before boot")
    ck.check("boot", "lwkt vcpus before the kernel runs", p)
    for e in res.get("errors", []):
        ck.check("driver", e, [e])
    for name in STOPS:
        stop = res.get("stops", {}).get(name)
        if stop is None:
            ck.check(name, "breakpoint %s in %s reached" % STOPS[name][:2],
                     ["never stopped there"])
            continue
        try:
            check_stop(ck, name, stop)
        except Exception as e:                   # a parse bug fails, loudly
            import traceback
            tb = traceback.extract_tb(e.__traceback__)[-1]
            ck.check(name, "checks ran", ["%s: %s (gdb_test.py:%d)" % (
                type(e).__name__, e, tb.lineno)])
    return ck.results


# ===========================================================================
# On the host: running it
# ===========================================================================
def host_main(argv):
    import argparse
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import runner

    ap = argparse.ArgumentParser(description="gdb helpers against QEMU "
                                 "-smp %s" % SMP)
    ap.add_argument("--kernel", default=os.path.join(runner.BUILD,
                                                     "kernel.elf"))
    ap.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT)
    ap.add_argument("--summary", action="store_true",
                    help="one line unless something fails")
    ap.add_argument("--keep", action="store_true",
                    help="keep the session directory under build/gdb/")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    logdir = os.path.join(runner.BUILD, "logs")
    os.makedirs(logdir, exist_ok=True)
    transcript = os.path.join(logdir, "gdb-test.txt")
    serial = os.path.join(logdir, "gdb-test.log")

    def fail(msg):
        print("gdb-test: ERROR: %s" % msg)
        return 1

    if not os.path.exists(a.kernel):
        return fail("kernel %s not found (run make)" % a.kernel)
    iso, err = runner.build_iso(a.kernel, CMDLINE)
    if err:
        return fail(err)
    boot = runner.Boot("gdb-test", SMP, "multi", CMDLINE, runner.PASS)
    stub = runner.GdbStub("gdb-test")
    out_json = os.path.join(stub.dir, "result.json")
    gdb_log = os.path.join(stub.dir, "gdb.out")
    qemu = gdbp = None
    try:
        with open(serial, "wb") as ser:
            qemu = runner.start_gdb_qemu(boot, iso, stub, stdout=ser)
        if not stub.wait_ready(qemu):
            return fail("QEMU's gdb stub did not come up: %s" % "; ".join(
                runner.qemu_stderr(stub)[-3:]))
        env = dict(os.environ, LWKT_GDBTEST_OUT=out_json,
                   LWKT_GDBTEST_KERNEL=os.path.abspath(a.kernel),
                   LWKT_GDBTEST_LWKT=runner.LWKT_GDB,
                   LWKT_GDBTEST_TARGET=stub.address())
        cmd = [os.environ.get("GDB", "gdb"), "-batch", "-nx", "-x",
               os.path.abspath(__file__)]
        with open(gdb_log, "wb") as gl:
            try:
                gdbp = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                        stdout=gl, stderr=subprocess.STDOUT,
                                        env=env, start_new_session=True)
            except OSError as e:
                return fail("cannot start gdb: %s" % e)
            try:
                gdbp.wait(timeout=a.timeout)
            except subprocess.TimeoutExpired:
                runner.kill_group(gdbp)
                print("gdb-test: gdb killed after %d s" % a.timeout)
    finally:
        if gdbp is not None and gdbp.poll() is None:
            runner.kill_group(gdbp)
        if qemu is not None:
            runner.stop_qemu(qemu)
        stub.cleanup()
    wall = time.monotonic() - t0
    try:
        with open(out_json) as f:
            res = json.load(f)
    except (OSError, ValueError) as e:
        res = dict(stops={}, errors=["no driver result (%s)" % e],
                   transcript=[])
    try:
        with open(gdb_log, errors="replace") as f:
            gdb_out = f.read()
    except OSError:
        gdb_out = ""
    with open(transcript, "w") as f:
        f.write("# make gdb-test: kernel %s, -smp %s, cmdline %r\n"
                % (os.path.relpath(a.kernel), SMP, CMDLINE))
        for e in res.get("transcript", []):
            f.write("(gdb) %s\n%s" % (e["cmd"], e["out"]) if not
                    e["cmd"].startswith("#") else "\n%s\n" % e["cmd"])
        f.write("\n# gdb's own output\n" + gdb_out)
    results = check_all(res)
    nbad = sum(1 for r in results if not r[2])
    rel = os.path.relpath(transcript)
    if not a.summary or nbad:
        for stop, name, ok, problems in results:
            print("%-6s %-6s %s" % ("ok" if ok else "FAIL", stop, name))
            for pr in problems[:8]:
                print("         # " + pr)
    if nbad:
        print("gdb-test: FAILED %d of %d checks (%.1f s); transcript %s, "
              "serial %s" % (nbad, len(results), wall, rel,
                             os.path.relpath(serial)))
        if "Traceback" in gdb_out or "Error" in gdb_out:
            print("gdb-test: gdb said:\n" + "\n".join(
                "   | " + l for l in gdb_out.splitlines()[-15:]))
    else:
        print("gdb-test: ok, %d checks at %d breakpoints, -smp %s, %.1f s "
              "(transcript %s)" % (len(results), len(res.get("stops", {})),
                                  SMP, wall, rel))
    if not a.keep:
        for fn in (out_json, gdb_log, stub.qemu_err, stub.gdbinit,
                   stub.serial_log):
            try:
                os.unlink(fn)
            except OSError:
                pass
        try:
            os.rmdir(stub.dir)
        except OSError:
            pass
    return 1 if nbad else 0


if IN_GDB:
    driver()
elif __name__ == "__main__":
    sys.exit(host_main(sys.argv[1:]))
