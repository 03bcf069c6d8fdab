#include <eventcore/detail/append_only_list.hpp>

#include <catch2/catch.hpp>

#include <vector>

using eventcore::detail::AppendOnlyList;

namespace {
auto walk(const AppendOnlyList<int>& list, std::size_t from, std::size_t to) -> std::vector<int> {
    std::vector<int> out;
    for (auto c = list.cursor(from, to); !c.done(); c.advance()) out.push_back(c.peek());
    return out;
}
auto iota(int from, int to) -> std::vector<int> {
    std::vector<int> out;
    for (int i = from; i < to; ++i) out.push_back(i);
    return out;
}
} // namespace

TEST_CASE("an append-only list walks any range across chunk boundaries", "[append_only_list]") {
    AppendOnlyList<int> list;
    CHECK(list.empty());
    CHECK(walk(list, 0, 0).empty());
    for (int i = 0; i < 100; ++i) list.push_back(i);
    CHECK(list.size() == 100);
    // Chunks hold 4, 8, 16, 32, 64: boundaries at 4, 12, 28, 60.
    CHECK(walk(list, 0, 100) == iota(0, 100));
    CHECK(walk(list, 3, 5) == iota(3, 5));
    CHECK(walk(list, 4, 12) == iota(4, 12));
    CHECK(walk(list, 11, 29) == iota(11, 29));
    CHECK(walk(list, 60, 61) == iota(60, 61));
    CHECK(walk(list, 99, 100) == iota(99, 100));
    CHECK(walk(list, 50, 50).empty());
    CHECK(walk(list, 70, 40).empty());
}

TEST_CASE("elements never move as the list grows", "[append_only_list]") {
    AppendOnlyList<int> list;
    list.push_back(7);
    const int* first = &list.cursor(0, 1).peek();
    for (int i = 0; i < 1000; ++i) list.push_back(i);
    CHECK(&list.cursor(0, 1).peek() == first);
    CHECK(*first == 7);
}

TEST_CASE("pop_back takes back elements across chunks and the space is reused", "[append_only_list]") {
    AppendOnlyList<int> list;
    for (int i = 0; i < 13; ++i) list.push_back(i); // 4 + 8 + 1: the third chunk has one element
    list.pop_back();                                 // back into the second chunk
    list.pop_back();
    CHECK(list.size() == 11);
    CHECK(walk(list, 0, 11) == iota(0, 11));
    for (int i = 11; i < 40; ++i) list.push_back(i); // refills, reusing the emptied chunk
    CHECK(walk(list, 0, 40) == iota(0, 40));
    while (!list.empty()) list.pop_back();
    list.push_back(42);
    CHECK(walk(list, 0, 1) == std::vector<int>{42});
}
