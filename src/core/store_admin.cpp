// The checks of store_admin.hpp, compiled once.
#include <eventcore/store_admin.hpp>

#include <unordered_map>

namespace eventcore {

auto ArchivedEvent::from(const StoredEvent& stored, GlobalPosition commit_last) -> Result<ArchivedEvent> {
    auto stream = StreamId::parse(stored.stream);
    if (!stream) return fail(std::move(stream).error());
    return ArchivedEvent{std::move(*stream),         stored.version,          stored.position, commit_last,
                         std::string(stored.type), std::string(stored.payload), stored.metadata};
}

namespace detail {

auto check_import(std::span<const ArchivedEvent> events, GlobalPosition head,
                  FunctionRef<Result<StreamVersion>(const StreamId&)> current_version) -> Result<void> {
    std::unordered_map<std::string_view, StreamVersion> versions;
    GlobalPosition expected = head.next();
    GlobalPosition open_commit{};
    // The years every store can keep, 0001 to 9999 (PostgreSQL has no year 0).
    constexpr auto earliest = std::chrono::sys_days{std::chrono::year{1} / 1 / 1};
    constexpr auto latest = std::chrono::sys_days{std::chrono::year{10000} / 1 / 1};
    for (const auto& e : events) {
        const auto refused = [&](std::string_view what, std::string_view text, const std::string& why) {
            return fail(ErrorKind::validation, "imported event at position {} (stream '{}'): its {} {} {}", e.position,
                        e.stream, what, quote_for_message(text), why);
        };
        if (e.type.empty())
            return fail(ErrorKind::validation, "imported event at position {} (stream '{}') has an empty event type",
                        e.position, e.stream);
        if (auto why = text_problem(e.type, true)) return refused("event type", e.type, *why);
        if (auto why = text_problem(e.metadata.command)) return refused("command name", e.metadata.command, *why);
        if (auto valid = validate_custom_metadata(
                e.metadata.custom, fmt::format("imported event at position {} (stream '{}')", e.position, e.stream));
            !valid)
            return valid;
        if (e.metadata.recorded_at < earliest || e.metadata.recorded_at >= latest)
            return fail(ErrorKind::validation,
                        "imported event at position {} (stream '{}') was recorded at {} us from 1970, outside the years "
                        "0001 to 9999 that every store can keep",
                        e.position, e.stream, e.metadata.recorded_at.time_since_epoch().count());
        // A commit's events are contiguous; between commits a log may have gaps (PostgreSQL's
        // does where a commit failed after taking its positions), never a step back.
        if (!open_commit.is_zero() && e.position != expected)
            return fail(ErrorKind::validation,
                        "imported event at position {} where its commit, which ends at {}, needs position {}",
                        e.position, open_commit, expected);
        if (e.position < expected)
            return fail(ErrorKind::validation, "imported event at position {} where the log needs a position after {}",
                        e.position, GlobalPosition{expected.value() - 1});
        if (e.commit_last < e.position)
            return fail(ErrorKind::validation, "imported event at position {} ends its commit at {}, before itself",
                        e.position, e.commit_last);
        if (!open_commit.is_zero() && e.commit_last != open_commit)
            return fail(ErrorKind::validation,
                        "imported event at position {} starts a new commit before the one ending at {} is complete",
                        e.position, open_commit);
        open_commit = e.position == e.commit_last ? GlobalPosition{} : e.commit_last;
        auto [at, fresh] = versions.try_emplace(e.stream.view(), StreamVersion{});
        if (fresh) {
            auto v = current_version(e.stream);
            if (!v) return fail(std::move(v).error());
            at->second = *v;
        }
        if (e.version != at->second.next())
            return fail(ErrorKind::validation, "imported event of stream '{}' has version {}; the stream is at {}",
                        e.stream, e.version, at->second);
        at->second = e.version;
        expected = e.position.next();
    }
    if (!open_commit.is_zero())
        return fail(ErrorKind::validation, "imported events end in the middle of the commit ending at position {}",
                    open_commit);
    return {};
}

} // namespace detail

} // namespace eventcore
