// ToolCallScanner: finds, token by token inside the engine's commit step, where a tool call
// starts and where it is complete in each sequence's output, so that a complete call can be
// dispatched at once (early dispatch) instead of at the end of the turn.
//
// One scanner serves one model format, in one of two modes:
//   tag   The call sits between a start tag and an end tag, each given as token ids (the
//         tokenised `<tool_call>` / `</tool_call>`). A tag may span several tokens; matching
//         is KMP over token ids, so overlapping partial tags are handled.
//   json  The call is a top-level JSON object. The scanner gets a vocabulary table once
//         (token id -> bytes) and runs a byte state machine: outside a call it decides whether
//         a '{' starts one, inside it tracks strings, escapes and brace depth; the call is
//         complete at the token holding the '}' that brings the depth back to 0.
//
//   json bytes:  Sure.\n```json\n{"name": "f", "arguments": {"q": "}"}}\n```
//   tokens:      |Sure.\n|```|json\n|{"|name|": "f", "|arguments|": {"|q|": "}"|}}|\n```|
//   events:                         ^ CALL_START                             ^ CALL_COMPLETE
//
// In json mode a '{' starts a call only where a call may stand: when the output so far holds
// only whitespace and the separators `[ , ; ]` (counting from the start or from the end of the
// previous call), or at the top of a ```json (or bare ```) fence when code_fences is on, or
// anywhere outside a call when json_start_anywhere is on. Other fences (```python) never hold
// calls. Token indices count the sequence's tokens from AddSequence or the last Reset, from 0;
// an event's index is the token that completed the start tag / end tag / opening '{' /
// closing '}'. One token can yield CALL_COMPLETE and then CALL_START.
//
// Not thread-safe: driven by the engine thread, one Scan per step.
#ifndef PASTE_TOOL_CALL_SCANNER_H_
#define PASTE_TOOL_CALL_SCANNER_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace paste {

enum class ScanMode : int8_t { kTag = 0, kJson = 1 };
enum class ScanEventKind : int8_t { kCallStart = 0, kCallComplete = 1 };

struct ScannerConfig {
  ScanMode mode = ScanMode::kTag;
  std::vector<int32_t> start_tag;    // tag mode: token ids of the start tag
  std::vector<int32_t> end_tag;      // tag mode: token ids of the end tag
  bool json_start_anywhere = false;  // json mode: any top-level '{' outside a call starts one
  bool code_fences = false;          // json mode: a '{' opening a ```json fence starts a call
};

// Events of one Scan, in input order (by sequence, then token).
struct ScanEvents {
  std::vector<int64_t> seq_ids;
  std::vector<int8_t> kinds;          // ScanEventKind
  std::vector<int32_t> token_indices;  // per-sequence token index
  void Clear() {
    seq_ids.clear();
    kinds.clear();
    token_indices.clear();
  }
};

class ToolCallScanner {
 public:
  // Throws InvalidArgument for an empty tag in tag mode.
  explicit ToolCallScanner(const ScannerConfig& config);

  const ScannerConfig& config() const { return config_; }

  // Json mode: the bytes of every token id, as a flat table: token t is
  // bytes[offsets[t]:offsets[t + 1]], offsets has num_tokens + 1 non-decreasing entries.
  void SetVocabulary(const int64_t* offsets, int32_t num_tokens, const uint8_t* bytes);
  int32_t vocab_size() const { return static_cast<int32_t>(vocab_offsets_.size()) - 1; }

  void AddSequence(int64_t seq_id);
  void RemoveSequence(int64_t seq_id);
  bool HasSequence(int64_t seq_id) const { return seqs_.count(seq_id) != 0; }
  // Forgets the sequence's scan state; its token indices restart at 0.
  void Reset(int64_t seq_id);
  bool InCall(int64_t seq_id) const;
  int32_t NumTokens(int64_t seq_id) const;

  // One engine step: seq_ids[i] produced tokens[token_offsets[i]:token_offsets[i+1]]. Input is
  // validated before anything changes. Events are appended to *out.
  void Scan(const int64_t* seq_ids, int32_t num_seqs, const int32_t* token_offsets,
            const int32_t* tokens, ScanEvents* out);

 private:
  enum class Fence : int8_t { kNone, kInfo, kJsonBody, kOtherBody };
  struct SeqScan {
    int32_t num_tokens = 0;
    bool in_call = false;
    int32_t tag_matched = 0;  // tag mode: tokens of the current tag matched (KMP state)
    // json mode
    int32_t depth = 0;
    bool in_string = false;
    bool escape = false;
    bool may_start = true;
    Fence fence = Fence::kNone;
    int32_t backticks = 0;
    std::string fence_info;
  };
  const SeqScan& Get(int64_t seq_id) const;
  SeqScan& Get(int64_t seq_id);
  // Feeds one token; appends its events.
  void FeedTag(int64_t seq_id, SeqScan& s, int32_t token, ScanEvents* out);
  void FeedJson(int64_t seq_id, SeqScan& s, int32_t token, ScanEvents* out);
  void FeedOutsideCall(SeqScan& s, uint8_t c);

  ScannerConfig config_;
  std::vector<int32_t> start_failure_, end_failure_;  // KMP failure functions of the tags
  std::vector<int64_t> vocab_offsets_{0};
  std::vector<uint8_t> vocab_bytes_;
  std::unordered_map<int64_t, SeqScan> seqs_;
};

}  // namespace paste

#endif  // PASTE_TOOL_CALL_SCANNER_H_
