#!/usr/bin/env python3
"""Write the malformed ACPI tables the firmware rows of the boot matrix
append with QEMU's -acpitable (scripts/lwkt/matrix.py, docs/boot.md).

    python3 tests/firmware/mktables.py     # rewrites tests/firmware/*.dat

QEMU lists an -acpitable table in the RSDT after its own, so these
exercise what the kernel does with a second, broken MADT; QEMU sets the
checksum (and Length: the file's size) itself, so what can be broken this
way is the content.  The MADT QEMU builds is broken in memory by the
fault.acpi= option instead.

  madt-short.dat   an MADT of 40 bytes: the header and the local APIC
                   address, without the flags field (44 bytes at least)
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def sdt(sig, body):
    t = bytearray(struct.pack("<4sIBB6s8sIII", sig, 36 + len(body), 1, 0,
                              b"LWKTFW", b"MALFORMD", 1, 0x4C574B54, 1))
    t += body
    t[9] = -sum(t) & 0xFF
    return t


def main():
    t = sdt(b"APIC", struct.pack("<I", 0xFEE00000))
    with open(os.path.join(HERE, "madt-short.dat"), "wb") as f:
        f.write(t)
    print("mktables: madt-short.dat (%d bytes)" % len(t))


if __name__ == "__main__":
    main()
