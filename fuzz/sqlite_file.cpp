// Fuzzes opening arbitrary bytes as an SQLite store file: the bytes are written to a file, the
// store opened, everything in it read, and one event appended. Each step may fail, with an
// error; none may crash or hang.
//
// With EVENTCORE_FUZZ_SEED_DIR set, it first writes a valid store file there (script/fuzz uses
// it as the seed corpus, so that mutations start from a real database).

#include <eventcore/sqlite_event_store.hpp>
#include <eventcore/stream_ops.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace fuzz {

struct Opened {
    std::string owner;
};
struct Changed {
    std::int64_t amount;
};
EVENTCORE_EVENT(Opened, owner)
EVENTCORE_EVENT(Changed, amount)
using Event = std::variant<Opened, Changed>;
using Store = eventcore::SqliteEventStore<Event>;

auto path() -> const std::string& {
    static const std::string p =
        (std::filesystem::temp_directory_path() / ("eventcore-fuzz-" + std::to_string(::getpid()) + ".db")).string();
    return p;
}

void remove_files(const std::string& file) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::remove((file + suffix).c_str());
}

void write_seed(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    const auto file = (dir / "valid.db").string();
    remove_files(file);
    {
        auto store = Store::open(file).value();
        const auto a = eventcore::StreamId::from_static("account-1");
        const auto b = eventcore::StreamId::from_static("account-2");
        (void)eventcore::append_to_stream(store, a, eventcore::ExpectedVersion::no_stream(), {Opened{"ann"}, Changed{5}});
        (void)eventcore::append_to_stream(store, b, eventcore::ExpectedVersion::no_stream(), {Opened{"bob"}},
                                          eventcore::Uuid::v7());
        (void)store.save_checkpoint("balances", eventcore::GlobalPosition{2});
    }
    // The seed is the main file alone: the WAL was folded into it when the store closed.
    for (const char* suffix : {"-wal", "-shm"}) std::remove((file + suffix).c_str());
}

} // namespace fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (const char* dir = std::getenv("EVENTCORE_FUZZ_SEED_DIR")) fuzz::write_seed(dir);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& file = fuzz::path();
    fuzz::remove_files(file);
    {
        std::ofstream out(file, std::ios::binary);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    {
        auto store = fuzz::Store::open(file, {.busy_timeout = std::chrono::milliseconds{100}});
        if (!store) {
            (void)fmt::format("{}", store.error());
            fuzz::remove_files(file);
            return 0;
        }
        std::set<eventcore::StreamId> streams;
        auto page = store->read_all({}, [&](const eventcore::RecordedEvent<fuzz::Event>& e) { streams.insert(e.stream); });
        if (!page) (void)fmt::format("{}", page.error());
        const std::vector<eventcore::StreamId> ids(streams.begin(), streams.end());
        (void)store->read_streams(ids, [](const auto&) {});
        for (const auto& id : ids) (void)store->read_stream(id, eventcore::StreamVersion{1}, [](const auto&) {});
        (void)store->head();
        (void)store->checkpoints();
        (void)store->load_checkpoint("balances");
        (void)store->find_commit(eventcore::Uuid::v7());
        (void)eventcore::append_to_stream(*store, eventcore::StreamId::from_static("account-1"),
                                          eventcore::ExpectedVersion::any(), {fuzz::Changed{1}});
    }
    fuzz::remove_files(file);
    return 0;
}
