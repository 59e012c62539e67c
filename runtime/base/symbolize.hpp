// symbolize.hpp — names and source lines for return addresses, via libdw.
//
// elfutils' libdw (Debian's libdw-dev) reads the process's own modules and
// their DWARF line tables, and separate debug files where installed
// (/usr/lib/debug). It allocates and takes loader locks, so symbolizing is
// best effort on fatal paths: frames are captured first without either
// (frames.hpp), and every frame libdw cannot name still prints as its
// module and offset, which addr2line -e MODULE -f -C OFFSET resolves later.
// WEFT_DEBUG=symbolize=0 turns names off (addresses only): for a heap so
// broken that the dump itself crashes or hangs in malloc.
#pragma once

#include <cstdint>

#include "runtime/base/frames.hpp"

namespace weft::base {

struct Symbol {
    char function[256] = "";  // demangled; empty if unknown
    char file[160] = "";      // source file of the line, empty if unknown
    int line = 0;
    bool inlined = false;     // a call the compiler inlined into the next frame
    char module[96] = "";     // the module's file name (no directories)
    uintptr_t module_offset = 0;
};

// A path's last component ("server.cpp" of "../src/server.cpp"): how
// dumps and reports name source files and modules.
inline const char* file_name_of(const char* path) {
    const char* last = path;
    for (const char* p = path; *p; p++)
        if (*p == '/') last = p + 1;
    return last;
}

// Looks up `addr` (an address inside the instruction wanted: callers pass
// a return address minus one): the function containing it, with the line.
// False if no module contains it.
bool symbolize(uintptr_t addr, Symbol& out);

// As symbolize, with the calls inlined at addr as frames of their own, as
// a debugger shows them: out[0] the innermost (inlined) call and its line,
// out[n - 1] the containing function and the line of the call that was
// inlined. Returns n (at most max), 0 if no module contains addr.
int symbolize_inlined(uintptr_t addr, Symbol* out, int max);

// Ends the libdw session, closing the files it holds open (each module's):
// a program that watches its descriptors sees none left behind by a
// report. The next lookup opens a new one.
void symbolize_close();

// Turns names off (symbolize returns only modules and offsets).
void set_symbolize_names(bool on);

// Whether a demangled function name belongs to the runtime's insides
// (scheduler, collector, switch machinery), which dumps fold, and whether
// a source file is the runtime's. A frame is folded when both hold: the
// program's code inlined into a runtime function keeps its frame.
bool is_runtime_function(const char* name);
bool is_runtime_file(const char* file);

// Redoes a capture that has a stack copy (frames.hpp) by the unwind
// tables: from where the stack stopped, each frame's return address is
// found at the offset from sp or rbp the tables give for its pc, in the
// copy, whether the code keeps frame pointers or not. Past the copy, the
// frame-pointer chain the capture followed takes over where the unwound
// rbp meets it. Best effort, as symbolize; print_frames calls it.
void unwind_by_tables(Frames& frames);

// Prints frames to stderr, innermost first, one "\tfunction\n\t\tfile:line"
// pair each (or "\tmodule+0xoffset"). The runtime's frames at the top
// (parking, the dump itself) and at the bottom (fiber entry) are folded
// into one line each; a runtime frame between user frames is marked.
void print_frames(Frames frames);

}  // namespace weft::base
