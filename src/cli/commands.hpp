#pragma once
// The commands of the `eventcore` tool; each returns the exit code, or throws `Failure`.

#include "store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eventcore::cli {

struct Global {
    StoreSpec store;
    bool json = false;
};

struct StreamsOptions {
    std::string prefix;
    std::string pattern;
    std::string after;
    std::size_t limit = 0; // 0: all
};

struct ReadOptions {
    std::string stream;
    std::uint64_t from = 1;
    std::uint64_t limit = 0; // 0: all
};

struct TailOptions {
    std::uint64_t from = 0;
    std::string prefix;
    std::string pattern;
    std::vector<std::string> types;
    bool follow = false;
    std::uint64_t limit = 0; // 0: no limit
};

struct ExportOptions {
    std::string output; // empty: standard output
    std::uint64_t from = 0;
};

struct ImportOptions {
    std::string input; // empty or "-": standard input
    bool allow_non_empty = false;
};

struct ProjectionsOptions {
    std::optional<std::string> reset;
    std::optional<std::uint64_t> to;
};

auto run_streams(const Global& g, const StreamsOptions& o) -> int;
auto run_read(const Global& g, const ReadOptions& o) -> int;
auto run_tail(const Global& g, const TailOptions& o) -> int;
auto run_stats(const Global& g) -> int;
auto run_verify(const Global& g) -> int;
auto run_export(const Global& g, const ExportOptions& o) -> int;
auto run_import(const Global& g, const ImportOptions& o) -> int;
auto run_migrate(const Global& g) -> int;
auto run_projections(const Global& g, const ProjectionsOptions& o) -> int;

} // namespace eventcore::cli
