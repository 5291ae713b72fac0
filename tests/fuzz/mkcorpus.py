#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets (tests/fuzz/corpus/NAME/).

Run by hand when the inputs should change (the files are checked in):

    python3 tests/fuzz/mkcorpus.py [--kernel build/kernel.elf]

QEMU's real tables: boots build/lwkt.iso (as `make` built it) under
QEMU's gdb stub, -smp 4 -m 128M like the boot matrix, stops at
multiboot2_parse() and dumps GRUB's multiboot2 information, the first
MiB (BIOS data area, EBDA, 0xE0000-0xFFFFF) and the top MiB of RAM (where
SeaBIOS puts the ACPI tables).  From those it writes, in shim.h's chunk
format: the RSDP and every table the RSDT/XSDT lists (acpi-qemu-scan,
and acpi-qemu-loader with GRUB's RSDP copy as chunk 0), the BIOS data
area, floating pointer and configuration table (mptable-qemu), and the
information itself (multiboot2-grub).  kopts and prf get hand-written
seeds: command lines of the boot matrix and the kernel's own formats.
Regression inputs (regress-*) are never touched.
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
RAM = 128 << 20


def chunk(pa, data):
    assert len(data) <= 0xFFFF
    return struct.pack("<IH", pa, len(data)) + data


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    print("mkcorpus: %s/%s (%d bytes)" % (target, name, len(data)))


def dump_qemu(iso, kernel, tmp):
    sock = os.path.join(tmp, "gdb.sock")
    qemu = subprocess.Popen(
        ["qemu-system-i386", "-machine", "pc", "-m", "128M", "-smp", "4",
         "-accel", "tcg,thread=single", "-cdrom", iso, "-boot", "d",
         "-display", "none", "-serial", "null", "-monitor", "none",
         "-no-reboot", "-S", "-chardev",
         "socket,id=gdb0,server=on,wait=off,path=%s" % sock,
         "-gdb", "chardev:gdb0"])
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        mbi = os.path.join(tmp, "mbi.bin")
        low = os.path.join(tmp, "low.bin")
        top = os.path.join(tmp, "top.bin")
        subprocess.run(
            ["gdb", "-batch", "-nx", kernel,
             "-ex", "target remote %s" % sock,
             "-ex", "break multiboot2_parse", "-ex", "continue",
             "-ex", "dump binary memory %s mbi mbi + *(unsigned *)mbi" % mbi,
             "-ex", "dump binary memory %s 0 0x100000" % low,
             "-ex", "dump binary memory %s %d %d" % (top, RAM - (1 << 20), RAM),
             "-ex", "kill"], check=True, timeout=120,
            stdout=subprocess.DEVNULL)
        return (open(mbi, "rb").read(), open(low, "rb").read(),
                open(top, "rb").read())
    finally:
        qemu.kill()
        qemu.wait()


def mem_reader(low, top):
    def read(pa, n):
        if pa + n <= len(low):
            return low[pa:pa + n]
        base = RAM - len(top)
        if pa >= base and pa + n <= RAM:
            return top[pa - base:pa - base + n]
        raise ValueError("0x%x not dumped" % pa)
    return read


def acpi_seeds(mbi, low, top):
    read = mem_reader(low, top)
    rsdp_pa = next(pa for pa in range(0xE0000, 0x100000, 16)
                   if low[pa:pa + 8] == b"RSD PTR ")
    rev = low[rsdp_pa + 15]
    rsdp_len = struct.unpack_from("<I", low, rsdp_pa + 20)[0] if rev >= 2 else 20
    rsdp = read(rsdp_pa, rsdp_len)
    rsdt_pa = struct.unpack_from("<I", rsdp, 16)[0]
    rsdt_len = struct.unpack_from("<I", read(rsdt_pa, 8), 4)[0]
    rsdt = read(rsdt_pa, rsdt_len)
    tables = chunk(rsdt_pa, rsdt)
    for i in range(36, rsdt_len, 4):
        pa = struct.unpack_from("<I", rsdt, i)[0]
        n = struct.unpack_from("<I", read(pa, 8), 4)[0]
        if n <= 0x1000:
            tables += chunk(pa, read(pa, n))
    bda = chunk(0x400, low[0x400:0x500])
    write("acpi", "acpi-qemu-scan", b"\0" + bda + chunk(rsdp_pa, rsdp) + tables)
    # GRUB's copy: the payload of multiboot2 tag 14 or 15.
    off, copy = 8, None
    while off + 8 <= len(mbi):
        typ, size = struct.unpack_from("<II", mbi, off)
        if typ == 0:
            break
        if typ in (14, 15):
            copy = mbi[off + 8:off + size]
        off += (size + 7) & ~7
    if copy is not None:
        write("acpi", "acpi-qemu-loader", b"\1" + chunk(0, copy) + tables)


def mptable_seeds(low):
    fps_pa = next(pa for pa in range(0xF0000, 0x100000, 16)
                  if low[pa:pa + 4] == b"_MP_")
    fps = low[fps_pa:fps_pa + 16 * low[fps_pa + 8]]
    cfg_pa = struct.unpack_from("<I", fps, 4)[0]
    cfg_len = struct.unpack_from("<H", low, cfg_pa + 4)[0]
    write("mptable", "mptable-qemu",
          chunk(0x400, low[0x400:0x500]) + chunk(fps_pa, fps) +
          chunk(cfg_pa, low[cfg_pa:cfg_pa + cfg_len]))


KOPTS = [
    "test=token.* expect.ncpus=4",
    "test=boot.*,sched.* seed=3 repeat=2 hz=1000 untimely_switch=1",
    "test.noretry test.timeout=30 smp.maxcpus=2 ipiq.passive=0",
    "smp.nostart=3 fault.lapic_timer_dead fault.pit_stuck=1 seed=0x10",
    "test.list unknown=1 hz=99999 repeat= smp.maxcpus",
]

FORMATS = [
    b"cmdline: %s '%.*s%s' for %s (accepted: %s); using %s",
    b"smp: %s lists %d enabled CPU(s), local APIC at 0x%08x, BSP apic id %u",
    b"%-8s|%8.3s|%+d|% i|%#x|%#X|%p|%c|%%|%lld|%zu|%lu",
    b"%*d %-*d %.*s %0*x %05d %-05d %.0d %#o %q %",
    b"acpi: XSDT at 0x%llx unusable (%s); using the RSDT",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="build/kernel.elf")
    ap.add_argument("--iso", default="build/lwkt.iso")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mbi, low, top = dump_qemu(args.iso, args.kernel, tmp)
    write("multiboot2", "multiboot2-grub", mbi)
    acpi_seeds(mbi, low, top)
    mptable_seeds(low)
    for i, line in enumerate(KOPTS):
        write("kopts", "kopts-%d" % i, line.encode())
    for i, fmt in enumerate(FORMATS):
        write("prf", "prf-%d" % i, bytes([64 + 32 * i]) + fmt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
