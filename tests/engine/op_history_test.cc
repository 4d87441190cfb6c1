// OpHistory (the engine's retained operations, R9) against a std::map model:
// dense in-order seq_nos, reordering, holes, far-away and negative seq_nos,
// erasures from both ends, and arena compaction.
#include "node/engine/op_history.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace seqsim {
namespace {

using Model = std::map<int64_t, std::string>;
using Entries = std::vector<std::pair<int64_t, std::string>>;

Entries Ascending(const OpHistory& history) {
  Entries entries;
  history.ForEach([&](int64_t seq_no, std::string_view bytes) {
    entries.emplace_back(seq_no, std::string(bytes));
    return true;
  });
  return entries;
}

void ExpectSame(const OpHistory& history, const Model& model) {
  ASSERT_EQ(history.size(), model.size());
  ASSERT_EQ(history.empty(), model.empty());
  const Entries all(model.begin(), model.end());
  ASSERT_EQ(Ascending(history), all);
  Entries descending;
  history.ForEachDescending([&](int64_t seq_no, std::string_view bytes) {
    descending.emplace_back(seq_no, std::string(bytes));
    return true;
  });
  ASSERT_EQ(descending, Entries(model.rbegin(), model.rend()));
  for (const auto& [seq_no, bytes] : model) {
    ASSERT_EQ(history.Find(seq_no), std::optional<std::string_view>(bytes))
        << seq_no;
  }
}

TEST(OpHistory, MatchesAnOrderedMapUnderRandomOperations) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 40; ++round) {
    OpHistory history;
    Model model;
    int64_t next = round % 3 == 0 ? 0 : static_cast<int64_t>(rng() % 5000);
    for (int step = 0; step < 3000; ++step) {
      const uint64_t dice = rng() % 100;
      if (dice < 60) {
        // Mostly the next seq_no, sometimes a little ahead or behind.
        int64_t seq_no = next;
        const uint64_t shape = rng() % 20;
        if (shape == 0) seq_no = next + static_cast<int64_t>(rng() % 40);
        if (shape == 1) seq_no = next - static_cast<int64_t>(rng() % 40);
        if (shape == 2)
          seq_no = next + 100000 + static_cast<int64_t>(rng() % 9);
        if (shape == 3) seq_no = -1 - static_cast<int64_t>(rng() % 5);
        if (shape == 4) seq_no = static_cast<int64_t>(rng() % 3);
        // Beyond what the window takes while it is small; it reaches them as
        // it grows.
        if (shape == 5)
          seq_no = next + 1100 + static_cast<int64_t>(rng() % 2000);
        if (seq_no == next) ++next;
        // Sizes up to 2 KiB so that garbage passes the compaction threshold.
        std::string bytes(rng() % 2048, static_cast<char>('a' + rng() % 26));
        bytes += std::to_string(seq_no) + "/" + std::to_string(step);
        history.Put(seq_no, bytes);
        model[seq_no] = bytes;
      } else if (dice < 66) {
        const int64_t bound = next - static_cast<int64_t>(rng() % 200);
        history.EraseAtOrBelow(bound);
        model.erase(model.begin(), model.upper_bound(bound));
      } else if (dice < 72) {
        const int64_t above = next - static_cast<int64_t>(rng() % 300);
        const uint64_t modulus = 1 + rng() % 4;
        std::vector<int64_t> seen;
        history.EraseAboveIf(
            above, [&](int64_t seq_no, std::string_view bytes) {
              seen.push_back(seq_no);
              EXPECT_EQ(model.at(seq_no), bytes);
              return static_cast<uint64_t>(seq_no) % modulus == 0;
            });
        std::vector<int64_t> expected_seen;
        for (auto it = model.upper_bound(above); it != model.end();) {
          expected_seen.push_back(it->first);
          it = static_cast<uint64_t>(it->first) % modulus == 0 ? model.erase(it)
                                                               : std::next(it);
        }
        ASSERT_EQ(seen, expected_seen);
      } else if (dice < 78) {
        const int64_t above = next - static_cast<int64_t>(rng() % 300);
        Entries got;
        EXPECT_TRUE(history.ForEachAbove(
            above, [&](int64_t seq_no, std::string_view b) {
              got.emplace_back(seq_no, std::string(b));
              return true;
            }));
        ASSERT_EQ(got, Entries(model.upper_bound(above), model.end()));
        // Stopping early stops.
        size_t calls = 0;
        const bool all = history.ForEachAbove(
            above, [&](int64_t, std::string_view) { return ++calls < 3; });
        EXPECT_EQ(calls, std::min<size_t>(3, got.size()));
        EXPECT_EQ(all, got.size() < 3);
      } else if (dice < 79) {
        history.clear();
        model.clear();
      } else {
        const int64_t seq_no = next - static_cast<int64_t>(rng() % 100);
        auto it = model.find(seq_no);
        ASSERT_EQ(history.Find(seq_no),
                  it == model.end()
                      ? std::nullopt
                      : std::optional<std::string_view>(it->second));
      }
      if (step % 250 == 0) ExpectSame(history, model);
    }
    ExpectSame(history, model);
  }
}

TEST(OpHistory, FarSeqNosDoNotGrowTheWindow) {
  OpHistory history;
  history.Put(0, "a");
  history.Put(int64_t{1} << 40, "far");
  history.Put(1, "b");
  history.Put(std::numeric_limits<int64_t>::max(), "max");
  history.Put(std::numeric_limits<int64_t>::min(), "min");
  EXPECT_EQ(Ascending(history),
            (Entries{{std::numeric_limits<int64_t>::min(), "min"},
                     {0, "a"},
                     {1, "b"},
                     {int64_t{1} << 40, "far"},
                     {std::numeric_limits<int64_t>::max(), "max"}}));
  history.EraseAtOrBelow(1);
  EXPECT_EQ(Ascending(history),
            (Entries{{int64_t{1} << 40, "far"},
                     {std::numeric_limits<int64_t>::max(), "max"}}));
  // The window, empty now, moves to the next seq_no it is given.
  history.Put(5000000, "c");
  history.Put(5000001, "d");
  EXPECT_EQ(history.Find(5000001), std::optional<std::string_view>("d"));
  EXPECT_EQ(history.size(), 4u);
}

}  // namespace
}  // namespace seqsim
