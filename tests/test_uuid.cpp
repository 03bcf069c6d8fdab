#include <eventcore/command_id.hpp>
#include <eventcore/uuid.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

using eventcore::Uuid;

TEST_CASE("v7 ids carry version, variant and the current time", "[uuid]") {
    const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const Uuid id = Uuid::v7();
    CHECK(id.version() == 7);
    CHECK((id.bytes()[8] & 0xC0) == 0x80); // RFC 9562 variant
    CHECK(id.unix_ms() >= static_cast<std::uint64_t>(before));
    CHECK(id.unix_ms() <= static_cast<std::uint64_t>(before) + 5'000);
    CHECK_FALSE(id.is_nil());
    CHECK(Uuid{}.is_nil());
}

TEST_CASE("v7 ids strictly increase within the process, across threads", "[uuid]") {
    constexpr int threads = 4;
    constexpr int per_thread = 20'000;
    std::vector<std::vector<Uuid>> made(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            auto& mine = made[static_cast<std::size_t>(t)];
            mine.reserve(per_thread);
            for (int i = 0; i < per_thread; ++i) mine.push_back(Uuid::v7());
        });
    }
    for (auto& w : workers) w.join();
    std::vector<Uuid> all;
    for (const auto& mine : made) {
        CHECK(std::ranges::is_sorted(mine, std::less<>{}));
        CHECK(std::ranges::adjacent_find(mine) == mine.end());
        all.insert(all.end(), mine.begin(), mine.end());
    }
    std::ranges::sort(all);
    CHECK(std::ranges::adjacent_find(all) == all.end()); // no duplicates anywhere
}

TEST_CASE("uuids format and parse in canonical form", "[uuid]") {
    const Uuid id = Uuid::v7();
    const auto text = fmt::format("{}", id);
    CHECK(text.size() == 36);
    CHECK(text[14] == '7');
    auto back = Uuid::parse(text);
    REQUIRE(back);
    CHECK(*back == id);
    auto upper = Uuid::parse("0190A5C1-27D3-7ABC-8DEF-0123456789AB");
    REQUIRE(upper);
    CHECK(fmt::format("{}", *upper) == "0190a5c1-27d3-7abc-8def-0123456789ab");
    for (std::string_view bad : {"", "0190a5c1-27d3-7abc-8def-0123456789a", "0190a5c1x27d3-7abc-8def-0123456789ab",
                                 "0190a5c1-27d3-7abc-8def-0123456789ag"}) {
        auto parsed = Uuid::parse(bad);
        REQUIRE_FALSE(parsed);
        CHECK(parsed.error().kind() == eventcore::ErrorKind::validation);
        CHECK_THAT(parsed.error().message(), Catch::Contains("invalid UUID"));
    }
}

TEST_CASE("name-based ids are RFC 9562 version 5, stable for a key", "[uuid]") {
    const auto dns = eventcore::Uuid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8").value();
    // RFC 9562, appendix A.4.
    CHECK(fmt::format("{}", eventcore::name_based_uuid(dns, "www.example.com")) == "2ed6657d-e927-568b-95e1-2665a8aea6a2");
    const auto url = eventcore::Uuid::parse("6ba7b811-9dad-11d1-80b4-00c04fd430c8").value();
    CHECK(eventcore::name_based_uuid(url, "urn:eventcore:command-id") == eventcore::command_id_namespace);

    // Reference values from another implementation (Python's uuid.uuid5 in this namespace).
    CHECK(fmt::format("{}", eventcore::command_id_for("booking-42")) == "28a9d74c-877a-5da4-afdc-277de8406110");
    CHECK(fmt::format("{}", eventcore::command_id_for("")) == "680f9383-c8f2-5322-bc85-58d249e1ffc5");
    CHECK(fmt::format("{}", eventcore::command_id_for("r\xc3\xa9servation-7")) == "e1d8054c-1cef-531f-b84f-9be34bc8b26e");

    const auto id = eventcore::command_id_for("booking-42");
    CHECK(id.version() == 5);
    CHECK((id.bytes()[8] & 0xC0) == 0x80); // the RFC variant
    CHECK(eventcore::command_id_for("booking-42") == id);
    CHECK(eventcore::command_id_for("booking-43") != id);
}
