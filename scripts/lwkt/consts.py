"""Constants every module shares: where the tree is, QEMU's guest exit
statuses and the runner's verdicts with their exit codes.  Owned by the
host-runner engineer; change a value here only with the kernel side
(kern/kern_ktest.c's exit values) and docs/testing.md.
"""

import os


# Guest exit statuses (QEMU's exit status = (value << 1) | 1).
QEMU_PASS, QEMU_FAIL, QEMU_PANIC, QEMU_RESET = 33, 35, 37, 0

# Runner verdicts and exit codes.
ST_PASS, ST_FAIL, ST_PANIC, ST_HANG, ST_ERROR = \
    "pass", "fail", "panic", "hang", "error"
EXIT_CODE = {ST_PASS: 0, ST_FAIL: 1, ST_PANIC: 2, ST_HANG: 3, ST_ERROR: 4}

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
MKISO = os.path.join(ROOT, "scripts", "mkiso")
