// Exact tests of ToolCallScanner: the events (sequence, kind, token index) of tag mode with
// multi-token and overlapping tags, and of json mode with strings, escapes, nesting, separators
// and code fences, over a small hand-made vocabulary.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "paste/errors.h"
#include "paste/tool_call_scanner.h"

namespace paste {
namespace {

using Event = std::tuple<int64_t, int, int32_t>;  // seq, kind, token index
using Events = std::vector<Event>;
constexpr int kStart = static_cast<int>(ScanEventKind::kCallStart);
constexpr int kDone = static_cast<int>(ScanEventKind::kCallComplete);

Events ScanOne(ToolCallScanner& sc, const std::vector<int64_t>& seqs,
               const std::vector<std::vector<int32_t>>& toks) {
  std::vector<int32_t> offsets{0}, flat;
  for (const auto& t : toks) {
    flat.insert(flat.end(), t.begin(), t.end());
    offsets.push_back(static_cast<int32_t>(flat.size()));
  }
  ScanEvents ev;
  sc.Scan(seqs.data(), static_cast<int32_t>(seqs.size()), offsets.data(), flat.data(), &ev);
  Events out;
  for (size_t i = 0; i < ev.seq_ids.size(); ++i) {
    out.emplace_back(ev.seq_ids[i], ev.kinds[i], ev.token_indices[i]);
  }
  return out;
}

ScannerConfig TagConfig(std::vector<int32_t> start, std::vector<int32_t> end) {
  ScannerConfig c;
  c.mode = ScanMode::kTag;
  c.start_tag = std::move(start);
  c.end_tag = std::move(end);
  return c;
}

TEST(ToolCallScannerTag, SingleTokenTagsAcrossSteps) {
  ToolCallScanner sc(TagConfig({100}, {101}));
  sc.AddSequence(1);
  sc.AddSequence(2);
  EXPECT_EQ(ScanOne(sc, {1, 2}, {{5, 100, 7}, {100}}),
            (Events{{1, kStart, 1}, {2, kStart, 0}}));
  EXPECT_TRUE(sc.InCall(1));
  EXPECT_EQ(ScanOne(sc, {1, 2}, {{8, 101, 100}, {9}}),
            (Events{{1, kDone, 4}, {1, kStart, 5}}));
  EXPECT_EQ(ScanOne(sc, {2}, {{101}}), (Events{{2, kDone, 2}}));
  EXPECT_EQ(sc.NumTokens(1), 6);
  EXPECT_FALSE(sc.InCall(2));
}

TEST(ToolCallScannerTag, MultiTokenTagsWithOverlappingPrefixes) {
  // start tag "< < t", end tag "< / t": a run "< < < t" must still find the start tag.
  ToolCallScanner sc(TagConfig({1, 1, 2}, {1, 3, 2}));
  sc.AddSequence(7);
  EXPECT_EQ(ScanOne(sc, {7}, {{1, 1}}), Events{});
  EXPECT_EQ(ScanOne(sc, {7}, {{1, 2}}), (Events{{7, kStart, 3}}));
  // A start tag inside the call is ordinary content; the end tag completes at its last token.
  EXPECT_EQ(ScanOne(sc, {7}, {{1, 1, 2, 1, 3}}), Events{});
  EXPECT_EQ(ScanOne(sc, {7}, {{2}}), (Events{{7, kDone, 9}}));
}

TEST(ToolCallScannerTag, ResetAndBadInput) {
  EXPECT_THROW(ToolCallScanner(TagConfig({}, {1})), InvalidArgument);
  ToolCallScanner sc(TagConfig({100}, {101}));
  sc.AddSequence(1);
  EXPECT_EQ(ScanOne(sc, {1}, {{100}}), (Events{{1, kStart, 0}}));
  EXPECT_THROW(ScanOne(sc, {1, 9}, {{101}, {1}}), UnknownSequence);
  EXPECT_THROW(ScanOne(sc, {1}, {{-3}}), InvalidArgument);
  EXPECT_TRUE(sc.InCall(1));  // nothing was consumed by the failed scans
  EXPECT_EQ(sc.NumTokens(1), 1);
  sc.Reset(1);
  EXPECT_FALSE(sc.InCall(1));
  EXPECT_EQ(ScanOne(sc, {1}, {{101, 100}}), (Events{{1, kStart, 1}}));
  EXPECT_THROW(sc.AddSequence(1), InvalidArgument);
}

// Vocabulary for json mode: token id = index in this list.
const std::vector<std::string> kVocab = {
    "Sure.",     // 0
    "\n",        // 1
    "```",       // 2
    "json\n",    // 3
    "{\"",       // 4
    "name",      // 5
    "\": \"",    // 6
    "f",         // 7
    "\", \"",    // 8
    "arguments", // 9
    "\": {",     // 10
    "q",         // 11
    "}",         // 12
    "}}",        // 13
    "\\\"",      // 14  escaped quote inside a string
    "\"",        // 15
    " ",         // 16
    "python\n",  // 17
    "{",         // 18
    "}\n{",      // 19
    ", ",        // 20
    "[",         // 21
    "\\\\",      // 22  escaped backslash
};

void LoadVocab(ToolCallScanner& sc) {
  std::vector<int64_t> offsets{0};
  std::vector<uint8_t> bytes;
  for (const auto& s : kVocab) {
    bytes.insert(bytes.end(), s.begin(), s.end());
    offsets.push_back(static_cast<int64_t>(bytes.size()));
  }
  sc.SetVocabulary(offsets.data(), static_cast<int32_t>(kVocab.size()), bytes.data());
}

ToolCallScanner JsonScanner(bool fences, bool anywhere = false) {
  ScannerConfig c;
  c.mode = ScanMode::kJson;
  c.code_fences = fences;
  c.json_start_anywhere = anywhere;
  ToolCallScanner sc(c);
  LoadVocab(sc);
  return sc;
}

TEST(ToolCallScannerJson, BareObjectWithNestedBracesAndBraceInString) {
  ToolCallScanner sc = JsonScanner(false);
  sc.AddSequence(1);
  // {"name": "f", "arguments": {"q": "}"}}   -- the '}' inside the string does not count
  std::vector<int32_t> call = {4, 5, 6, 7, 8, 9, 10, 15, 11, 6, 12, 15, 13};
  std::vector<int32_t> toks = {16, 1};  // leading whitespace is allowed
  toks.insert(toks.end(), call.begin(), call.end());
  EXPECT_EQ(ScanOne(sc, {1}, {toks}), (Events{{1, kStart, 2}, {1, kDone, 14}}));
}

TEST(ToolCallScannerJson, EscapesInsideStrings) {
  ToolCallScanner sc = JsonScanner(false);
  sc.AddSequence(1);
  // {"q": "\"}"  } -> the escaped quote keeps the string open, so its '}' is content.
  EXPECT_EQ(ScanOne(sc, {1}, {{4, 11, 6, 14, 12, 15}}), (Events{{1, kStart, 0}}));
  EXPECT_EQ(ScanOne(sc, {1}, {{12}}), (Events{{1, kDone, 6}}));
  // {"q": "\\"} -> an escaped backslash does not escape the closing quote.
  sc.Reset(1);
  EXPECT_EQ(ScanOne(sc, {1}, {{4, 11, 6, 22, 15, 12}}),
            (Events{{1, kStart, 0}, {1, kDone, 5}}));
}

TEST(ToolCallScannerJson, ProseBeforeBraceIsNotACallUnlessAnywhere) {
  ToolCallScanner sc = JsonScanner(false);
  sc.AddSequence(1);
  EXPECT_EQ(ScanOne(sc, {1}, {{0, 16, 18, 12}}), Events{});
  ToolCallScanner any = JsonScanner(false, /*anywhere=*/true);
  any.AddSequence(1);
  EXPECT_EQ(ScanOne(any, {1}, {{0, 16, 18, 12}}), (Events{{1, kStart, 2}, {1, kDone, 3}}));
}

TEST(ToolCallScannerJson, BackToBackCallsAndListSeparators) {
  ToolCallScanner sc = JsonScanner(false);
  sc.AddSequence(3);
  // [ {} , {}\n{ }   -> token 19 "}\n{" closes one call and opens the next
  EXPECT_EQ(ScanOne(sc, {3}, {{21, 18, 12, 20, 18, 19, 12}}),
            (Events{{3, kStart, 1},
                    {3, kDone, 2},
                    {3, kStart, 4},
                    {3, kDone, 5},
                    {3, kStart, 5},
                    {3, kDone, 6}}));
}

TEST(ToolCallScannerJson, CodeFences) {
  ToolCallScanner sc = JsonScanner(true);
  sc.AddSequence(1);
  sc.AddSequence(2);
  // seq 1: Sure.\n```json\n{"q"}\n```  then prose '{' after the fence is not a call.
  // seq 2: ```python\n{}``` never holds a call.
  EXPECT_EQ(ScanOne(sc, {1, 2}, {{0, 1, 2, 3, 4, 11, 15, 12, 1, 2, 0, 18}, {2, 17, 18, 12, 2}}),
            (Events{{1, kStart, 4}, {1, kDone, 7}}));
  // Bare ``` fence counts as json.
  sc.Reset(2);
  EXPECT_EQ(ScanOne(sc, {2}, {{0, 2, 1, 18, 12}}), (Events{{2, kStart, 3}, {2, kDone, 4}}));
  // Without fence awareness the prose makes the fenced '{' plain text.
  ToolCallScanner plain = JsonScanner(false);
  plain.AddSequence(1);
  EXPECT_EQ(ScanOne(plain, {1}, {{0, 1, 2, 3, 4, 11, 15, 12}}), Events{});
}

TEST(ToolCallScannerJson, RejectsTokensOutsideTheVocabulary) {
  ScannerConfig c;
  c.mode = ScanMode::kJson;
  ToolCallScanner sc(c);
  sc.AddSequence(1);
  EXPECT_THROW(ScanOne(sc, {1}, {{0}}), InvalidArgument);  // no vocabulary yet
  LoadVocab(sc);
  EXPECT_THROW(ScanOne(sc, {1}, {{18, 999}}), InvalidArgument);
  EXPECT_FALSE(sc.InCall(1));
  EXPECT_EQ(sc.NumTokens(1), 0);
}

}  // namespace
}  // namespace paste
