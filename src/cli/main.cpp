// `eventcore`: inspect and operate event stores on SQLite and PostgreSQL. See docs/cli.md.

#include "commands.hpp"

#include <eventcore/postgres/database.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace {

using namespace eventcore::cli;

/// One line, never more: newlines from nested messages are folded.
void complain(std::string message) {
    std::string line;
    for (const char c : message) {
        const bool blank = c == '\n' || c == '\r' || c == '\t' || c == ' ';
        if (blank && (line.empty() || line.back() == ' ')) continue;
        line += blank ? ' ' : c;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    message = std::move(line);
    std::fflush(stdout);
    std::fprintf(stderr, "eventcore: %s\n", message.c_str());
}

/// For counts, positions and versions: digits only. CLI11 reads "-1" into an unsigned option as
/// the largest number there is.
auto whole_number() -> CLI::Validator {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) return {};
            return "must be a whole number, 0 or more, not '" + text + "'";
        },
        "N", "whole number");
}

auto run(int argc, char** argv) -> int {
    CLI::App app{"Inspect and operate eventcore event stores on SQLite and PostgreSQL.", "eventcore"};
    app.set_version_flag("--version", std::string("eventcore ") + EVENTCORE_VERSION);
    app.require_subcommand(1);
    app.fallthrough(); // global options may come after the command too

    std::string store_text;
    Global g;
    app.add_option("--store", store_text, "sqlite:PATH or postgres:CONNINFO (also $EVENTCORE_STORE)")
        ->envname("EVENTCORE_STORE");
    app.add_option("--schema", g.store.schema, "PostgreSQL schema of the store (also $EVENTCORE_SCHEMA)")
        ->envname("EVENTCORE_SCHEMA")
        ->capture_default_str();
    app.add_flag("--json", g.json, "Machine-readable output");

    StreamsOptions streams;
    auto* streams_cmd = app.add_subcommand("streams", "List streams with their versions and last write times");
    streams_cmd->add_option("--prefix", streams.prefix, "Only streams whose id starts with this");
    streams_cmd->add_option("--pattern", streams.pattern, "Only streams matching this glob (* ? [...])");
    streams_cmd->add_option("--after", streams.after, "Start after this stream id (the next page)");
    streams_cmd->add_option("--limit", streams.limit, "At most this many streams")->check(whole_number());

    ReadOptions read;
    auto* read_cmd = app.add_subcommand("read", "Show the events of one stream");
    read_cmd->add_option("stream", read.stream, "The stream id")->required();
    read_cmd->add_option("--from", read.from, "First version to show")->check(whole_number())->capture_default_str();
    read_cmd->add_option("--limit", read.limit, "At most this many events")->check(whole_number());

    TailOptions tail;
    auto* tail_cmd = app.add_subcommand("tail", "Show the global log, optionally following new commits");
    tail_cmd->add_option("--from", tail.from, "Show events after this position")->check(whole_number())->capture_default_str();
    tail_cmd->add_option("--prefix", tail.prefix, "Only streams whose id starts with this");
    tail_cmd->add_option("--pattern", tail.pattern, "Only streams matching this glob (* ? [...])");
    tail_cmd->add_option("--type", tail.types, "Only events of this type (repeatable)");
    tail_cmd->add_flag("-f,--follow", tail.follow, "Wait for new commits and show them");
    tail_cmd->add_option("--limit", tail.limit, "Stop after this many events")->check(whole_number());

    auto* stats_cmd = app.add_subcommand("stats", "Events, streams, size, counts per type and per day");
    auto* verify_cmd = app.add_subcommand("verify", "Check the store's integrity; exit code 1 when it is not sound");

    ExportOptions exporting;
    auto* export_cmd = app.add_subcommand("export", "Write the log as JSON lines");
    export_cmd->add_option("-o,--output", exporting.output, "File to write (default: standard output)");
    export_cmd->add_option("--from", exporting.from, "Export events after this position")->check(whole_number())->capture_default_str();

    ImportOptions importing;
    auto* import_cmd = app.add_subcommand("import", "Read a JSON lines export into the store, exactly as exported");
    import_cmd->add_option("file", importing.input, "File to read (default: standard input)");
    import_cmd->add_flag("--allow-non-empty,--force", importing.allow_non_empty,
                         "Import into a store that has events (the file must continue its log)");

    auto* migrate_cmd = app.add_subcommand("migrate", "Create the store's schema, or bring it up to date");

    ProjectionsOptions projections;
    auto* projections_cmd = app.add_subcommand("projections", "List projection checkpoints and their lag");
    auto* reset_cmd = projections_cmd->add_subcommand("reset", "Move a stopped projection's checkpoint back");
    std::string reset_name;
    reset_cmd->add_option("name", reset_name, "The projection")->required();
    std::uint64_t reset_to = 0;
    auto* to_option = reset_cmd->add_option("--to", reset_to, "Position to set (default: the beginning)")->check(whole_number());

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        complain(fmt::format("{} (see eventcore --help)", e.what()));
        return exit_usage;
    }

    if (store_text.empty()) {
        complain("no store: pass --store sqlite:PATH or --store postgres:CONNINFO, or set EVENTCORE_STORE");
        return exit_usage;
    }
    auto spec = parse_store(store_text);
    if (!spec) {
        complain(spec.error().message());
        return exit_usage;
    }
    spec->schema = g.store.schema;
    g.store = std::move(*spec);

    if (*streams_cmd) return run_streams(g, streams);
    if (*read_cmd) return run_read(g, read);
    if (*tail_cmd) return run_tail(g, tail);
    if (*stats_cmd) return run_stats(g);
    if (*verify_cmd) return run_verify(g);
    if (*export_cmd) return run_export(g, exporting);
    if (*import_cmd) return run_import(g, importing);
    if (*migrate_cmd) return run_migrate(g);
    if (*projections_cmd) {
        if (*reset_cmd) {
            projections.reset = reset_name;
            if (to_option->count() > 0) projections.to = reset_to;
        }
        return run_projections(g, projections);
    }
    return exit_usage;
}

} // namespace

auto main(int argc, char** argv) -> int {
    try {
        return run(argc, argv);
    } catch (const Failure& f) {
        complain(f.message);
        return f.code;
    } catch (const std::exception& e) {
        complain(e.what());
        return exit_store;
    }
}
