# weft-gdb.py — gdb commands for weft's fibers, on a live process or a core.
#
#   info weft-fibers   every fiber: id, state, wait reason, wait time,
#                      where it was created (and the thread it runs on)
#   weft-bt ID         that fiber's backtrace: a parked fiber's from the
#                      context its last switch saved, a running one's from
#                      its thread. ID is a number or any gdb expression
#                      (a variable that holds weft::fiber_id(), say)
#
# Installed beside libweft.so (share/gdb/auto-load/<libdir>/libweft.so-gdb.py),
# gdb loads it with the library; otherwise `source weft-gdb.py`. It reads
# the runtime's exported table `weft_debug_table` (sched/debug_table.hpp)
# as raw memory, so it needs no debug info in libweft; names and lines in
# backtraces come from whatever symbols and debug info the program has.

import struct
import time

import gdb
import gdb.unwinder

_TABLE_FORMAT = "<IIQ" + "I" * 17 + "4xQIIQIIQ"  # 128 bytes, as debug_table.hpp lays it out
_TABLE_FIELDS = (
    "version size allg node_g node_next g_id g_status g_wait_reason g_wait_since g_fctx "
    "g_stack_lo g_stack_size g_m g_created_file g_created_function g_created_line g_parent_id g_system "
    "m_id m_tid status_names nstatus nreasons reason_names fctx_rbp fctx_rip now_hint"
).split()
_SCAN_BIT = 0x100
_IDLE, _RUNNABLE, _RUNNING, _SYSCALL, _WAITING, _DEAD = range(6)


def _read(addr, n):
    return bytes(gdb.selected_inferior().read_memory(addr, n))


def _u64(addr):
    return struct.unpack("<Q", _read(addr, 8))[0]


def _i64(addr):
    return struct.unpack("<q", _read(addr, 8))[0]


def _u32(addr):
    return struct.unpack("<I", _read(addr, 4))[0]


def _u8(addr):
    return _read(addr, 1)[0]


def _cstr(addr, limit=512):
    if addr == 0:
        return ""
    out = b""
    while len(out) < limit:
        chunk = _read(addr + len(out), 64)
        end = chunk.find(b"\0")
        if end >= 0:
            return (out + chunk[:end]).decode("utf-8", "replace")
        out += chunk
    return out.decode("utf-8", "replace")


class _Table:
    def __init__(self):
        try:
            addr = int(gdb.parse_and_eval("(char *) &weft_debug_table"))
        except gdb.error:
            raise gdb.GdbError("weft: no weft_debug_table in this program (not linked with libweft?)")
        raw = _read(addr, struct.calcsize(_TABLE_FORMAT))
        for name, value in zip(_TABLE_FIELDS, struct.unpack(_TABLE_FORMAT, raw)):
            setattr(self, name, value)
        if self.version != 1:
            raise gdb.GdbError("weft: debug table version %d; this script reads version 1" % self.version)
        self.status_text = [_cstr(_u64(self.status_names + 8 * i)) for i in range(self.nstatus)]
        self.reason_text = [_cstr(_u64(self.reason_names + 8 * i)) for i in range(self.nreasons)]

    def fibers(self):
        node = _u64(self.allg)
        while node:
            yield _Fiber(self, _u64(node + self.node_g))
            node = _u64(node + self.node_next)


class _Fiber:
    def __init__(self, t, g):
        self.g = g
        self.id = _u64(g + t.g_id)
        raw = _u32(g + t.g_status)
        self.status = raw & ~_SCAN_BIT
        self.state = t.status_text[self.status] if self.status < len(t.status_text) else "?"
        reason = _u8(g + t.g_wait_reason)
        self.reason = t.reason_text[reason] if reason < len(t.reason_text) else "?"
        self.wait_since = _i64(g + t.g_wait_since)
        self.fctx = _u64(g + t.g_fctx)
        self.stack_top = _u64(g + t.g_stack_lo) + _u64(g + t.g_stack_size)
        self.m = _u64(g + t.g_m)
        self.parent = _u64(g + t.g_parent_id)
        self.system = _u8(g + t.g_system) != 0
        file = _cstr(_u64(g + t.g_created_file))
        self.created = "%s:%d (%s)" % (file.rsplit("/", 1)[-1], _u32(g + t.g_created_line),
                                       _cstr(_u64(g + t.g_created_function)))
        self.m_id = _i64(self.m + t.m_id) if self.m else -1
        self.tid = struct.unpack("<i", _read(self.m + t.m_tid, 4))[0] if self.m else 0

    def alive(self):
        return self.status not in (_IDLE, _DEAD)


def _is_core():
    return "Local core dump file" in gdb.execute("info files", to_string=True)


def _now(t):
    """base::nanotime_coarse(): the clock itself on a live process, the last
    time sysmon read it in a core."""
    if not _is_core():
        return time.clock_gettime_ns(getattr(time, "CLOCK_MONOTONIC_COARSE", 6))  # Linux: 6
    return _i64(t.now_hint)


class InfoWeftFibers(gdb.Command):
    """List weft's fibers: id, state, wait reason, wait time, creation site."""

    def __init__(self):
        super().__init__("info weft-fibers", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        t = _Table()
        now = _now(t)
        rows = []
        for f in t.fibers():
            if not f.alive():
                continue
            wait = ""
            if f.status == _WAITING and f.wait_since:
                wait = "%d ms" % max(0, (now - f.wait_since) // 1000000)
            where = f.created if f.parent else "main fiber"
            if f.system:
                where += " [runtime]"
            if f.status in (_RUNNING, _SYSCALL) and f.m:
                where += " on M %d (LWP %d)" % (f.m_id, f.tid)
            rows.append((f.id, f.state, f.reason if f.status == _WAITING else "", wait, where))
        rows.sort()
        gdb.write("%7s  %-9s %-22s %9s  %s\n" % ("fiber", "state", "wait reason", "waiting", "created at"))
        for r in rows:
            gdb.write("%7d  %-9s %-22s %9s  %s\n" % r)
        gdb.write("%d fibers\n" % len(rows))


class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _ParkedFiberUnwinder(gdb.unwinder.Unwinder):
    """While `context` is set, the innermost frame's caller is the parked
    fiber's first frame: its registers come from the saved context."""

    def __init__(self):
        super().__init__("weft-parked-fiber")
        self.context = None

    def __call__(self, pending):
        if self.context is None or pending.level() != 0:
            return None
        sp, rbp, rip, stack_top = self.context
        # The innermost frame stands in for the fiber's callee: its id is
        # put just below the fiber's saved stack pointer, so that gdb's
        # check that each caller's frame lies above its callee's holds
        # across the switch from the thread's stack to the fiber's.
        frame_id = _FrameId(gdb.Value(sp - 0x48).cast(gdb.lookup_type("void").pointer()),
                            pending.read_register("rip"))
        info = pending.create_unwind_info(frame_id)
        ptr = gdb.lookup_type("void").pointer()
        info.add_saved_register("rsp", gdb.Value(sp).cast(ptr))
        info.add_saved_register("rbp", gdb.Value(rbp).cast(ptr))
        info.add_saved_register("rip", gdb.Value(rip).cast(ptr))
        return info


_unwinder = _ParkedFiberUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


class WeftBt(gdb.Command):
    """weft-bt ID: the backtrace of weft fiber ID."""

    def __init__(self):
        super().__init__("weft-bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: weft-bt FIBER-ID (see info weft-fibers)")
        try:
            want = int(gdb.parse_and_eval(arg))
        except (gdb.error, ValueError, TypeError) as e:
            raise gdb.GdbError("weft-bt: '%s' is not a fiber id (%s); usage: weft-bt FIBER-ID" % (arg.strip(), e))
        t = _Table()
        fiber = next((f for f in t.fibers() if f.id == want and f.alive()), None)
        if fiber is None:
            raise gdb.GdbError("weft: no fiber %d" % want)
        gdb.write("fiber %d [%s%s]:\n" % (fiber.id, fiber.state, ", " + fiber.reason if fiber.status == _WAITING else ""))
        if fiber.status in (_RUNNING, _SYSCALL):
            self._on_thread(fiber)
        elif fiber.fctx:
            self._parked(t, fiber)
        else:
            gdb.write("  (not started: no stack yet)\n")

    def _on_thread(self, fiber):
        thread = next((th for th in gdb.selected_inferior().threads() if th.ptid[1] == fiber.tid), None)
        if thread is None:
            raise gdb.GdbError("weft: fiber %d runs on M %d (LWP %d), which gdb does not see" %
                               (fiber.id, fiber.m_id, fiber.tid))
        gdb.write("  running on M %d, gdb thread %d (LWP %d):\n" % (fiber.m_id, thread.num, fiber.tid))
        current = gdb.selected_thread()
        thread.switch()
        try:
            gdb.write(gdb.execute("bt", to_string=True))
        finally:
            current.switch()

    def _parked(self, t, fiber):
        sp = fiber.fctx
        context = (sp + t.fctx_rip + 8, _u64(sp + t.fctx_rbp), _u64(sp + t.fctx_rip), fiber.stack_top)
        _unwinder.context = context
        gdb.invalidate_cached_frames()
        try:
            text = gdb.execute("bt", to_string=True)
        finally:
            _unwinder.context = None
            gdb.invalidate_cached_frames()
        # Frame #0 is the selected thread's own; the fiber's frames follow.
        for line in text.splitlines():
            if line.startswith("#0 ") or line.startswith("#0  "):
                continue
            gdb.write(line + "\n")


InfoWeftFibers()
WeftBt()
