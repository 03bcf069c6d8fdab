#pragma once
// The JSON-lines form of events (docs/cli.md, "Export format"): what `export` writes, `import`
// reads, and `read --json` / `tail --json` print.

#include <eventcore/store_admin.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace eventcore::cli {

/// One event as a JSON object on one line (no newline). `commit_last` is written as `commit`
/// when known. The payload goes in verbatim when it is JSON on one line (so its bytes survive a
/// round trip), compacted when it is JSON over several lines, and as `payload_base64` when it
/// is not JSON at all.
[[nodiscard]] auto event_json(const StoredEvent& event, std::optional<GlobalPosition> commit_last) -> std::string;

/// Reads what `event_json` writes; a missing `commit` means the event is a commit of its own.
[[nodiscard]] auto parse_event_json(std::string_view line) -> Result<ArchivedEvent>;

/// The payload for people: compact JSON, or `<N bytes, not JSON>`.
[[nodiscard]] auto payload_for_display(std::string_view payload) -> std::string;

/// Whether the payload is one JSON text.
[[nodiscard]] auto is_json(std::string_view payload) -> bool;

} // namespace eventcore::cli
