#include "commands.hpp"

#include "archive.hpp"
#include "output.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>

namespace eventcore::cli {

namespace {

constexpr std::size_t page_size = 1000;

auto print_json(const boost::json::value& v) -> void { write_out(stdout, boost::json::serialize(v) + '\n'); }

auto timestamp_json(std::optional<Timestamp> t) -> boost::json::value {
    if (!t) return nullptr;
    return boost::json::value(iso8601(*t));
}

auto parse_pattern(const std::string& text) -> std::optional<StreamPattern> {
    if (text.empty()) return std::nullopt;
    return need(StreamPattern::parse(text), exit_usage);
}

/// Shows the events of a read as JSON lines, or as rows of a table, up to `limit` (0: no
/// limit); the event past the limit stops the read.
class EventPrinter {
public:
    EventPrinter(bool json, std::uint64_t limit) : json_(json), limit_(limit) {}

    /// Shows `e`, with `row()` as its table row.
    template <class Row>
    [[nodiscard]] auto show(const StoredEvent& e, Table& table, Row&& row) -> Result<void> {
        if (full()) {
            stopped_ = true;
            return fail(ErrorKind::validation, "stopped"); // told apart from real errors by stopped()
        }
        ++count_;
        if (json_) {
            write_out(stdout, event_json(e, std::nullopt) + '\n');
        } else {
            table.add(row());
        }
        return {};
    }
    /// Whether the limit is reached.
    [[nodiscard]] auto full() const -> bool { return limit_ != 0 && count_ == limit_; }
    /// Whether a read was stopped at the limit (its error is not a failure).
    [[nodiscard]] auto stopped() const -> bool { return stopped_; }

private:
    bool json_;
    std::uint64_t limit_;
    std::uint64_t count_ = 0;
    bool stopped_ = false;
};

} // namespace

auto run_streams(const Global& g, const StreamsOptions& o) -> int {
    StreamListQuery q;
    q.prefix = o.prefix;
    q.pattern = parse_pattern(o.pattern);
    q.after = o.after;
    q.limit = o.limit == 0 ? std::numeric_limits<std::size_t>::max() : o.limit + 1; // one more: is there a next page?
    auto store = open_store(g.store, Access::read);
    auto streams = need(store->list_streams(q));
    const bool more = o.limit != 0 && streams.size() > o.limit;
    if (more) streams.resize(o.limit);
    if (g.json) {
        boost::json::array list;
        for (const auto& s : streams)
            list.push_back({{"stream", s.stream.view()}, {"version", s.version.value()},
                            {"last_written", iso8601(s.last_written)}});
        boost::json::object out{{"streams", std::move(list)}};
        out["next_after"] = more ? boost::json::value(streams.back().stream.view()) : boost::json::value(nullptr);
        print_json(out);
        return exit_ok;
    }
    Table table({"STREAM", "VERSION", "LAST WRITTEN"}, {false, true, false});
    for (const auto& s : streams)
        table.add({std::string(s.stream.view()), fmt::format("{}", s.version), iso8601(s.last_written, false)});
    table.print(stdout);
    if (more) {
        std::fflush(stdout);
        std::fprintf(stderr, "more streams follow: --after '%s'\n", std::string(streams.back().stream.view()).c_str());
    }
    return exit_ok;
}

auto run_read(const Global& g, const ReadOptions& o) -> int {
    const auto id = need(StreamId::parse(o.stream), exit_usage);
    if (o.from == 0) throw Failure{exit_usage, "--from: versions start at 1"};
    auto store = open_store(g.store, Access::read);
    Table table({"VERSION", "POSITION", "RECORDED AT", "TYPE", "PAYLOAD"}, {true, true, false, false, false});
    EventPrinter printer(g.json, o.limit);
    auto version = store->read_stream(id, StreamVersion{o.from}, [&](const StoredEvent& e) -> Result<void> {
        return printer.show(e, table, [&]() -> std::vector<std::string> {
            return {fmt::format("{}", e.version), fmt::format("{}", e.position), iso8601(e.metadata.recorded_at, false),
                    std::string(e.type), payload_for_display(e.payload)};
        });
    });
    if (!version && !printer.stopped()) need(std::move(version));
    if (version && version->is_zero()) throw Failure{exit_problems, fmt::format("stream '{}' has no events", id)};
    if (!g.json) table.print(stdout);
    return exit_ok;
}

auto run_tail(const Global& g, const TailOptions& o) -> int {
    LogQuery q;
    q.after = GlobalPosition{o.from};
    q.limit = page_size;
    q.stream_prefix = o.prefix;
    q.stream_pattern = parse_pattern(o.pattern);
    q.event_types = o.types;
    auto store = open_store(g.store, Access::read);
    EventPrinter printer(g.json, o.limit);
    bool header = true;
    for (;;) {
        Table table({"POSITION", "RECORDED AT", "STREAM", "VERSION", "TYPE", "PAYLOAD"},
                    {true, false, false, true, false, false});
        auto page = store->read_all(q, [&](const StoredEvent& e) -> Result<void> {
            return printer.show(e, table, [&]() -> std::vector<std::string> {
                return {fmt::format("{}", e.position), iso8601(e.metadata.recorded_at, false), std::string(e.stream),
                        fmt::format("{}", e.version), std::string(e.type), payload_for_display(e.payload)};
            });
        });
        if (!page && !printer.stopped()) need(std::move(page));
        if (!g.json && (!table.empty() || (header && !o.follow))) {
            table.print(stdout, header);
            header = false;
        }
        std::fflush(stdout);
        if (printer.stopped() || printer.full()) break;
        q.after = page->last;
        if (page->last >= page->head) {
            if (!o.follow) break;
            (void)need(store->wait_for_events(q.after, std::chrono::seconds(10)));
        }
    }
    return exit_ok;
}

auto run_stats(const Global& g) -> int {
    auto store = open_store(g.store, Access::read);
    const int schema = need(store->schema_version());
    const auto s = need(store->statistics());
    if (g.json) {
        boost::json::array types;
        for (const auto& t : s.types) types.push_back({{"type", t.type}, {"events", t.events}});
        boost::json::array days;
        for (const auto& d : s.days) days.push_back({{"day", d.day}, {"events", d.events}, {"commits", d.commits}});
        boost::json::object out{{"store", g.store.describe()},
                                {"schema_version", schema},
                                {"events", s.events},
                                {"streams", s.streams},
                                {"head", s.head.value()},
                                {"size_bytes", s.size_bytes}};
        out["first_recorded"] = timestamp_json(s.first_recorded);
        out["last_recorded"] = timestamp_json(s.last_recorded);
        out["types"] = std::move(types);
        out["days"] = std::move(days);
        print_json(out);
        return exit_ok;
    }
    std::string text;
    const auto line = [&](std::string_view key, const std::string& value) { text += fmt::format("{:<15}{}\n", key, value); };
    line("store", g.store.describe());
    line("schema", fmt::format("{}", schema));
    line("events", fmt::format("{}", s.events));
    line("streams", fmt::format("{}", s.streams));
    line("head", fmt::format("{}", s.head));
    line("size", fmt::format("{} ({} bytes)", human_bytes(s.size_bytes), s.size_bytes));
    if (s.first_recorded) {
        line("first event", iso8601(*s.first_recorded, false));
        line("last event", iso8601(*s.last_recorded, false));
    }
    write_out(stdout, text + '\n');
    Table types({"TYPE", "EVENTS"}, {false, true});
    for (const auto& t : s.types) types.add({t.type, fmt::format("{}", t.events)});
    types.print(stdout);
    write_out(stdout, "\n");
    Table days({"DAY (UTC)", "EVENTS", "COMMITS"}, {false, true, true});
    for (const auto& d : s.days) days.add({d.day, fmt::format("{}", d.events), fmt::format("{}", d.commits)});
    days.print(stdout);
    return exit_ok;
}

auto run_export(const Global& g, const ExportOptions& o) -> int {
    auto store = open_store(g.store, Access::read);
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(nullptr, std::fclose);
    std::FILE* out = stdout;
    if (!o.output.empty() && o.output != "-") {
        file.reset(std::fopen(o.output.c_str(), "wb"));
        if (!file) throw Failure{exit_store, fmt::format("cannot create '{}': {}", o.output, std::strerror(errno))};
        out = file.get();
    }
    // The log as it is now: commits that land during the export are left for the next one.
    const auto head = need(store->head());
    const GlobalPosition from{o.from};
    Progress progress("export", head.value() > from.value() ? head.value() - from.value() : 0);
    std::uint64_t count = 0;
    GlobalPosition first{};
    GlobalPosition after = from;
    std::string buffer;
    while (after < head) {
        buffer.clear();
        const auto last = need(store->read_log(after, page_size, [&](const StoredEvent& e, GlobalPosition commit_last) {
            if (e.position > head) return Result<void>{};
            if (first.is_zero()) first = e.position;
            buffer += event_json(e, commit_last);
            buffer += '\n';
            ++count;
            return Result<void>{};
        }));
        write_out(out, buffer);
        if (last == after) break;
        after = last;
        progress.update(std::min(after.value(), head.value()) - from.value());
    }
    progress.finish();
    if (std::fflush(out) != 0) throw Failure{exit_store, fmt::format("writing the output failed: {}", std::strerror(errno))};
    if (file) {
        if (std::fclose(file.release()) != 0)
            throw Failure{exit_store, fmt::format("writing '{}' failed: {}", o.output, std::strerror(errno))};
        if (g.json) {
            print_json(boost::json::object{{"exported", count}, {"first_position", first.value()},
                                           {"last_position", count == 0 ? 0 : std::min(after, head).value()},
                                           {"file", o.output}});
        } else {
            write_out(stdout, count == 0 ? fmt::format("exported no events to {}\n", o.output)
                                         : fmt::format("exported {} events (positions {} to {}) to {}\n", count, first,
                                                       std::min(after, head), o.output));
        }
    }
    return exit_ok;
}

auto run_import(const Global& g, const ImportOptions& o) -> int {
    std::ifstream file;
    std::istream* in = &std::cin;
    std::uint64_t total_bytes = 0;
    const bool from_file = !o.input.empty() && o.input != "-";
    if (from_file) {
        file.open(o.input, std::ios::binary);
        if (!file) throw Failure{exit_store, fmt::format("cannot open '{}': {}", o.input, std::strerror(errno))};
        in = &file;
        struct stat st{};
        if (::stat(o.input.c_str(), &st) == 0 && S_ISREG(st.st_mode)) total_bytes = static_cast<std::uint64_t>(st.st_size);
    }
    auto store = open_store(g.store, Access::write);
    const auto head = need(store->head());
    if (!head.is_zero() && !o.allow_non_empty)
        throw Failure{exit_refused,
                      fmt::format("{} is not empty (its log reaches position {}); import into an empty store, or pass "
                                  "--allow-non-empty to continue its log",
                                  g.store.describe(), head)};

    Progress progress("import", total_bytes);
    std::vector<ArchivedEvent> batch;
    std::uint64_t imported = 0;
    std::uint64_t bytes = 0;
    GlobalPosition first{};
    GlobalPosition last = head;
    const auto flush = [&] {
        if (batch.empty()) return;
        auto r = store->import_events(batch);
        if (!r) {
            const int code = r.error().is(ErrorKind::validation) ? exit_usage : exit_store;
            throw Failure{code, fmt::format("{}{}", r.error().message(),
                                            imported == 0 ? std::string()
                                                          : fmt::format(" ({} events up to position {} were imported)",
                                                                        imported, last))};
        }
        imported += batch.size();
        last = batch.back().position;
        batch.clear();
    };
    std::string line;
    std::uint64_t number = 0;
    while (std::getline(*in, line)) {
        ++number;
        bytes += line.size() + 1;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto event = parse_event_json(line);
        if (!event)
            throw Failure{exit_usage, fmt::format("{}line {}: {}", from_file ? o.input + ": " : std::string(), number,
                                                  event.error().message())};
        if (first.is_zero()) first = event->position;
        batch.push_back(std::move(*event));
        if (batch.size() >= page_size && batch.back().position == batch.back().commit_last) {
            flush();
            progress.update(bytes);
        }
    }
    if (in->bad()) throw Failure{exit_store, fmt::format("reading the input failed: {}", std::strerror(errno))};
    flush();
    progress.finish();
    if (g.json) {
        print_json(boost::json::object{{"imported", imported}, {"first_position", first.value()},
                                       {"last_position", last.value()}, {"store", g.store.describe()}});
    } else {
        write_out(stdout, imported == 0 ? fmt::format("imported no events into {}\n", g.store.describe())
                                        : fmt::format("imported {} events (positions {} to {}) into {}\n", imported,
                                                      first, last, g.store.describe()));
    }
    return exit_ok;
}

auto run_migrate(const Global& g) -> int {
    const int before = peek_schema_version(g.store);
    auto store = open_store(g.store, Access::write);
    const int after = need(store->schema_version());
    if (g.json) {
        print_json(boost::json::object{{"store", g.store.describe()}, {"previous", before}, {"schema_version", after}});
    } else if (before == after) {
        write_out(stdout, fmt::format("{}: schema version {}, up to date\n", g.store.describe(), after));
    } else {
        write_out(stdout, fmt::format("{}: schema version {} -> {} ({})\n", g.store.describe(), before, after,
                                      before == 0 ? "created" : "migrated"));
    }
    return exit_ok;
}

auto run_projections(const Global& g, const ProjectionsOptions& o) -> int {
    auto store = open_store(g.store, Access::read);
    const auto head = need(store->head());
    const auto checkpoints = need(store->checkpoints());
    if (!o.reset) {
        const auto lag = [&](GlobalPosition p) { return head > p ? head.value() - p.value() : 0; };
        if (g.json) {
            boost::json::array list;
            for (const auto& c : checkpoints)
                list.push_back({{"name", c.name}, {"position", c.position.value()}, {"lag", lag(c.position)},
                                {"updated_at", iso8601(c.updated_at)}});
            print_json(boost::json::object{{"head", head.value()}, {"projections", std::move(list)}});
            return exit_ok;
        }
        Table table({"NAME", "POSITION", "LAG", "UPDATED AT"}, {false, true, true, false});
        for (const auto& c : checkpoints)
            table.add({c.name, fmt::format("{}", c.position), fmt::format("{}", lag(c.position)), iso8601(c.updated_at, false)});
        table.print(stdout);
        return exit_ok;
    }
    const auto& name = *o.reset;
    const auto found = std::find_if(checkpoints.begin(), checkpoints.end(), [&](const Checkpoint& c) { return c.name == name; });
    if (found == checkpoints.end())
        throw Failure{exit_problems, fmt::format("no projection named '{}' has a checkpoint (see `eventcore projections`)", name)};
    if (o.to && GlobalPosition{*o.to} > head)
        throw Failure{exit_usage, fmt::format("--to {} is beyond the head of the log ({})", *o.to, head)};
    // A running projection would write its checkpoint again: reset only one that is stopped.
    auto lock = store->lock_projection(name, std::chrono::milliseconds(0));
    if (!lock) {
        if (lock.error().is(ErrorKind::timeout))
            throw Failure{exit_refused, fmt::format("projection '{}' is running; stop it before resetting it", name)};
        need(std::move(lock));
    }
    if (o.to) {
        need(store->save_checkpoint(name, GlobalPosition{*o.to}));
    } else {
        (void)need(store->delete_checkpoint(name));
    }
    const auto to = o.to.value_or(0);
    if (g.json) {
        print_json(boost::json::object{{"name", name}, {"previous", found->position.value()}, {"position", to},
                                       {"lag", head.value() - to}});
    } else {
        write_out(stdout, fmt::format("projection '{}': checkpoint {} -> {}; it replays {} events when it next runs{}\n",
                                      name, found->position, to, head.value() - to,
                                      to == 0 ? " (clear its read model first)" : ""));
    }
    return exit_ok;
}

} // namespace eventcore::cli
