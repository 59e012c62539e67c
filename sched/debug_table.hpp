// debug_table.hpp — what a debugger needs to find the fibers (weft-gdb.py).
//
// One exported C symbol, weft_debug_table, whose fields give the address
// of the list of every G and the offsets of the G fields a fiber listing
// and a backtrace read. gdb's script (tools/weft-gdb.py) reads it as raw
// memory, so it works on a live process and on a core file, and on a
// library built without debug info (names then come from the symbol
// tables, frames from .eh_frame). The layout only grows: a field is never
// moved or removed without bumping kDebugTableVersion.
#pragma once

#include <cstdint>

namespace weft::sched {

inline constexpr uint32_t kDebugTableVersion = 1;

struct DebugTable {
    uint32_t version;
    uint32_t size;                 // sizeof(DebugTable)
    const void* allg;              // address of the head pointer of the list of every G
    uint32_t node_g, node_next;    // offsets in a list node: its G*, the next node
    uint32_t g_id, g_status, g_wait_reason, g_wait_since, g_fctx, g_stack_lo, g_stack_size, g_m;
    uint32_t g_created_file, g_created_function, g_created_line, g_parent_id, g_system;
    uint32_t m_id, m_tid;
    // Names by value: status_names[status], reason_names[wait_reason].
    const char* const* status_names;
    uint32_t nstatus;
    uint32_t nreasons;
    const char* const* reason_names;
    // Where Boost.Context's saved context keeps rbp and the return address,
    // from the saved stack pointer (backtrace.cpp).
    uint32_t fctx_rbp, fctx_rip;
    // base::nanotime_coarse() as sysmon last read it (wait times in a core).
    const int64_t* now_hint;
};
static_assert(sizeof(DebugTable) == 128, "tools/weft-gdb.py reads 128 bytes laid out as declared");

}  // namespace weft::sched

extern "C" {
extern const weft::sched::DebugTable weft_debug_table;
}
