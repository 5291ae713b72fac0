"""`gdb` and `debug`: QEMU paused under its gdb stub (also used by
scripts/gdb_test.py, through scripts/runner.py's re-exports).
"""

import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

from .consts import BUILD, ROOT, EXIT_CODE, ST_ERROR
from .matrix import boot_from_args
from .qemu import (AnsiFilter, RUNNING, RUNNING_LOCK, build_iso, kill_group,
                   qemu_command, run_qemu)
from .verdict import judge_run
from .report import print_failures, verdict_line


GDB_DIR = os.path.join(BUILD, "gdb")
LWKT_GDB = os.path.join(ROOT, "scripts", "gdb", "lwkt.py")
SUN_PATH_MAX = 107                    # sockaddr_un.sun_path less its NUL
GDB_DIR_MAX_AGE = 86400               # session directories kept a day


def free_tcp_port():
    """A TCP port nobody listens on now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_listening(port):
    """True if something listens on TCP `port` (Linux: /proc/net/tcp*);
    None if that cannot be told."""
    seen = False
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                lines = fh.readlines()[1:]
        except OSError:
            continue
        seen = True
        for line in lines:
            w = line.split()
            if len(w) > 3 and w[3] == "0A" and \
                    int(w[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False if seen else None


def prune_gdb_dirs(max_age=GDB_DIR_MAX_AGE):
    """Remove session directories older than a day."""
    try:
        names = os.listdir(GDB_DIR)
    except OSError:
        return
    now = time.time()
    for n in names:
        d = os.path.join(GDB_DIR, n)
        try:
            if now - os.path.getmtime(d) > max_age:
                for f in os.listdir(d):
                    os.unlink(os.path.join(d, f))
                os.rmdir(d)
        except OSError:
            pass


class GdbStub(object):
    """Where one session's QEMU gdb stub listens, and its files.

    Each session gets a directory of its own, build/gdb/<kind>-XXXXXXXX/
    (mkdtemp: concurrent sessions never collide), holding the stub's unix
    socket `qemu.sock`, the `gdbinit` that connects to it and the guest's
    `serial.log`.  port=N: a TCP port on 127.0.0.1 instead of the socket
    (0: a free one, picked by binding port 0 - a small race, which the
    socket does not have).
    """

    def __init__(self, kind, port=None):
        os.makedirs(GDB_DIR, exist_ok=True)
        prune_gdb_dirs()
        self.dir = tempfile.mkdtemp(prefix=kind + "-", dir=GDB_DIR)
        self.sock = self.port = None
        if port is None:
            self.sock = os.path.join(self.dir, "qemu.sock")
            if len(self.sock.encode()) > SUN_PATH_MAX:   # a deep checkout
                os.rmdir(self.dir)
                self.dir = tempfile.mkdtemp(prefix="lwkt-%s-" % kind)
                self.sock = os.path.join(self.dir, "qemu.sock")
        else:
            self.port = port or free_tcp_port()
        self.gdbinit = os.path.join(self.dir, "gdbinit")
        self.serial_log = os.path.join(self.dir, "serial.log")
        self.qemu_err = os.path.join(self.dir, "qemu.stderr")

    def qemu_args(self):
        """-S: wait at the first instruction; the stub on our socket."""
        if self.sock:
            return ["-S", "-chardev", "socket,id=gdb0,server=on,wait=off,"
                    "path=" + self.sock.replace(",", ",,"),
                    "-gdb", "chardev:gdb0"]
        return ["-S", "-gdb", "tcp:127.0.0.1:%d" % self.port]

    def address(self):
        """What `target remote` takes (gdb connects to a socket file)."""
        return self.sock if self.sock else "127.0.0.1:%d" % self.port

    def wait_ready(self, proc, timeout=15.0):
        """True once QEMU listens; False if it exited or took too long."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                return False
            if self.sock:
                try:
                    if stat.S_ISSOCK(os.stat(self.sock).st_mode):
                        return True
                except OSError:
                    pass
            else:
                ok = tcp_listening(self.port)
                if ok:
                    return True
                if ok is None:            # cannot tell: give it a moment
                    time.sleep(0.5)
                    return proc.poll() is None
            time.sleep(0.02)
        return False

    def cleanup(self):
        """The socket goes; gdbinit and serial.log stay for a day."""
        if self.sock:
            try:
                os.unlink(self.sock)
            except OSError:
                pass


def gdb_banner(stub):
    return "\n".join([
        "lwkt: QEMU waits at its first instruction (BIOS reset vector); "
        "every vCPU is stopped.",
        "  continue (c)        boot; ^C stops every vCPU again",
        "  break FUNC          also before `continue`: QEMU's stub keeps "
        "breakpoints in its",
        "                      translator, so they work before GRUB loads "
        "the kernel",
        "  lwkt cpus | vcpus | threads [cpu] | runq [cpu] | ipiq | tokens "
        "| bt THREAD",
        "                      (help lwkt); info threads: one gdb thread "
        "per vCPU",
        "  guest serial output: %s" % stub.serial_log,
    ])


def write_gdbinit(stub, kernel, banner=True):
    """The commands that load the kernel's symbols and our helpers and
    connect to the stub (gdb -x FILE)."""
    lines = [
        "# One QEMU debug session; written by scripts/runner.py.",
        "set confirm off",
        "set pagination off",
        "set architecture i386",
        "file %s" % os.path.abspath(kernel),
        "source %s" % LWKT_GDB,
        "target remote %s" % stub.address(),
    ]
    if banner:
        lines += ["python", "print(%r)" % gdb_banner(stub), "end"]
    with open(stub.gdbinit, "w") as f:
        f.write("\n".join(lines) + "\n")
    return stub.gdbinit


def start_gdb_qemu(boot, iso, stub, stdout=None):
    """QEMU for `boot`, paused, with its stub at `stub`; serial output to
    `stdout` (a file object), else stub.serial_log.  Returns the Popen
    (in a session of its own: ^C at gdb does not reach it)."""
    cmd = qemu_command(boot, iso) + stub.qemu_args()
    out = stdout if stdout is not None else open(stub.serial_log, "wb")
    with open(stub.qemu_err, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True)
    if stdout is None:
        out.close()
    with RUNNING_LOCK:
        RUNNING.add(proc)
    return proc


def stop_qemu(proc):
    if proc.poll() is None:
        kill_group(proc)
    with RUNNING_LOCK:
        RUNNING.discard(proc)


def qemu_stderr(stub):
    try:
        with open(stub.qemu_err, errors="replace") as f:
            return [l for l in f.read().splitlines() if l.strip() and
                    "terminating on signal" not in l]
    except OSError:
        return []


def short_path(p):
    """p relative to the current directory if it is below it."""
    r = os.path.relpath(p)
    return os.path.abspath(p) if r.startswith("..") else r


def run_in_foreground(cmd):
    """Run an interactive program (gdb) as the terminal's foreground
    process group, so ^C reaches only it (it stops the vCPUs) and not
    make or this script; without a terminal, just ignore ^C meanwhile.
    Returns its exit status."""
    # a handler, not SIG_IGN: the child must not inherit an ignored SIGINT
    old_int = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        try:
            tty = os.open("/dev/tty", os.O_RDWR)
            fg = os.tcgetpgrp(tty)
        except OSError:
            return subprocess.call(cmd)
        old_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            proc = subprocess.Popen(cmd, preexec_fn=os.setpgrp)
            try:
                os.tcsetpgrp(tty, proc.pid)
            except OSError:
                pass
            return proc.wait()
        finally:
            try:
                os.tcsetpgrp(tty, fg)
            except OSError:
                pass
            signal.signal(signal.SIGTTOU, old_ttou)
            os.close(tty)
    finally:
        signal.signal(signal.SIGINT, old_int)


def _iso_for(a, boot):
    """The ISO of a.kernel with the boot's command line; None after saying
    why not."""
    if not os.path.exists(a.kernel):
        print("runner: ERROR: kernel %s not found (run make)" % a.kernel)
        return None
    iso, err = build_iso(a.kernel, boot["cmdline"])
    if err:
        print("runner: ERROR: %s" % err)
        return None
    return iso


def cmd_gdb(a):
    boot = boot_from_args(a, "gdb")
    iso = _iso_for(a, boot) if boot is not None else None
    if iso is None:
        return EXIT_CODE[ST_ERROR]
    stub = GdbStub("gdb", a.port)
    proc = start_gdb_qemu(boot, iso, stub)
    try:
        if not stub.wait_ready(proc):
            print("runner: ERROR: QEMU's gdb stub did not come up%s" % (
                "".join("\n  " + l for l in qemu_stderr(stub)[-5:])))
            return EXIT_CODE[ST_ERROR]
        write_gdbinit(stub, a.kernel)
        print("runner: QEMU pid %d, -smp %s, paused; gdb stub on %s"
              % (proc.pid, boot["smp"], stub.address()))
        sys.stdout.flush()
        gdb = [os.environ.get("GDB", "gdb"), "-q", "-x", stub.gdbinit]
        try:
            run_in_foreground(gdb)
        except OSError as e:
            print("runner: ERROR: cannot start %s: %s" % (gdb[0], e))
            return EXIT_CODE[ST_ERROR]
    finally:
        stop_qemu(proc)
        stub.cleanup()
    print("runner: gdb exited, QEMU stopped; guest serial output in %s"
          % short_path(stub.serial_log))
    return 0


def cmd_debug(a):
    boot = boot_from_args(a, "debug")
    if boot is None:
        return EXIT_CODE[ST_ERROR]
    if a.timeout is None:
        boot["timeout"] = 10 ** 8            # as long as the user likes
    iso = _iso_for(a, boot)
    if iso is None:
        return EXIT_CODE[ST_ERROR]
    stub = GdbStub("debug", a.port)
    write_gdbinit(stub, a.kernel)
    out = getattr(sys.stdout, "buffer", sys.stdout)
    filt = AnsiFilter()
    lock = threading.Lock()

    def echo(data):
        with lock:
            out.write(filt(data))
            out.flush()

    def announce(proc):
        if not stub.wait_ready(proc):
            return
        gdb = os.environ.get("GDB", "gdb")
        text = ("runner: QEMU pid %d, -smp %s, paused: waiting for a debugger"
                " on %s\nrunner: attach from another terminal with:\n\n"
                "    %s -x %s\n\n"
                "runner: (it loads %s, sources %s and connects);\n"
                "runner: `continue` in gdb boots; ^C here stops QEMU.\n"
                % (proc.pid, boot["smp"], stub.address(), gdb, stub.gdbinit,
                   short_path(a.kernel), short_path(LWKT_GDB)))
        with lock:
            out.write(text.encode())
            out.flush()

    def started(proc):
        threading.Thread(target=announce, args=(proc,), daemon=True).start()

    sys.stdout.flush()
    cmd = qemu_command(boot, iso) + stub.qemu_args()
    try:
        br = run_qemu(cmd, boot["timeout"], stub.serial_log, echo,
                      started=started)
    finally:
        stub.cleanup()
    out.write(b"\n")
    out.flush()
    if "Terminated via GDBstub" in br.stderr:     # gdb's `kill`
        print("runner: QEMU terminated from gdb after %.1f s; serial output "
              "in %s" % (br.wall, short_path(stub.serial_log)))
        return 0
    res = judge_run(boot, br)
    print_failures(res, br, short_path(stub.serial_log))
    print(verdict_line(res, br.parser, br.wall))
    return res.code
