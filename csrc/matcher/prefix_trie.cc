// Implementation notes for PrefixTrie (the node and edge layout is described in prefix_trie.h).
#include "paste/prefix_trie.h"

#include <algorithm>

#include "paste/errors.h"

namespace paste {

namespace {
constexpr size_t kMinEdgeCells = 16;
}  // namespace

PrefixTrie::PrefixTrie() { Clear(); }

void PrefixTrie::Clear() {
  nodes_.assign(1, Node{});
  free_nodes_.clear();
  edges_.assign(kMinEdgeCells, Edge{kEmptyKey, kNoNode, 0});
  edge_shift_ = 64 - 4;
  num_edges_ = 0;
  ends_.clear();
  end_node_.clear();
}

void PrefixTrie::GrowEdges() {
  std::vector<Edge> old;
  old.swap(edges_);
  edges_.assign(old.size() * 2, Edge{kEmptyKey, kNoNode, 0});
  edge_shift_ -= 1;
  size_t mask = edges_.size() - 1;
  for (const Edge& e : old) {
    if (e.key == kEmptyKey) continue;
    size_t i = HomeCell(e.key);
    while (edges_[i].key != kEmptyKey) i = (i + 1) & mask;
    edges_[i] = e;
  }
}

void PrefixTrie::AddEdge(uint64_t key, int32_t child) {
  if (2 * (num_edges_ + 1) > edges_.size()) GrowEdges();
  size_t mask = edges_.size() - 1;
  size_t i = HomeCell(key);
  while (edges_[i].key != kEmptyKey) i = (i + 1) & mask;
  edges_[i] = Edge{key, child, 0};
  ++num_edges_;
}

// Backward-shift deletion: later entries of the probe run move up into the hole unless their
// home cell lies cyclically after the hole, so lookups never need tombstones.
void PrefixTrie::EraseEdge(uint64_t key) {
  Edge* hole_edge = FindEdge(key);
  PASTE_CHECK(hole_edge != nullptr);
  size_t mask = edges_.size() - 1;
  size_t hole = static_cast<size_t>(hole_edge - edges_.data());
  for (size_t j = (hole + 1) & mask; edges_[j].key != kEmptyKey; j = (j + 1) & mask) {
    size_t home = HomeCell(edges_[j].key);
    // Distance from home to j versus from home to the hole (cyclic).
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      edges_[hole] = edges_[j];
      hole = j;
    }
  }
  edges_[hole] = Edge{kEmptyKey, kNoNode, 0};
  --num_edges_;
}

int32_t PrefixTrie::NewNode(int32_t parent, int32_t token) {
  int32_t id;
  if (!free_nodes_.empty()) {
    id = free_nodes_.back();
    free_nodes_.pop_back();
  } else {
    id = static_cast<int32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& n = nodes_[static_cast<size_t>(id)];
  n.token = token;
  n.parent = parent;
  n.depth = nodes_[static_cast<size_t>(parent)].depth + 1;
  n.num_live = 0;
  AddEdge(EdgeKey(parent, token), id);
  return id;
}

int32_t PrefixTrie::Insert(int64_t cand_id, const int32_t* tokens, int32_t num_tokens) {
  PASTE_CHECK_ARG(cand_id >= 0, "candidate ids must be non-negative, got ", cand_id);
  PASTE_CHECK_ARG(num_tokens >= 1, "candidate ", cand_id, " has no tokens");
  PASTE_CHECK_ARG(tokens != nullptr, "tokens must not be null");
  PASTE_CHECK_ARG(!Contains(cand_id), "candidate ", cand_id, " is already present");
  for (int32_t i = 0; i < num_tokens; ++i) {
    PASTE_CHECK_ARG(tokens[i] >= 0, "token ", i, " of candidate ", cand_id, " is negative");
  }
  int32_t node = kRoot;
  nodes_[kRoot].num_live += 1;
  for (int32_t i = 0; i < num_tokens; ++i) {
    int32_t child = Child(node, tokens[i]);
    if (child == kNoNode) child = NewNode(node, tokens[i]);
    nodes_[static_cast<size_t>(child)].num_live += 1;
    node = child;
  }
  const Node& end = nodes_[static_cast<size_t>(node)];
  FindEdge(EdgeKey(end.parent, end.token))->ends_candidate = 1;
  ends_[node].push_back(cand_id);
  end_node_.emplace(cand_id, node);
  return node;
}

bool PrefixTrie::Remove(int64_t cand_id) {
  auto it = end_node_.find(cand_id);
  if (it == end_node_.end()) return false;
  int32_t node = it->second;
  end_node_.erase(it);
  auto ends_it = ends_.find(node);
  PASTE_CHECK(ends_it != ends_.end());
  auto& ends = ends_it->second;
  auto pos = std::find(ends.begin(), ends.end(), cand_id);
  PASTE_CHECK(pos != ends.end());
  ends.erase(pos);
  if (ends.empty()) {
    ends_.erase(ends_it);
    const Node& end = nodes_[static_cast<size_t>(node)];
    FindEdge(EdgeKey(end.parent, end.token))->ends_candidate = 0;
  }
  while (node != kRoot) {
    Node& n = nodes_[static_cast<size_t>(node)];
    int32_t parent = n.parent;
    PASTE_DCHECK(n.num_live > 0);
    if (--n.num_live == 0) {
      PASTE_DCHECK(ends_.count(node) == 0);
      EraseEdge(EdgeKey(parent, n.token));
      free_nodes_.push_back(node);
    }
    node = parent;
  }
  nodes_[kRoot].num_live -= 1;
  return true;
}

}  // namespace paste
