#pragma once
// How the tool shows things: times, sizes, aligned tables, and a progress bar on a terminal.

#include <eventcore/metadata.hpp>
#include <eventcore/result.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace eventcore::cli {

/// ISO 8601 in UTC: `2024-05-01T12:30:00.123456Z` (or without the fraction, for tables).
[[nodiscard]] auto iso8601(Timestamp t, bool microseconds = true) -> std::string;
/// Parses what `iso8601` writes (the fraction optional, up to six digits, `Z` required).
[[nodiscard]] auto parse_iso8601(std::string_view text) -> Result<Timestamp>;

/// `1.2 MiB`.
[[nodiscard]] auto human_bytes(std::uint64_t bytes) -> std::string;

/// Columns padded to their widest cell; numbers to the right. The last column is not padded.
class Table {
public:
    explicit Table(std::vector<std::string> headers, std::vector<bool> right_aligned = {});
    void add(std::vector<std::string> row);
    [[nodiscard]] auto empty() const -> bool { return rows_.empty(); }
    /// Prints the rows, after the header line if `header`.
    void print(std::FILE* out, bool header = true) const;

private:
    std::vector<std::string> headers_;
    std::vector<bool> right_;
    std::vector<std::vector<std::string>> rows_;
};

/// A progress bar on standard error, drawn only when it is a terminal, at most ten times a second.
class Progress {
public:
    Progress(std::string label, std::uint64_t total);
    Progress(const Progress&) = delete;
    auto operator=(const Progress&) -> Progress& = delete;
    ~Progress();
    void update(std::uint64_t done);
    void finish();

private:
    void draw();
    std::string label_;
    std::uint64_t total_;
    std::uint64_t done_ = 0;
    bool enabled_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point last_{};
};

/// Writes `text` to `out`, failing with a store-independent error when the output is gone.
void write_out(std::FILE* out, std::string_view text);

} // namespace eventcore::cli
