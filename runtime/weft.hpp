// weft.hpp — the one header users include.
//
// weft gives C++ Go's concurrency: fibers scheduled M:N over OS threads,
// channels and select, sync primitives and timers, blocking calls that hand
// their thread's P off, sockets on the netpoller, files, and a garbage
// collector for C++ objects. See README.md. (The test kit for your own
// code, runtime/testing.hpp, is separate.)
#pragma once

#include "gc/gc.hpp"
#include "runtime/chan.hpp"
#include "runtime/fiber_local.hpp"
#include "runtime/run.hpp"
#include "runtime/select.hpp"
#include "runtime/sync.hpp"
#include "runtime/time.hpp"
#include "syscall/blocking.hpp"
#include "syscall/file.hpp"
#include "syscall/net.hpp"
#include "syscall/sys.hpp"
