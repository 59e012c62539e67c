// weft.hpp — the one header users include.
//
// weft gives C++ Go's concurrency: fibers scheduled M:N over OS threads,
// channels and select, sync primitives and timers, blocking calls that hand
// their thread's P off, sockets (TCP, UDP, Unix, TLS) on the netpoller,
// files, and a garbage collector for C++ objects. See README.md. (The test
// kit for your own code, <weft/testing.hpp>, and Boost.Beast's adapter,
// <weft/beast.hpp>, which brings in Asio, are separate.)
#pragma once

#include <weft/blocking.hpp>
#include <weft/bufio.hpp>
#include <weft/chan.hpp>
#include <weft/context.hpp>
#include <weft/errgroup.hpp>
#include <weft/fiber_local.hpp>
#include <weft/file.hpp>
#include <weft/gc.hpp>
#include <weft/metrics.hpp>
#include <weft/net.hpp>
#include <weft/packet.hpp>
#include <weft/tls.hpp>
#include <weft/run.hpp>
#include <weft/select.hpp>
#include <weft/signals.hpp>
#include <weft/sync.hpp>
#include <weft/sys.hpp>
#include <weft/time.hpp>
#include <weft/trace.hpp>
