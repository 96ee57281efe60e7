// PrefixTrie: the token-id trie of one sequence's candidate calls.
//
// A candidate is a predicted call rendered in the model's call format and tokenised (Python
// does both); the trie holds every live candidate so that the decoded tokens can be followed
// one edge per token. Nodes live in one flat array (node id = index, root = 0); edges live in
// one flat open-addressing hash table keyed by (parent node, token id), and each edge also
// says whether its child ends a candidate, so following a token costs one probe of one table
// (usually one cache line) and nothing else:
//
//   candidates  7: [5 9 2]   8: [5 9 4]   9: [6]
//
//   nodes_  id:      0      1      2      3      4      5
//           token:   -      5      9      2      4      6
//           parent:  -      0      1      2      2      0
//           num_live 3      2      2      1      1      1
//   edges_  (0,5)->1  (1,9)->2  (2,2)->3 end  (2,4)->4 end  (0,6)->5 end
//   ends_   3: {7}  4: {8}  5: {9}
//
// num_live counts the candidates whose path passes through (or ends at) the node. Insert adds
// one along the path; Remove walks from the candidate's end node to the root through the
// parent links, subtracting one, and frees the nodes that reach zero (their edge is erased by
// backward-shift deletion, no tombstones, and the id goes to a free list for reuse), so both are
// O(candidate length). A node is alive iff num_live > 0 (the root always is). Identical
// candidates share their end node; the earliest inserted one is the node's candidate.
//
// Not thread-safe: owned by one TrieMatcher, driven by the engine thread.
#ifndef PASTE_PREFIX_TRIE_H_
#define PASTE_PREFIX_TRIE_H_

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace paste {

class PrefixTrie {
 public:
  static constexpr int32_t kRoot = 0;
  static constexpr int32_t kNoNode = -1;
  static constexpr int64_t kNoCandidate = -1;

  PrefixTrie();

  // Adds candidate cand_id (>= 0, not present) with tokens[0:num_tokens), num_tokens >= 1.
  // Returns its end node. Throws InvalidArgument (state unchanged) on bad input.
  int32_t Insert(int64_t cand_id, const int32_t* tokens, int32_t num_tokens);
  // Removes cand_id; false if it is not present.
  bool Remove(int64_t cand_id);
  bool Contains(int64_t cand_id) const { return end_node_.count(cand_id) != 0; }

  // The child of `node` along `token`, or kNoNode. *ends_candidate tells whether the child is
  // the end of some candidate (then CandidateAt(child) names it).
  int32_t Step(int32_t node, int32_t token, bool* ends_candidate) const {
    const Edge* e = FindEdge(EdgeKey(node, token));
    if (e == nullptr) return kNoNode;
    *ends_candidate = e->ends_candidate != 0;
    return e->child;
  }
  int32_t Child(int32_t node, int32_t token) const {
    bool ends;
    return Step(node, token, &ends);
  }
  // Earliest inserted live candidate ending exactly at `node`, or kNoCandidate.
  int64_t CandidateAt(int32_t node) const {
    auto it = ends_.find(node);
    return it == ends_.end() ? kNoCandidate : it->second.front();
  }
  int32_t NumLive(int32_t node) const { return nodes_[static_cast<size_t>(node)].num_live; }
  bool IsAlive(int32_t node) const { return node == kRoot || NumLive(node) > 0; }
  int32_t Depth(int32_t node) const { return nodes_[static_cast<size_t>(node)].depth; }

  int32_t num_candidates() const { return static_cast<int32_t>(end_node_.size()); }
  // Live nodes, root included.
  int32_t num_nodes() const {
    return static_cast<int32_t>(nodes_.size() - free_nodes_.size());
  }
  void Clear();

 private:
  struct Node {
    int32_t token = -1;
    int32_t parent = kNoNode;
    int32_t depth = 0;
    int32_t num_live = 0;
  };
  struct Edge {
    uint64_t key;  // kEmptyKey when the cell is free
    int32_t child;
    int32_t ends_candidate;
  };
  static constexpr uint64_t kEmptyKey = ~0ULL;

  static uint64_t EdgeKey(int32_t node, int32_t token) {
    return static_cast<uint64_t>(static_cast<uint32_t>(node)) << 32 |
           static_cast<uint32_t>(token);
  }
  size_t HomeCell(uint64_t key) const {
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> edge_shift_);
  }
  const Edge* FindEdge(uint64_t key) const {
    size_t mask = edges_.size() - 1;
    for (size_t i = HomeCell(key);; i = (i + 1) & mask) {
      const Edge& e = edges_[i];
      if (e.key == key) return &e;
      if (e.key == kEmptyKey) return nullptr;
    }
  }
  Edge* FindEdge(uint64_t key) {
    return const_cast<Edge*>(static_cast<const PrefixTrie*>(this)->FindEdge(key));
  }
  void AddEdge(uint64_t key, int32_t child);
  void EraseEdge(uint64_t key);
  void GrowEdges();
  int32_t NewNode(int32_t parent, int32_t token);

  std::vector<Node> nodes_;
  std::vector<int32_t> free_nodes_;
  std::vector<Edge> edges_;  // power-of-two size, load <= 1/2, linear probing
  int32_t edge_shift_ = 0;   // 64 - log2(edges_.size())
  size_t num_edges_ = 0;
  std::unordered_map<int32_t, std::vector<int64_t>> ends_;  // node -> candidates, insert order
  std::unordered_map<int64_t, int32_t> end_node_;           // candidate id -> end node
};

}  // namespace paste

#endif  // PASTE_PREFIX_TRIE_H_
