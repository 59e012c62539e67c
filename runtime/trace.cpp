// trace.cpp — the public face of the execution tracer (sched/trace.cpp).
#include <weft/trace.hpp>

#include <stdexcept>

#include "runtime/base/trace_format.hpp"
#include "sched/fiber.hpp"
#include "sched/trace.hpp"

namespace weft::trace {

namespace rec = sched::trace;
namespace tf = base::tracefmt;

namespace {
constexpr size_t kMaxText = 4096;
std::string_view cut(std::string_view s) { return s.size() > kMaxText ? s.substr(0, kMaxText) : s; }
}  // namespace

void start(const std::string& path) {
    if (path.empty()) throw std::invalid_argument("weft::trace::start: the path is empty");
    rec::SessionOptions o;
    o.path = path;
    rec::start(o);
}

void stop() {
    uint64_t id = rec::current(false);
    if (id == 0) {
        if (rec::current(true) != 0)
            throw std::logic_error("weft::trace::stop: a flight recorder is recording, not a trace (FlightRecorder::stop ends it)");
        throw std::logic_error("weft::trace::stop: no trace is being recorded");
    }
    rec::stop(id, "weft::trace::stop: no trace is being recorded");
}

bool enabled() { return rec::active(); }

Region::Region(std::string_view name) {
    if (!rec::on()) return;
    fiber_ = sched::fiber_id();
    recorded_ = true;
    name = cut(name);
    rec::ev_bytes(tf::Ev::kRegion, (fiber_ & tf::kGoidMask) | uint64_t{1} << 56, name.size(), name);
}

Region::~Region() {
    // A session that began inside the region gets an end without its
    // begin, which readers ignore.
    if (recorded_ && rec::on()) rec::ev_bytes(tf::Ev::kRegion, fiber_ & tf::kGoidMask, 0, {});
}

void log(std::string_view category, std::string_view message) {
    if (!rec::on()) return;
    category = cut(category);
    message = cut(message);
    std::string both;
    both.reserve(category.size() + message.size());
    both.append(category).append(message);
    rec::ev_bytes(tf::Ev::kLog, sched::fiber_id() & tf::kGoidMask,
                  category.size() | static_cast<uint64_t>(message.size()) << 32, both);
}

FlightRecorder::FlightRecorder(FlightRecorderOptions opts) : opts_(std::move(opts)) {}

FlightRecorder::~FlightRecorder() {
    if (enabled()) {
        try {
            rec::stop(session_, "weft::trace::FlightRecorder: not recording");
        } catch (...) {
            // It stopped meanwhile (the run ended): nothing to report, a
            // recorder writes no file when it stops.
        }
    }
}

void FlightRecorder::start() {
    if (opts_.max_bytes < (64u << 10))
        throw std::invalid_argument("weft::trace::FlightRecorder: max_bytes " + std::to_string(opts_.max_bytes) +
                                    " is under one 64 KiB buffer");
    if (opts_.max_age.count() <= 0)
        throw std::invalid_argument("weft::trace::FlightRecorder: max_age must be positive");
    rec::SessionOptions o;
    o.flight = true;
    o.flight_max_bytes = opts_.max_bytes;
    o.flight_max_age_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.max_age).count();
    o.fatal_path = opts_.fatal_path;
    session_ = rec::start(o);
}

void FlightRecorder::stop() {
    if (!enabled()) throw std::logic_error("weft::trace::FlightRecorder::stop: this recorder is not recording");
    uint64_t id = session_;
    session_ = 0;
    rec::stop(id, "weft::trace::FlightRecorder::stop: this recorder is not recording");
}

bool FlightRecorder::enabled() const { return session_ != 0 && rec::current(true) == session_; }

size_t FlightRecorder::write_to(const std::string& path) {
    if (!enabled()) throw std::logic_error("weft::trace::FlightRecorder::write_to: the recorder is not recording");
    return rec::flight_write(session_, path);
}

}  // namespace weft::trace
