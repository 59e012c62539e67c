// The doctest main shared by every suite.
//
// Leaks and stalls fail the suite (as Go's goleak in a TestMain): a test
// case whose weft::run returned with fibers still blocked, or whose fibers
// the stall detector reported, is named, and the suite exits non-zero even
// if every assertion passed. Both are counted through weft::metrics()
// (fibers.abandoned_total, stalls_total), before and after each test case;
// WEFT_DEBUG=leakcheck=1 (set for the suites in tests/meson.build) makes
// the run list those fibers with their stacks. A test that means to leave
// fibers behind (a deadlock, an abandoned stop) does so in a child
// process (support/death.hpp), whose runs are not this process's.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include <weft/metrics.hpp>

namespace {

std::vector<std::string> g_leaky;  // and stalled

struct LeakListener : doctest::IReporter {
    uint64_t before = 0, stalls_before = 0;
    explicit LeakListener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override {
        weft::Metrics m = weft::metrics();
        before = m.fibers.abandoned_total;
        stalls_before = m.stalls_total;
    }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
    // test_case_end has no name: keep it from the start.
    const doctest::TestCaseData* current = nullptr;
};

struct LeakCheck : LeakListener {
    using LeakListener::LeakListener;
    void test_case_start(const doctest::TestCaseData& tc) override {
        LeakListener::test_case_start(tc);
        current = &tc;
    }
    void test_case_end(const doctest::CurrentTestCaseStats&) override {
        weft::Metrics m = weft::metrics();
        if (m.stalls_total > stalls_before && current) {
            g_leaky.push_back(std::string(current->m_name) + " (" + std::to_string(m.stalls_total - stalls_before) +
                              " stalls)");
            std::fprintf(stderr, "STALL: test case \"%s\" ran fibers the stall detector reported\n", current->m_name);
        }
        uint64_t after = m.fibers.abandoned_total;
        if (after > before && current) {
            g_leaky.push_back(std::string(current->m_name) + " (" + std::to_string(after - before) + " fibers)");
            std::fprintf(stderr, "LEAK: test case \"%s\" left %llu fibers blocked when its run ended\n", current->m_name,
                         static_cast<unsigned long long>(after - before));
        }
    }
};

}  // namespace

DOCTEST_REGISTER_LISTENER("leakcheck", 1, LeakCheck);

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    int rc = context.run();
    if (context.shouldExit()) return rc;
    if (!g_leaky.empty()) {
        std::fprintf(stderr, "%zu test case(s) left fibers blocked or stalled:\n", g_leaky.size());
        for (const std::string& t : g_leaky) std::fprintf(stderr, "  %s\n", t.c_str());
        return rc != 0 ? rc : 1;
    }
    return rc;
}
