// The include graph keeps the layers (docs/DESIGN.md, "Parts and
// layering"), as Go's go/build/deps_test.go keeps its packages':
//
//   base (runtime/base/) <- sched/ <- {gc/, syscall/} <- the face
//   (runtime/ but base) <- examples/ <- tests/
//
// A file includes only files of its own layer or of layers below; gc/ and
// syscall/ never include each other; and no chain of includes between the
// project's files comes back to where it started. Reads the source tree
// (WEFT_SOURCE_ROOT, set by meson) and fails naming every offending edge.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = WEFT_SOURCE_ROOT;

// Rank of a project path ("sched/proc.cpp"), or -1 outside the layers.
// Siblings share a rank; kSiblings tells them apart.
int rank_of(const std::string& p) {
    if (p.rfind("runtime/base/", 0) == 0) return 0;
    if (p.rfind("sched/", 0) == 0) return 1;
    if (p.rfind("gc/", 0) == 0 || p.rfind("syscall/", 0) == 0) return 2;
    if (p.rfind("runtime/", 0) == 0) return 3;
    if (p.rfind("examples/", 0) == 0 || p.rfind("bench/", 0) == 0) return 4;
    if (p.rfind("tests/", 0) == 0) return 5;
    return -1;
}

std::string top(const std::string& p) { return p.substr(0, p.find('/')); }

// shipped_headers.txt: include name under weft/ -> source file.
std::map<std::string, std::string> shipped_map() {
    std::map<std::string, std::string> m;
    std::ifstream in(kRoot / "shipped_headers.txt");
    std::string line;
    while (std::getline(in, line)) {
        line = line.substr(0, line.find('#'));
        std::istringstream words(line);
        std::string name, src;
        if (words >> name >> src) m["weft/" + name] = src;
    }
    return m;
}

const std::map<std::string, std::string>& shipped() {
    static const std::map<std::string, std::string> m = shipped_map();
    return m;
}

bool is_shipped_source(const std::string& p) {
    for (const auto& [name, src] : shipped())
        if (src == p) return true;
    return false;
}

struct Include {
    std::string path;     // the project file it names
    bool as_weft = false;  // spelled <weft/...>
    std::string spelled;  // as written
};

// The project files a file includes. <weft/NAME> is a shipped header
// (shipped_headers.txt; an unknown NAME is kept as spelled, so it shows
// as an offending include). Quoted includes are resolved from the root,
// then (tests and examples) from their own folders' -I roots.
std::vector<Include> includes_with_spelling(const std::string& file) {
    std::vector<Include> out;
    std::ifstream in(kRoot / file);
    std::string line;
    while (std::getline(in, line)) {
        size_t at = line.find_first_not_of(" \t");
        if (at == std::string::npos || line.compare(at, 8, "#include") != 0) continue;
        size_t b = line.find_first_of("\"<", at + 8);
        if (b == std::string::npos) continue;
        char close = line[b] == '<' ? '>' : '"';
        size_t e = line.find(close, b + 1);
        if (e == std::string::npos) continue;
        std::string inc = line.substr(b + 1, e - b - 1);
        if (close == '>') {
            if (inc.rfind("weft/", 0) != 0) continue;  // a system or library header
            auto it = shipped().find(inc);
            out.push_back({it == shipped().end() ? inc : it->second, true, inc});
            continue;
        }
        for (const fs::path& base : {fs::path(), fs::path("tests"), fs::path("examples")}) {
            fs::path cand = base / inc;
            if (fs::exists(kRoot / cand)) {
                out.push_back({cand.generic_string(), false, inc});
                break;
            }
        }
    }
    return out;
}

std::vector<std::string> includes_of(const std::string& file) {
    std::vector<std::string> out;
    for (const Include& i : includes_with_spelling(file)) out.push_back(i.path);
    return out;
}

std::vector<std::string> project_files() {
    std::vector<std::string> files;
    for (const char* dir : {"runtime", "sched", "gc", "syscall", "examples", "bench", "tests"}) {
        if (!fs::exists(kRoot / dir)) continue;
        for (const auto& e : fs::recursive_directory_iterator(kRoot / dir)) {
            std::string ext = e.path().extension().string();
            if (e.is_regular_file() && (ext == ".cpp" || ext == ".hpp"))
                files.push_back(fs::relative(e.path(), kRoot).generic_string());
        }
    }
    return files;
}

// Cycles by depth-first search; each found once, as "a -> b -> ... -> a".
void find_cycles(const std::map<std::string, std::vector<std::string>>& g, const std::string& n,
                 std::map<std::string, int>& state, std::vector<std::string>& path, std::set<std::string>& found) {
    state[n] = 1;
    path.push_back(n);
    auto it = g.find(n);
    if (it != g.end()) {
        for (const std::string& m : it->second) {
            if (state[m] == 1) {
                std::string c;
                bool in = false;
                for (const std::string& p : path) {
                    if (p == m) in = true;
                    if (in) c += p + " -> ";
                }
                found.insert(c + m);
            } else if (state[m] == 0) {
                find_cycles(g, m, state, path, found);
            }
        }
    }
    path.pop_back();
    state[n] = 2;
}

}  // namespace

TEST_CASE("no include goes up a layer or across between gc/ and syscall/") {
    std::vector<std::string> files = project_files();
    REQUIRE(files.size() > 100);  // the tree was found
    std::vector<std::string> bad;
    for (const std::string& f : files) {
        int rf = rank_of(f);
        for (const std::string& inc : includes_of(f)) {
            int ri = rank_of(inc);
            if (ri < 0) continue;
            bool up = ri > rf;
            bool across = ri == 2 && rf == 2 && top(inc) != top(f);
            if (up || across) bad.push_back(f + " includes " + inc);
        }
    }
    std::string all;
    for (const std::string& b : bad) all += "\n  " + b;
    INFO("offending includes:" << all);
    CHECK(bad.empty());
}

TEST_CASE("no include cycle between the project's files") {
    std::map<std::string, std::vector<std::string>> graph;
    for (const std::string& f : project_files()) graph[f] = includes_of(f);
    std::map<std::string, int> state;
    std::vector<std::string> path;
    std::set<std::string> cycles;
    for (const auto& [f, _] : graph)
        if (state[f] == 0) find_cycles(graph, f, state, path, cycles);
    std::string all;
    for (const std::string& c : cycles) all += "\n  " + c;
    INFO("cycles:" << all);
    CHECK(cycles.empty());
}

TEST_CASE("every invariant label is declared in one file only") {
    // Labels are declared at the start of a comment line ("//   S1. ...")
    // in a file's header comment, and cited by their label elsewhere; two
    // files declaring one label make every citation ambiguous.
    std::map<std::string, std::set<std::string>> declared;
    for (const std::string& f : project_files()) {
        if (f.rfind("tests/", 0) == 0) continue;
        std::ifstream in(kRoot / f);
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("//", 0) != 0) continue;
            size_t i = line.find_first_not_of(' ', 2);
            if (i == std::string::npos || i == 2) continue;
            size_t j = i;
            while (j < line.size() && line[j] >= 'A' && line[j] <= 'Z') ++j;
            size_t letters = j - i;
            size_t k = j;
            while (k < line.size() && line[k] >= '0' && line[k] <= '9') ++k;
            if (letters < 1 || letters > 2 || k == j || k >= line.size() || line[k] != '.') continue;
            declared[line.substr(i, k - i)].insert(f);
        }
    }
    REQUIRE(declared.count("S4") == 1);  // the scan finds proc.cpp's
    std::string dup;
    for (const auto& [label, files] : declared) {
        if (files.size() < 2) continue;
        dup += "\n  " + label + ":";
        for (const std::string& f : files) dup += " " + f;
    }
    INFO("labels declared in more than one file:" << dup);
    CHECK(dup.empty());
}

TEST_CASE("shipped headers include only shipped headers, always spelled <weft/...>") {
    // What `meson install` ships is shipped_headers.txt's list and nothing
    // else, so a shipped header that included any other project file would
    // not compile in a user's build; and the internals it would pull in
    // (G, M, P, the heap) are what the public tier keeps out of users'
    // include closure.
    REQUIRE(shipped().count("weft/weft.hpp") == 1);
    std::vector<std::string> bad;
    for (const auto& [name, src] : shipped()) {
        if (!fs::exists(kRoot / src)) bad.push_back(name + ": its source " + src + " does not exist");
        for (const Include& i : includes_with_spelling(src)) {
            if (!i.as_weft) bad.push_back(src + " (shipped as " + name + ") includes \"" + i.spelled + "\", not shipped");
            else if (!is_shipped_source(i.path)) bad.push_back(src + " includes <" + i.spelled + ">, not in shipped_headers.txt");
        }
    }
    for (const std::string& f : project_files()) {
        for (const Include& i : includes_with_spelling(f)) {
            if (!i.as_weft && is_shipped_source(i.path))
                bad.push_back(f + " includes \"" + i.spelled + "\": a shipped header, spelled <weft/...> everywhere");
            if (i.as_weft && !is_shipped_source(i.path))
                bad.push_back(f + " includes <" + i.spelled + ">, not in shipped_headers.txt");
        }
    }
    std::string all;
    for (const std::string& b : bad) all += "\n  " + b;
    INFO("offending includes:" << all);
    CHECK(bad.empty());
}

TEST_CASE("examples use only the shipped headers, as a user's program does") {
    std::vector<std::string> bad;
    for (const std::string& f : project_files()) {
        if (f.rfind("examples/", 0) != 0) continue;
        for (const Include& i : includes_with_spelling(f)) {
            if (i.as_weft || i.path.rfind("examples/", 0) == 0) continue;
            bad.push_back(f + " includes \"" + i.spelled + "\"");
        }
    }
    std::string all;
    for (const std::string& b : bad) all += "\n  " + b;
    INFO("examples reaching past the public tier:" << all);
    CHECK(bad.empty());
}
