// Python bindings of paste::BlockManager (paste._core.BlockManager).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "convert.h"
#include "paste/block_manager.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;

void RegisterBlockManager(py::module_& m) {
  py::class_<BlockManager>(m, "BlockManager", R"doc(
Paged KV-cache block accounting: allocation, ref counts, prefix caching with content-checked
chained hashes, LRU eviction of cached free blocks, and pins with expiry for parked sequences.
Driven by one thread. Every method validates its input first: on an error nothing changes.)doc")
      .def(py::init<int32_t, int32_t, bool, int32_t>(), py::arg("num_blocks"),
           py::arg("block_size"), py::arg("enable_prefix_caching") = true,
           py::arg("hash_bits") = 64)
      .def_property_readonly("num_blocks", &BlockManager::num_blocks)
      .def_property_readonly("block_size", &BlockManager::block_size)
      .def_property_readonly("num_free_blocks", &BlockManager::NumFreeBlocks)
      .def_property_readonly("num_cached_free_blocks", &BlockManager::NumCachedFreeBlocks)
      .def_property_readonly("num_used_blocks", &BlockManager::NumUsedBlocks)
      .def_property_readonly("num_pinned_sequences", &BlockManager::NumPinnedSequences)
      .def_property_readonly("num_evictions", &BlockManager::num_evictions)
      .def("has_sequence", &BlockManager::HasSequence, py::arg("seq_id"))
      .def(
          "match_prefix",
          [](const BlockManager& bm, const py::object& tokens, uint64_t salt) {
            auto t = ToTokenVector(tokens, "tokens");
            return bm.MatchPrefix(t.data(), static_cast<int32_t>(t.size()), salt);
          },
          py::arg("tokens"), py::arg("salt") = 0,
          "Block ids of the longest cached prefix of tokens (whole blocks) under cache salt "
          "`salt` (0 = the common namespace).")
      .def("can_allocate", &BlockManager::CanAllocate, py::arg("prefix"), py::arg("num_slots"))
      .def("allocate", &BlockManager::Allocate, py::arg("seq_id"), py::arg("prefix"),
           py::arg("num_slots"), py::arg("salt") = 0)
      .def("num_new_blocks_needed", &BlockManager::NumNewBlocksNeeded, py::arg("seq_id"),
           py::arg("num_slots"))
      .def("can_grow", &BlockManager::CanGrow, py::arg("seq_id"), py::arg("num_slots"))
      .def("grow", &BlockManager::Grow, py::arg("seq_id"), py::arg("num_slots"))
      .def(
          "commit_computed",
          [](BlockManager& bm, int64_t seq_id, const py::object& tokens, int32_t num_computed) {
            auto t = ToTokenVector(tokens, "tokens");
            PASTE_CHECK_ARG(num_computed >= 0 && num_computed <= static_cast<int32_t>(t.size()),
                            "num_computed ", num_computed, " exceeds the ", t.size(),
                            " tokens given");
            bm.CommitComputed(seq_id, t.data(), num_computed);
          },
          py::arg("seq_id"), py::arg("tokens"), py::arg("num_computed"))
      .def("free", &BlockManager::Free, py::arg("seq_id"))
      .def("evict_cached_free", &BlockManager::EvictCachedFree,
           "Drop the content of every cached free block; the number evicted.")
      .def("pin", &BlockManager::Pin, py::arg("seq_id"), py::arg("expiry"))
      .def("unpin", &BlockManager::Unpin, py::arg("seq_id"))
      .def("is_pinned", &BlockManager::IsPinned, py::arg("seq_id"))
      .def("reclaim_pinned", &BlockManager::ReclaimPinned, py::arg("num_free_wanted"),
           py::arg("now"), py::arg("include_unexpired") = false, py::arg("exclude") = -1)
      .def("block_table", &BlockManager::BlockTable, py::arg("seq_id"))
      .def("ref_count", &BlockManager::RefCount, py::arg("block_id"))
      .def("is_cached", &BlockManager::IsCached, py::arg("block_id"))
      .def("free_block_order", &BlockManager::FreeBlockOrder);
}

}  // namespace paste::bindings
