"""QEMU: the ISO a boot needs, its command line, running it with the serial
output captured and parsed line by line, and the cached test.list boot.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

from .consts import BUILD, MKISO, QEMU_PASS, QEMU_FAIL, QEMU_PANIC, QEMU_RESET
from .ktap import KtapParser
from .matrix import Boot, LIST
from .checks import parse_test_list
from .verdict import guest_status


def iso_path(kernel, cmdline):
    h = hashlib.sha256()
    with open(kernel, "rb") as f:
        h.update(f.read())
    h.update(b"\0" + cmdline.encode() + b"\0")
    try:
        with open(MKISO, "rb") as f:
            h.update(f.read())
    except OSError:
        pass
    return os.path.join(BUILD, "iso", h.hexdigest()[:16] + ".iso")


OBJCOPY = os.environ.get("OBJCOPY", "i686-linux-gnu-objcopy")


def boot_kernel(kernel, iso):
    """The kernel file to put in `iso`: a copy of `kernel` without its
    debugging sections (beside the ISO, named after it), which GRUB loads
    ~0.25 s of TCG time faster per boot; the sections the kernel uses
    (.ksyms included) are unchanged, and gdb reads the original.  The
    original itself if objcopy is missing or fails."""
    fd, out = tempfile.mkstemp(".elf", ".strip.", os.path.dirname(iso))
    os.close(fd)
    try:
        r = subprocess.run([OBJCOPY, "--strip-debug", kernel, out],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return out
    except OSError:
        pass
    os.unlink(out)
    return kernel


def build_iso(kernel, cmdline):
    """Returns (iso path, None) or (None, error text)."""
    iso = iso_path(kernel, cmdline)
    if os.path.exists(iso):
        os.utime(iso)
        return iso, None
    os.makedirs(os.path.dirname(iso), exist_ok=True)
    elf = boot_kernel(kernel, iso)
    try:
        r = subprocess.run([MKISO, elf, cmdline, iso], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    finally:
        if elf != kernel:
            os.unlink(elf)
    if r.returncode != 0:
        return None, "mkiso failed (exit %d): %s" % (r.returncode,
                                                     r.stdout.strip())
    return iso, None


def prune_isos(keep, max_age=3600):
    """Remove cached ISOs unused for an hour (not those in `keep`)."""
    d = os.path.join(BUILD, "iso")
    now = time.time()
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        path = os.path.join(d, n)
        if n.endswith(".iso") and path not in keep:
            try:
                if now - os.path.getmtime(path) > max_age:
                    os.unlink(path)
            except OSError:
                pass


def qemu_command(boot, iso):
    extra = list(boot.get("args", ()))
    cmd = [os.environ.get("QEMU", "qemu-system-i386")]
    if not any(a in ("-machine", "-M") for a in extra):
        cmd += ["-machine", boot.get("machine", "pc")]
    if "-m" not in extra:
        cmd += ["-m", "128M"]
    if "-smp" not in extra:
        cmd += ["-smp", str(boot.get("smp", "1"))]
    if "-accel" not in extra:
        cmd += ["-accel", "tcg,thread=%s" % boot.get("thread", "single")]
    cmd += ["-cdrom", iso, "-boot", "d", "-display", "none",
            "-serial", "stdio", "-monitor", "none", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    return cmd + extra


class AnsiFilter(object):
    """Drops terminal escape sequences from a byte stream (for live echo:
    GRUB clears the screen through the serial terminal)."""

    def __init__(self):
        self.state = 0                # 0 text, 1 after ESC, 2 in CSI

    def __call__(self, data):
        out = bytearray()
        for b in data:
            if self.state == 0:
                if b == 0x1b:
                    self.state = 1
                else:
                    out.append(b)
            elif self.state == 1:
                self.state = 2 if b == 0x5b else 0
            else:
                if 0x40 <= b <= 0x7e:
                    self.state = 0
        return bytes(out)


class BootRun(object):
    """Result of one QEMU run."""

    def __init__(self):
        self.parser = KtapParser()
        self.qemu_status = None
        self.timed_out = False
        self.start_error = None
        self.grub_error = None        # GRUB's first 'error:' line
        self.stderr = ""
        self.wall = 0.0
        self.host_cpu = None          # QEMU's user+system CPU seconds
        self.timeout = None
        self.cmd = []


RUNNING = set()                       # live Popen objects (for ^C)
RUNNING_LOCK = threading.Lock()


def kill_group(proc):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            return
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


GRUB_ERROR = re.compile(r"^\s*error: (.*?)\s*$")
GRUB_GAVE_UP = "Failed to boot both default and fallback entries"


def loader_failed(br, text):
    """Follow GRUB's lines before the kernel's: remember its first
    'error: ...' and, once it gives up on every entry, say so in
    br.start_error (a harness error naming GRUB's reason, at once, not a
    hang at the timeout).  True when GRUB gave up."""
    m = GRUB_ERROR.match(text)
    if m and not br.grub_error:
        br.grub_error = m.group(1)
    if GRUB_GAVE_UP in text and not br.start_error:
        br.start_error = "GRUB could not start the kernel: %s" % (
            br.grub_error or "no reason printed")
        return True
    return False


def run_qemu(cmd, timeout, log_path=None, echo=None, deadline=None,
             started=None):
    """Run QEMU; feed its serial output to a KtapParser line by line.

    echo(bytes) gets the raw output as it arrives.  The run is killed after
    `timeout` seconds (or at `deadline`, a time.monotonic() value, if that
    is sooner).  started(Popen) is called once QEMU is running.  Returns a
    BootRun.
    """
    br = BootRun()
    br.cmd = cmd
    br.timeout = timeout
    t0 = time.monotonic()
    limit = t0 + timeout
    if deadline is not None and deadline < limit:
        limit = deadline
        br.timeout = max(0, int(deadline - t0))
    log = open(log_path, "wb") if log_path else None
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as e:
        br.start_error = "cannot start QEMU (%s): %s" % (cmd[0], e)
        if log:
            log.write(("runner: %s\n" % br.start_error).encode())
            log.close()
        return br
    with RUNNING_LOCK:
        RUNNING.add(proc)
    if started is not None:
        started(proc)
    err_chunks = []

    def read_err():
        err_chunks.append(proc.stderr.read())

    def read_out():
        buf = b""
        fd = proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            if log:
                log.write(data)
                log.flush()
            if echo:
                echo(data)
            buf += data
            t = time.monotonic() - t0
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                br.parser.feed(text, t)
                if loader_failed(br, text):
                    kill_group(proc)
        if buf:
            br.parser.feed(buf.decode("utf-8", "replace"),
                           time.monotonic() - t0)

    exited = threading.Event()

    def watch_exit():
        br.host_cpu = exit_cpu_seconds(proc.pid)
        exited.set()

    tout = threading.Thread(target=read_out, daemon=True)
    terr = threading.Thread(target=read_err, daemon=True)
    twait = threading.Thread(target=watch_exit, daemon=True)
    tout.start()
    terr.start()
    twait.start()
    try:
        if not exited.wait(max(0.0, limit - time.monotonic())):
            br.timed_out = True
            kill_group(proc)
        proc.wait(timeout=10)         # reaps it (exited, or killed)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.returncode is None:   # ^C or another exception
            kill_group(proc)
        with RUNNING_LOCK:
            RUNNING.discard(proc)
    tout.join(5)
    terr.join(5)
    for th, f in ((tout, proc.stdout), (terr, proc.stderr)):
        if not th.is_alive():         # else a child still holds the pipe
            try:
                f.close()
            except OSError:
                pass
    br.wall = time.monotonic() - t0
    br.qemu_status = None if br.timed_out else proc.returncode
    br.stderr = b"".join(c for c in err_chunks if c).decode("utf-8", "replace")
    if log:
        if br.stderr.strip():
            log.write(b"\n--- qemu stderr ---\n" + br.stderr.encode())
        log.write(("\n--- runner: qemu %s after %.1f s ---\n" % (
            "killed (timeout)" if br.timed_out else
            "exit status %s" % proc.returncode, br.wall)).encode())
        log.close()
    if (not br.timed_out and not br.start_error and proc.returncode not in
            (QEMU_PASS, QEMU_FAIL, QEMU_PANIC, QEMU_RESET)):
        msg = br.stderr.strip().splitlines()
        br.start_error = "QEMU exited with status %s%s" % (
            proc.returncode, (": " + msg[-1]) if msg else "")
    return br


def exit_cpu_seconds(pid):
    """Wait for child `pid` to exit without reaping it (Popen does that),
    then return the CPU time (user + system, every thread) it used, read
    from the zombie's /proc/<pid>/stat; None if it cannot be read (e.g.
    reaped meanwhile by a kill after a timeout)."""
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is the state (field 3); utime, stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


LIST_TIMEOUT = 60


def test_registry(kernel):
    """The tests `kernel` registers: a -smp 1 test.list boot, cached in
    build/testlist/ by the kernel's hash.  Returns parse_test_list's list,
    or a string saying why it is unknown."""
    d = os.path.join(BUILD, "testlist")
    sha = kernel_sha256(kernel)
    if sha is None:
        return "cannot read %s" % kernel
    cache = os.path.join(d, sha[:16] + ".json")
    try:
        with open(cache) as f:
            return [tuple(x) for x in json.load(f)]
    except (OSError, ValueError):
        pass
    boot = Boot("testlist", "1", "single", "test.list", LIST,
                timeout=LIST_TIMEOUT)
    iso, err = build_iso(kernel, boot["cmdline"])
    if err:
        return "test.list boot: %s" % err
    br = run_qemu(qemu_command(boot, iso), LIST_TIMEOUT)
    reg = parse_test_list(br.parser.lines)
    if br.qemu_status != QEMU_PASS or not reg:
        return "test.list boot of %s failed (%s, %d tests listed)" % (
            kernel, guest_status(br.qemu_status, br.timed_out,
                                 br.start_error), len(reg))
    os.makedirs(d, exist_ok=True)
    tmp = cache + ".%d.tmp" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(reg, f)
    os.replace(tmp, cache)
    return reg


def kernel_sha256(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            h.update(f.read())
    except OSError:
        return None
    return h.hexdigest()
