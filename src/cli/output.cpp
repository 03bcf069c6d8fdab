#include "output.hpp"

#include "store.hpp"

#include <eventcore/error.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace eventcore::cli {

auto iso8601(Timestamp t, bool microseconds) -> std::string {
    const auto day = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day ymd{day};
    const std::chrono::hh_mm_ss hms{t - day};
    auto out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                           static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                           hms.minutes().count(), hms.seconds().count());
    if (microseconds) out += fmt::format(".{:06}", hms.subseconds().count());
    return out + 'Z';
}

[[nodiscard]] auto parse_iso8601(std::string_view text) -> Result<Timestamp> {
    const auto bad = [&] {
        return fail(ErrorKind::validation, "time {} is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SS.ffffffZ)",
                    detail::quote_for_message(text));
    };
    const auto number = [&](std::size_t at, std::size_t digits, int& out) {
        if (at + digits > text.size()) return false;
        const auto* first = text.data() + at;
        const auto [end, ec] = std::from_chars(first, first + digits, out);
        return ec == std::errc{} && end == first + digits;
    };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (text.size() < 20 || !number(0, 4, y) || text[4] != '-' || !number(5, 2, mo) || text[7] != '-' ||
        !number(8, 2, d) || (text[10] != 'T' && text[10] != ' ') || !number(11, 2, h) || text[13] != ':' ||
        !number(14, 2, mi) || text[16] != ':' || !number(17, 2, s))
        return bad();
    std::size_t at = 19;
    std::int64_t fraction = 0;
    if (text[at] == '.') {
        ++at;
        std::size_t digits = 0;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            if (++digits > 6) return bad();
            fraction = fraction * 10 + (text[at] - '0');
            ++at;
        }
        if (digits == 0) return bad();
        for (; digits < 6; ++digits) fraction *= 10;
    }
    if (at + 1 != text.size() || text[at] != 'Z') return bad();
    const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                          std::chrono::day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || s > 59) return bad();
    return Timestamp{std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} +
                     std::chrono::seconds{s} + std::chrono::microseconds{fraction}};
}

auto human_bytes(std::uint64_t bytes) -> std::string {
    constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    auto value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(units)) {
        value /= 1024;
        ++unit;
    }
    return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

namespace {

/// Display width, counting code points (good enough for ids and type names).
auto width(std::string_view s) -> std::size_t {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

} // namespace

Table::Table(std::vector<std::string> headers, std::vector<bool> right_aligned)
    : headers_(std::move(headers)), right_(std::move(right_aligned)) {
    right_.resize(headers_.size(), false);
}

void Table::add(std::vector<std::string> row) {
    row.resize(headers_.size());
    rows_.push_back(std::move(row));
}

void Table::print(std::FILE* out, bool header) const {
    std::vector<std::size_t> widths(headers_.size());
    for (std::size_t i = 0; i < headers_.size(); ++i) widths[i] = width(headers_[i]);
    for (const auto& row : rows_) {
        for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
    }
    std::string text;
    const auto line = [&](const std::vector<std::string>& cells) {
        std::string l;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            const bool last = i + 1 == cells.size();
            const std::string pad(widths[i] - width(cells[i]), ' ');
            if (right_[i]) {
                l += pad + cells[i];
            } else {
                l += cells[i];
                if (!last) l += pad;
            }
            if (!last) l += "  ";
        }
        while (!l.empty() && l.back() == ' ') l.pop_back();
        text += l + '\n';
    };
    if (header) line(headers_);
    for (const auto& row : rows_) line(row);
    write_out(out, text);
}

Progress::Progress(std::string label, std::uint64_t total)
    : label_(std::move(label)), total_(total), enabled_(::isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() { finish(); }

void Progress::update(std::uint64_t done) {
    done_ = done;
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    draw();
}

void Progress::draw() {
    constexpr std::size_t bar = 30;
    const double fraction = total_ == 0 ? 1.0 : std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    const auto filled = static_cast<std::size_t>(fraction * bar);
    std::fprintf(stderr, "\r%s [%s%s] %3d%% %llu/%llu", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(bar - filled, ' ').c_str(), static_cast<int>(fraction * 100),
                 static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_));
    std::fflush(stderr);
    drawn_ = true;
}

void Progress::finish() {
    if (!enabled_ || !drawn_) return;
    draw();
    std::fputs("\r\033[K", stderr); // the bar goes; results stay on standard output
    std::fflush(stderr);
    drawn_ = false;
    enabled_ = false;
}

void write_out(std::FILE* out, std::string_view text) {
    if (std::fwrite(text.data(), 1, text.size(), out) != text.size())
        throw Failure{exit_store, fmt::format("writing the output failed: {}", std::strerror(errno))};
}

} // namespace eventcore::cli
