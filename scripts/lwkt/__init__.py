"""The host test runner as a package (entry point: scripts/runner.py).

consts     paths, guest exit statuses, verdicts and exit codes
matrix     the row format and kernels; the row of a single run from options
rows       the boot matrix (MATRIX) and make test-large's rows (LARGE)
benchline  one "# bench:" line
ktap       KTAP parsing (nested suites), the only reader of KTAP lines
checks     honesty checks: plan vs test.list, console counts, determinism
verdict    parsed output + QEMU exit + expectation -> Outcome
qemu       ISOs, the QEMU command line, running QEMU, the test.list boot
tap        build/logs/<boot>.ktap and the Debian TAP consumer cross-check
report     verdict line, per-boot blocks, reproducer line, JUnit, JSON
live       `run`;  bench: `bench`;  gdbstub: `gdb`, `debug`
testrun    `test`: the matrix in parallel, progress, FAILED=1
soak       `soak`: N boots of configurations drawn from a seed
scale      `make scale`: the suite `scale` at N = 1..255, JSON, picture, doc
cli        argparse

Owned by the host-runner engineer; standard library only.
"""
