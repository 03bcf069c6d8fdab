// `eventcore verify`: reads the whole store as of one moment and checks that it is sound.

#include "commands.hpp"

#include "archive.hpp"
#include "output.hpp"

#include <eventcore/detail/utf8.hpp>
#include <eventcore/postgres/database.hpp>
#include <eventcore/sqlite/database.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace eventcore::cli {

namespace {

constexpr std::size_t page_size = 1000;
constexpr std::size_t integrity_limit = 100;

/// An error reading the store that says its files are damaged: a finding, not a failure to run.
auto is_damage(const Error& e) -> bool {
    return e.is(ErrorKind::deserialization) || e.code() == "SQLITE_CORRUPT" || e.code() == "SQLITE_NOTADB" ||
           e.code() == "EVENTCORE_STORED_ID_INVALID";
}

/// `text` with every byte that is not part of valid UTF-8 shown as `\xNN`: a damaged store may
/// hold anything in what the problems quote, and the report (JSON above all) must stay UTF-8.
auto printable(std::string_view text) -> std::string {
    std::string out;
    for (std::size_t at = 0; at < text.size();) {
        const auto d = eventcore::detail::decode_utf8(text, at);
        if (d.valid) {
            out.append(text.substr(at, d.length));
            at += d.length;
        } else {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[at]));
            ++at;
        }
    }
    return out;
}

/// What verify found.
struct Findings {
    int schema = 0;
    std::optional<bool> engine_sound; // SQLite's integrity check; none on PostgreSQL
    std::uint64_t events = 0;
    std::size_t streams = 0;
    std::size_t records = 0;
    GlobalPosition head{};
    std::uint64_t not_json = 0;
    std::vector<std::string> problems;
    std::vector<std::string> notes;
};

/// The idempotency records, checked against the log as the log pass goes by: a record must
/// point at exactly one whole commit whose events exist, and say what the log says about it.
class RecordCheck {
public:
    RecordCheck(std::vector<CommandRecord> records, std::vector<std::string>& problems) : problems_(problems) {
        for (auto& r : records) {
            if (!r.damage.empty()) {
                problem(r, r.damage);
                // Whatever it still says is checked too, unless there is no record at all.
                if (r.first_position.is_zero()) continue;
            }
            if (r.event_count == 0) {
                empty_.emplace(r.first_position.value(), std::move(r));
            } else {
                with_events_.emplace(r.first_position.value(), std::move(r));
            }
        }
        next_empty_ = empty_.begin();
    }

    /// Before the log's event at `position` (so `versions` are as of `position - 1`).
    void before(std::uint64_t position, const std::map<std::string, std::uint64_t, std::less<>>& versions) {
        for (; next_empty_ != empty_.end() && next_empty_->first <= position; ++next_empty_)
            check_versions(next_empty_->second, versions, "before the position it records");
    }

    /// The event `e` of the commit ending at `commit_last`; `starts` when it is the first of it.
    void event(const StoredEvent& e, GlobalPosition commit_last, bool starts) {
        const auto p = e.position.value();
        if (starts) written_.clear();
        written_.insert(std::string(e.stream));
        auto [from, to] = with_events_.equal_range(p);
        for (auto at = from; at != to; ++at) {
            const auto& r = at->second;
            seen_.insert(r.command_id);
            if (!starts) {
                problem(r, fmt::format("it points at position {}, inside a commit (the commit ends at {})", p,
                                       commit_last));
                continue;
            }
            if (std::distance(from, to) > 1 && at == from) {
                std::string ids;
                for (auto other = from; other != to; ++other) ids += fmt::format(" {}", other->second.command_id);
                problems_.push_back(fmt::format("command records{} all claim the commit at position {}", ids, p));
            }
            const auto events = commit_last.value() - p + 1;
            if (events != r.event_count)
                problem(r, fmt::format("it records {} events from position {}; the commit there has {}", r.event_count, p,
                                       events));
            if (r.committed_at != e.metadata.recorded_at)
                problem(r, fmt::format("it records a commit at {}; the events at position {} were recorded at {}",
                                       iso8601(r.committed_at), p, iso8601(e.metadata.recorded_at)));
            pending_.push_back(&r);
        }
    }

    /// At the end of a commit, with `versions` after it.
    void commit_end(const std::map<std::string, std::uint64_t, std::less<>>& versions) {
        for (const auto* r : pending_) {
            check_versions(*r, versions, "after its commit");
            for (const auto& stream : written_) {
                const bool listed = std::any_of(r->streams.begin(), r->streams.end(),
                                                [&](const auto& s) { return s.first == stream; });
                if (!listed) problem(*r, fmt::format("its commit writes stream '{}', which the record does not list", stream));
            }
        }
        pending_.clear();
    }

    /// After the whole log, whose head is `head`.
    void end(GlobalPosition head, const std::map<std::string, std::uint64_t, std::less<>>& versions) {
        for (; next_empty_ != empty_.end(); ++next_empty_) {
            const auto& r = next_empty_->second;
            if (next_empty_->first > head.value() + 1) {
                problem(r, fmt::format("it records position {}, beyond the head {} of the log", next_empty_->first, head));
            } else {
                check_versions(r, versions, "at the end of the log");
            }
        }
        for (const auto& [first, r] : with_events_) {
            if (seen_.contains(r.command_id)) continue;
            problem(r, first > head.value()
                           ? fmt::format("it points at positions {} to {}, beyond the head {} of the log", first,
                                         first + r.event_count - 1, head)
                           : fmt::format("it points at position {}, where the log has no event", first));
        }
    }

private:
    void problem(const CommandRecord& r, const std::string& what) {
        problems_.push_back(fmt::format("command record {}: {}", r.command_id, what));
    }

    void check_versions(const CommandRecord& r, const std::map<std::string, std::uint64_t, std::less<>>& versions,
                        std::string_view when) {
        for (const auto& [stream, version] : r.streams) {
            const auto at = versions.find(stream);
            const std::uint64_t actual = at == versions.end() ? 0 : at->second;
            if (actual != version.value())
                problem(r, fmt::format("it records stream '{}' at version {} {}, where the log has it at {}", stream,
                                       version, when, actual));
        }
    }

    std::vector<std::string>& problems_;
    std::multimap<std::uint64_t, CommandRecord> with_events_;
    std::multimap<std::uint64_t, CommandRecord> empty_;
    std::multimap<std::uint64_t, CommandRecord>::iterator next_empty_;
    std::set<Uuid> seen_;
    std::set<std::string, std::less<>> written_;
    std::vector<const CommandRecord*> pending_;
};

[[nodiscard]] auto check(StoreSnapshot& s, int build_schema, Findings& f) -> Result<void> {
    auto& problems = f.problems;
    auto schema = s.schema_version();
    if (!schema) return fail(std::move(schema).error());
    f.schema = *schema;
    if (f.schema != build_schema)
        problems.push_back(fmt::format("schema version {} (this build expects {})", f.schema, build_schema));

    auto engine = s.integrity_check(integrity_limit);
    if (!engine) return fail(std::move(engine).error());
    if (*engine) {
        f.engine_sound = (*engine)->empty();
        for (const auto& p : **engine) problems.push_back(fmt::format("SQLite's integrity check: {}", p));
    }

    auto head = s.head();
    if (!head) return fail(std::move(head).error());
    f.head = *head;

    std::vector<CommandRecord> records;
    auto read_records = s.commands([&](const CommandRecord& r) -> Result<void> {
        records.push_back(r);
        return {};
    });
    if (!read_records) {
        if (!is_damage(read_records.error())) return read_records;
        problems.push_back(fmt::format("reading the command records: {}", read_records.error().message()));
    }
    f.records = records.size();
    RecordCheck commands(std::move(records), problems);

    Progress progress("verify", f.head.value());
    std::map<std::string, std::uint64_t, std::less<>> versions;
    std::uint64_t expected = 1;
    std::uint64_t unused = 0;
    GlobalPosition open_commit{};
    GlobalPosition after{};
    bool stopped = false;
    for (;;) {
        auto last = s.read_log(after, page_size, [&](const StoredEvent& e, GlobalPosition commit_last) -> Result<void> {
            const auto p = e.position.value();
            const auto where = fmt::format("position {} (stream '{}' version {})", p, e.stream, e.version);
            commands.before(p, versions);
            if (p > expected) {
                // Not damage in itself: a missing event shows in its stream's versions.
                unused += p - expected;
            } else if (p < expected) {
                problems.push_back(fmt::format("{}: out of order after position {}", where, expected - 1));
            }
            expected = p + 1;
            const bool starts = open_commit.is_zero();
            if (!starts && commit_last != open_commit)
                problems.push_back(fmt::format("{}: the commit ending at position {} is incomplete", where, open_commit));
            if (commit_last < e.position)
                problems.push_back(fmt::format("{}: its commit ends at position {}, before the event", where, commit_last));
            open_commit = e.position >= commit_last ? GlobalPosition{} : commit_last;
            if (!StreamId::parse(e.stream)) problems.push_back(fmt::format("{}: invalid stream id", where));
            auto [at, fresh] = versions.try_emplace(std::string(e.stream), 0);
            const auto v = e.version.value();
            if (v != at->second + 1) {
                if (v == at->second + 2) {
                    problems.push_back(fmt::format("{}: version {} of the stream is missing", where, v - 1));
                } else if (v > at->second + 2) {
                    problems.push_back(fmt::format("{}: versions {} to {} of the stream are missing", where,
                                                   at->second + 1, v - 1));
                } else {
                    problems.push_back(fmt::format("{}: version repeats or goes back (after {})", where, at->second));
                }
            }
            at->second = std::max(at->second, v);
            // A codec may store any bytes: only worth a note.
            if (!is_json(e.payload)) ++f.not_json;
            commands.event(e, commit_last, starts);
            if (open_commit.is_zero()) commands.commit_end(versions);
            ++f.events;
            progress.update(p);
            return {};
        });
        if (!last) {
            if (!is_damage(last.error())) return fail(std::move(last).error());
            problems.push_back(fmt::format("after position {}: {} (verification stopped here)", after,
                                           last.error().message()));
            stopped = true;
            break;
        }
        if (*last == after) break;
        after = *last;
    }
    progress.finish();
    f.streams = versions.size();
    if (!stopped) {
        if (!open_commit.is_zero())
            problems.push_back(fmt::format("the log ends inside the commit ending at position {}", open_commit));
        if (expected - 1 < f.head.value())
            problems.push_back(fmt::format("the log ends at position {} but the head is {}", expected - 1, f.head));
        commands.end(f.head, versions);
    }
    if (unused > 0)
        f.notes.push_back(fmt::format("{} positions between events hold no event: a commit that fails after taking its "
                                      "positions leaves them unused (PostgreSQL), as can an import",
                                      unused));
    if (f.not_json > 0)
        f.notes.push_back(fmt::format("{} payloads are not JSON: fine for a codec that stores other bytes (`read` shows "
                                      "them as <N bytes, not JSON>, `export` as payload_base64)",
                                      f.not_json));

    // The store's own idea of each stream's version must match the events.
    auto listed = s.list_streams({});
    if (!listed) {
        if (!is_damage(listed.error())) return fail(std::move(listed).error());
        problems.push_back(fmt::format("listing the streams: {}", listed.error().message()));
    } else if (!stopped) {
        for (const auto& st : *listed) {
            const auto at = versions.find(st.stream.view());
            if (at == versions.end()) {
                problems.push_back(fmt::format("stream '{}' is listed at version {} but has no events", st.stream, st.version));
            } else if (at->second != st.version.value()) {
                problems.push_back(fmt::format("stream '{}' is listed at version {} but its events reach {}", st.stream,
                                               st.version, at->second));
            }
        }
        if (listed->size() < versions.size())
            problems.push_back(fmt::format("{} streams have events but are not listed", versions.size() - listed->size()));
    }
    auto checkpoints = s.checkpoints();
    if (!checkpoints) return fail(std::move(checkpoints).error());
    for (const auto& c : *checkpoints) {
        if (c.position > f.head)
            problems.push_back(fmt::format("checkpoint '{}' at position {} is beyond the head {}", c.name, c.position, f.head));
    }
    return {};
}

} // namespace

auto run_verify(const Global& g) -> int {
    Findings f;
    std::unique_ptr<Store> store;
    try {
        store = open_store(g.store, Access::read);
    } catch (const Failure& failure) {
        // A file SQLite calls malformed as it opens it (its schema damaged, say) is not sound.
        if (failure.error_code != "SQLITE_CORRUPT") throw;
        f.problems.push_back(printable(failure.message) + " (verification stopped here)");
    }
    if (store) {
    // One snapshot for every read, so commits landing meanwhile cannot make a sound store look
    // broken (a log read before them and stream versions read after).
        auto checked = store->snapshot([&](StoreSnapshot& s) { return check(s, store->build_schema_version(), f); });
        // A file damaged enough may fail a read (or the end of the read transaction) that the
        // checks do not expect: that is a finding too, after those made so far.
        if (!checked) {
            if (!is_damage(checked.error())) need(std::move(checked));
            f.problems.push_back(fmt::format("{} (verification stopped here)", checked.error().message()));
        }
    }
    for (auto& p : f.problems) p = printable(p);
    const int build_schema = g.store.kind == StoreSpec::Kind::sqlite ? sqlite::schema_version : postgres::schema_version;

    const bool sound = f.problems.empty();
    const auto engine = !f.engine_sound ? std::string("not available") : *f.engine_sound ? "ok" : "problems";
    if (g.json) {
        boost::json::array problems;
        for (const auto& p : f.problems) problems.push_back(boost::json::value(p));
        boost::json::array notes;
        for (const auto& n : f.notes) notes.push_back(boost::json::value(n));
        boost::json::object out{{"store", g.store.describe()},
                                {"sound", sound},
                                {"schema_version", f.schema},
                                {"events", f.events},
                                {"streams", f.streams},
                                {"head", f.head.value()},
                                {"command_records", f.records},
                                {"integrity_check", engine},
                                {"payloads_not_json", f.not_json},
                                {"problems", std::move(problems)},
                                {"notes", std::move(notes)}};
        write_out(stdout, boost::json::serialize(out) + '\n');
    } else {
        std::string text = fmt::format("store          {}\nschema         {} (this build: {})\nevents         {}\n"
                                       "streams        {}\nhead           {}\ncommands       {} idempotency records\n"
                                       "integrity      {}\n",
                                       g.store.describe(), f.schema, build_schema, f.events, f.streams,
                                       f.head, f.records,
                                       f.engine_sound ? (*f.engine_sound ? "SQLite's integrity check: ok"
                                                                         : "SQLite's integrity check: problems")
                                                      : "(no engine check on this store)");
        constexpr std::size_t shown = 50;
        for (std::size_t i = 0; i < f.problems.size() && i < shown; ++i) text += "problem        " + f.problems[i] + '\n';
        if (f.problems.size() > shown) text += fmt::format("               ... and {} more\n", f.problems.size() - shown);
        for (const auto& n : f.notes) text += "note           " + n + '\n';
        text += sound ? "result         sound\n" : fmt::format("result         NOT SOUND: {} problems\n", f.problems.size());
        write_out(stdout, text);
    }
    return sound ? exit_ok : exit_problems;
}

} // namespace eventcore::cli
