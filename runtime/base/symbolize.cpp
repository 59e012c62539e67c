// symbolize.cpp — see symbolize.hpp.
#include "runtime/base/symbolize.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <weft/clock.hpp>
#include "runtime/base/backoff.hpp"
#include "runtime/base/fatal.hpp"

namespace weft::base {
namespace {

// One libdw session for the process, rebuilt when an address falls outside
// every module it knows (a library loaded since). Guarded by a flag rather
// than a mutex: a fatal path that finds it held (the dying thread was
// symbolizing, or another thread is and stays) gives up after a bounded
// wait and prints addresses.
std::atomic<bool> g_busy{false};
std::atomic<bool> g_names{true};  // relaxed: set before a run starts, read as a setting
Dwfl* g_dwfl = nullptr;
char* g_debuginfo_path = nullptr;
// Separate debug files from the local disk only. With DEBUGINFOD_URLS set
// (Debian sets it for login shells), libdw's standard lookup would ask a
// debuginfod server last: a dump must not wait on the network. The
// build-id lookup (/usr/lib/debug/.build-id, where Debian's -dbg and
// -dbgsym packages put them) is local; so is the standard one without
// a server to ask.
int find_debuginfo(Dwfl_Module* mod, void** userdata, const char* modname, Dwarf_Addr base, const char* file_name,
                   const char* debuglink_file, GElf_Word debuglink_crc, char** debuginfo_file_name) {
    const char* urls = getenv("DEBUGINFOD_URLS");
    if (urls && *urls)
        return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
                                            debuginfo_file_name);
    return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
                                        debuginfo_file_name);
}

const Dwfl_Callbacks g_callbacks = {
    dwfl_linux_proc_find_elf,
    find_debuginfo,
    nullptr,
    &g_debuginfo_path,
};

bool acquire() {
    int64_t deadline = nanotime() + 1'000'000'000;
    for (Backoff backoff;; backoff.pause()) {
        bool expected = false;
        if (g_busy.compare_exchange_weak(expected, true, std::memory_order_acquire)) return true;
        if (nanotime() > deadline) return false;
    }
}

void release() { g_busy.store(false, std::memory_order_release); }

Dwfl* session(bool fresh) {
    if (g_dwfl && !fresh) return g_dwfl;
    if (g_dwfl) dwfl_end(g_dwfl);
    g_dwfl = dwfl_begin(&g_callbacks);
    if (!g_dwfl) return nullptr;
    dwfl_report_begin(g_dwfl);
    if (dwfl_linux_proc_report(g_dwfl, getpid()) != 0) {
        dwfl_end(g_dwfl);
        g_dwfl = nullptr;
        return nullptr;
    }
    dwfl_report_end(g_dwfl, nullptr, nullptr);
    return g_dwfl;
}

void copy(char* dst, size_t cap, const char* src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void demangle_into(char* dst, size_t cap, const char* name) {
    int status = -1;
    char* dem = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    copy(dst, cap, status == 0 && dem ? dem : name);
    free(dem);
}

// A DIE's function name: its linkage name demangled (as the symbol table
// would say), else its plain name. Follows abstract origins.
bool die_function_name(Dwarf_Die* die, char* dst, size_t cap) {
    Dwarf_Attribute attr;
    const char* name = nullptr;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) || dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        name = dwarf_formstring(&attr);
    if (name) {
        demangle_into(dst, cap, name);
        return true;
    }
    if ((name = dwarf_diename(die))) {
        copy(dst, cap, name);
        return true;
    }
    return false;
}

// Where an inlined subroutine was called from: its DW_AT_call_file and
// DW_AT_call_line, in the CU's file table.
bool call_site(Dwarf_Die* cu, Dwarf_Die* inlined, Symbol& out) {
    Dwarf_Attribute attr;
    Dwarf_Word file = 0, line = 0;
    if (!dwarf_attr(inlined, DW_AT_call_file, &attr) || dwarf_formudata(&attr, &file) != 0) return false;
    if (!dwarf_attr(inlined, DW_AT_call_line, &attr) || dwarf_formudata(&attr, &line) != 0) return false;
    Dwarf_Files* files = nullptr;
    size_t nfiles = 0;
    if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || file >= nfiles) return false;
    const char* name = dwarf_filesrc(files, file, nullptr, nullptr);
    if (!name) return false;
    copy(out.file, sizeof out.file, name);
    out.line = static_cast<int>(line);
    return true;
}

// Fills out[0..) innermost first: the functions inlined at addr, then the
// function that contains it. Returns how many (0: no module has addr).
int lookup(Dwfl* d, uintptr_t addr, Symbol* out, int max) {
    Dwfl_Module* mod = dwfl_addrmodule(d, addr);
    if (!mod || max < 1) return 0;
    Symbol& outer = out[0];
    outer = Symbol{};
    const char* modname = dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    copy(outer.module, sizeof outer.module, modname ? file_name_of(modname) : "?");
    // The offset addr2line takes: from the module's load address for a
    // shared object, the address itself for a fixed-address executable.
    GElf_Addr bias = 0;
    Elf* elf = dwfl_module_getelf(mod, &bias);
    GElf_Ehdr ehdr;
    bool shared = elf && gelf_getehdr(elf, &ehdr) && ehdr.e_type == ET_DYN;
    outer.module_offset = shared ? addr - bias : addr;
    if (!g_names.load(std::memory_order_relaxed)) return 1;
    GElf_Off off = 0;
    GElf_Sym sym;
    if (const char* name = dwfl_module_addrinfo(mod, addr, &off, &sym, nullptr, nullptr, nullptr))
        demangle_into(outer.function, sizeof outer.function, name);
    if (Dwfl_Line* line = dwfl_module_getsrc(mod, addr)) {
        int lineno = 0;
        if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
            copy(outer.file, sizeof outer.file, file);
            outer.line = lineno;
        }
    }
    // Inlined calls: the scopes at addr, innermost first. Each inlined
    // subroutine is a frame of its own, whose line is the innermost line
    // (for the first) or the call site recorded by the one inside it.
    Dwarf_Addr cu_bias = 0;
    Dwarf_Die* cu = dwfl_module_addrdie(mod, addr, &cu_bias);
    Dwarf_Die* scopes = nullptr;
    int nscopes = cu ? dwarf_getscopes(cu, addr - cu_bias, &scopes) : 0;
    int n = 0;
    Symbol outer_copy = outer;
    for (int i = 0; i < nscopes && n < max - 1; i++) {
        if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine) continue;
        // out[n] has its module and line already: the innermost line for
        // the first, the call site the previous scope recorded for others.
        Symbol& f = out[n];
        f.inlined = true;
        if (!die_function_name(&scopes[i], f.function, sizeof f.function)) copy(f.function, sizeof f.function, "?");
        // The next frame out sits where this one was called.
        Symbol& next = out[n + 1];
        next = outer_copy;
        next.file[0] = '\0';
        next.line = 0;
        call_site(cu, &scopes[i], next);
        n++;
    }
    free(scopes);
    if (n == 0) return 1;
    // out[n] holds the call site of the outermost inlined frame: complete
    // it as the containing function.
    copy(out[n].function, sizeof out[n].function, outer_copy.function);
    out[n].inlined = false;
    return n + 1;
}

bool starts_with(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

}  // namespace

int symbolize_inlined(uintptr_t addr, Symbol* out, int max) {
    if (!acquire()) return 0;
    int n = 0;
    if (Dwfl* d = session(false)) {
        n = lookup(d, addr, out, max);
        if (n == 0 && (d = session(true))) n = lookup(d, addr, out, max);
    }
    release();
    return n;
}

bool symbolize(uintptr_t addr, Symbol& out) {
    Symbol all[8];
    int n = symbolize_inlined(addr, all, 8);
    if (n == 0) {
        out = Symbol{};
        return false;
    }
    out = all[n - 1];
    return true;
}

void symbolize_close() {
    if (!acquire()) return;
    if (g_dwfl) dwfl_end(g_dwfl);
    g_dwfl = nullptr;
    release();
}

void set_symbolize_names(bool on) { g_names.store(on, std::memory_order_relaxed); }

bool is_runtime_file(const char* file) {
    // The library's sources (sched/proc.cpp, seen from its build tree) and
    // its headers (include/weft/..., in a build tree or installed).
    static const char* const kDirs[] = {"/weft/", "/sched/", "/gc/", "/runtime/", "/syscall/"};
    for (const char* d : kDirs)
        if (strstr(file, d)) return true;
    return false;
}

bool is_runtime_function(const char* name) {
    static const char* const kPrefixes[] = {
        "weft::sched::", "weft::base::", "weft::detail::", "weft::gc::detail::", "boost::context::",
        "jump_fcontext", "make_fcontext", "ontop_fcontext",
    };
    for (const char* p : kPrefixes)
        if (starts_with(name, p)) return true;
    return false;
}

namespace {

// x86-64 DWARF register numbers.
constexpr unsigned kRegRbp = 6, kRegRsp = 7;

// The CFA rule "register + offset" at pc, if that is what it is. libdw
// spells it DW_OP_bregx (register, offset).
bool cfa_rule(Dwarf_Frame* frame, unsigned* reg, int64_t* off) {
    Dwarf_Op* ops = nullptr;
    size_t nops = 0;
    if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops != 1) return false;
    if (ops[0].atom == DW_OP_bregx) {
        *reg = static_cast<unsigned>(ops[0].number);
        *off = static_cast<int64_t>(ops[0].number2);
        return true;
    }
    if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
        *reg = ops[0].atom - DW_OP_breg0;
        *off = static_cast<int64_t>(ops[0].number);
        return true;
    }
    return false;
}

// Where rbp's caller value is, at pc: saved at cfa + *off (true, *saved),
// unchanged (true, !*saved), or unknown (false).
bool rbp_rule(Dwarf_Frame* frame, bool* saved, int64_t* off) {
    Dwarf_Op mem[3];
    Dwarf_Op* ops = nullptr;
    size_t nops = 0;
    if (dwarf_frame_register(frame, kRegRbp, mem, &ops, &nops) != 0) return false;
    if (nops == 0) {  // same value (ops set) or undefined (null): not touched here
        *saved = false;
        return true;
    }
    if (ops[0].atom != DW_OP_call_frame_cfa) return false;
    *saved = true;
    if (nops == 1) *off = 0;
    else if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) *off = static_cast<int64_t>(ops[1].number);
    else if (nops == 3 && ops[1].atom == DW_OP_consts && ops[2].atom == DW_OP_plus) *off = static_cast<int64_t>(ops[1].number);
    else return false;
    return true;
}

}  // namespace

void unwind_by_tables(Frames& frames) {
    if (frames.n == 0 || frames.copy == nullptr || frames.copy->nwords == 0) return;
    if (!acquire()) return;
    Dwfl* d = session(false);
    const StackCopy& copy = *frames.copy;
    auto word_at = [&](uintptr_t addr, uintptr_t* v) { return copy.word_at(addr, v); };
    // Unwind by the tables while the copy reaches: each step finds the
    // frame's CFA (from sp or rbp), its return address just below the CFA,
    // and the caller's rbp if the frame saved it.
    constexpr int kMaxFound = Frames::kMax - 1;
    uintptr_t found[kMaxFound];
    int nfound = 0;
    uintptr_t pc = frames.pc[0], sp = frames.sp, rbp = frames.fp;
    bool exact = frames.first_is_exact, out_of_words = false;
    while (d && nfound < kMaxFound) {
        uintptr_t lookup = exact ? pc : pc - 1;
        Dwfl_Module* mod = dwfl_addrmodule(d, lookup);
        Dwarf_Addr bias = 0;
        Dwarf_CFI* cfi = mod ? dwfl_module_eh_cfi(mod, &bias) : nullptr;
        Dwarf_Frame* frame = nullptr;
        unsigned reg = 0;
        int64_t off = 0, rbp_off = 0;
        bool rbp_saved = false, ok = false;
        if (cfi && dwarf_cfi_addrframe(cfi, lookup - bias, &frame) == 0) {
            ok = cfa_rule(frame, &reg, &off) && rbp_rule(frame, &rbp_saved, &rbp_off);
            free(frame);
        }
        uintptr_t top_word = 0;
        if (!ok && exact && word_at(sp, &top_word) && dwfl_addrmodule(d, top_word - 1)) {
            // No simple rule at the interrupted pc: a PLT stub (its CFA is
            // a DWARF expression) or code without unwind tables. At such
            // a stub's jump, sp points at the return address; take it if
            // it is an address in a module.
            reg = kRegRsp;
            off = 8;
            rbp_saved = false;
            ok = true;
        }
        if (!ok || (reg != kRegRsp && reg != kRegRbp)) break;
        uintptr_t cfa = (reg == kRegRsp ? sp : rbp) + static_cast<uintptr_t>(off), ret = 0, caller_rbp = rbp;
        // An epilogue's rule may still place the saved rbp below sp: it
        // was popped already, and rbp holds the caller's value.
        if (rbp_saved && cfa + static_cast<uintptr_t>(rbp_off) < sp) rbp_saved = false;
        if (!word_at(cfa - sizeof(uintptr_t), &ret) ||
            (rbp_saved && !word_at(cfa + static_cast<uintptr_t>(rbp_off), &caller_rbp))) {
            out_of_words = true;
            break;
        }
        if (ret == 0) break;  // the stack's first frame
        found[nfound++] = ret;
        pc = ret;
        sp = cfa;
        rbp = caller_rbp;
        exact = false;
    }
    release();
    // Beyond the copy, the fp chain the walk followed takes over at the
    // frame rbp now points to: its entry read at that fp is the next
    // return address. No such entry: the chain was not this stack's.
    int from = 0;
    for (int i = 1; i < frames.n && from == 0; i++)
        if (frames.fp_of[i] == rbp) from = i;
    if (nfound == 0 && from == 1) return;  // nothing the walk did not see
    int keep = from > 0 ? frames.n - from : 0;
    if (1 + nfound + keep > Frames::kMax) keep = Frames::kMax - 1 - nfound;
    uintptr_t chain[Frames::kMax], chain_fp[Frames::kMax];
    for (int i = 0; i < keep; i++) {
        chain[i] = frames.pc[from + i];
        chain_fp[i] = frames.fp_of[from + i];
    }
    for (int i = 0; i < nfound; i++) {
        frames.pc[1 + i] = found[i];
        frames.fp_of[1 + i] = 0;
    }
    for (int i = 0; i < keep; i++) {
        frames.pc[1 + nfound + i] = chain[i];
        frames.fp_of[1 + nfound + i] = chain_fp[i];
    }
    if (from == 0 && out_of_words) frames.truncated = true;
    frames.n = 1 + nfound + keep;
}

void print_frames(Frames frames) {
    unwind_by_tables(frames);
    // Each frame is the calls inlined at its address, then its function:
    // logical frames, classified in a first pass and printed in a second
    // (libdw's tables are cached; this may run on a small stack).
    constexpr int kMaxInline = 8;
    constexpr int kMaxLogical = Frames::kMax * kMaxInline;
    bool runtime[kMaxLogical];
    bool named[kMaxLogical];
    Symbol syms[kMaxInline];
    auto expand = [&](int i) {
        // A return address points after its call, which may be the first
        // instruction of the next line or function: look up the call.
        uintptr_t addr = frames.pc[i] - (i == 0 && frames.first_is_exact ? 0 : 1);
        int n = symbolize_inlined(addr, syms, kMaxInline);
        if (n == 0) syms[0] = Symbol{};
        return n == 0 ? 1 : n;
    };
    int total = 0;
    for (int i = 0; i < frames.n; i++) {
        int n = expand(i);
        for (int k = 0; k < n && total < kMaxLogical; k++, total++) {
            // A runtime function whose line is in the program's own file
            // is the program's code inlined into it (a fiber's closure).
            runtime[total] = is_runtime_function(syms[k].function) &&
                             (syms[k].file[0] == '\0' || is_runtime_file(syms[k].file));
            named[total] = syms[k].function[0] != '\0';
        }
    }
    // Without names nothing is known to be the runtime's: print them all.
    int top = 0, bottom = total;
    bool names = g_names.load(std::memory_order_relaxed);
    while (names && top < total && runtime[top]) top++;
    while (names && bottom > top && (runtime[bottom - 1] || !named[bottom - 1])) bottom--;
    if (top > 0) print_err("\t... %d runtime frame%s\n", top, top == 1 ? "" : "s");
    int at = 0;
    for (int i = 0; i < frames.n && at < bottom; i++) {
        int n = expand(i);
        for (int k = 0; k < n; k++, at++) {
            if (at < top || at >= bottom) continue;
            const Symbol& s = syms[k];
            auto off = static_cast<unsigned long long>(s.module_offset);
            if (s.function[0]) {
                print_err("\t%s%s\n", s.function, runtime[at] ? " [runtime]" : "");
                if (s.file[0]) print_err("\t\t%s:%d\n", s.file, s.line);
                else print_err("\t\t%s+0x%llx\n", s.module, off);
            } else if (s.module[0]) {
                print_err("\t%s+0x%llx\n", s.module, off);
            } else {
                print_err("\t0x%llx\n", static_cast<unsigned long long>(frames.pc[i]));
            }
        }
    }
    if (bottom < total) print_err("\t... %d runtime frame%s\n", total - bottom, total - bottom == 1 ? "" : "s");
    if (frames.truncated) print_err("\t... (more frames)\n");
}

}  // namespace weft::base
