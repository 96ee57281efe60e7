"""Baseline for bench_scheduler.py: the BatchLoop policy written plainly in Python.

Same policy as paste's C++ BatchLoop (priority order, chunked prefill within a token budget,
prefix caching by chained block hashes, preemption of the lowest priority when blocks run out)
and the same flat outputs, in the straightforward style of nano-vllm's scheduler. Used only as
the side-by-side baseline; not part of the package.
"""

from __future__ import annotations

from collections import deque


class PySeq:
    __slots__ = ("id", "tokens", "num_computed", "num_output", "max_tokens", "priority",
                 "arrival", "block_table", "num_hashed", "last_hash")

    def __init__(self, seq_id, tokens, max_tokens, priority, arrival):
        self.id, self.tokens, self.max_tokens = seq_id, list(tokens), max_tokens
        self.priority, self.arrival = priority, arrival
        self.num_computed = self.num_output = self.num_hashed = 0
        self.block_table: list[int] = []
        self.last_hash = 0


class PyBlockManager:
    def __init__(self, num_blocks, block_size):
        self.block_size = block_size
        self.free: deque[int] = deque(range(num_blocks))
        self.ref = [0] * num_blocks
        self.hash_of: dict[int, int] = {}
        self.cache: dict[int, tuple[int, tuple]] = {}  # hash -> (block, tokens)

    def match(self, tokens):
        out, h, bs = [], 0, self.block_size
        for i in range(len(tokens) // bs):
            blk = tuple(tokens[i * bs:(i + 1) * bs])
            h = hash((h, blk))
            hit = self.cache.get(h)
            if hit is None or hit[1] != blk or self.ref[hit[0]] == 0 and hit[0] in self.free:
                break
            out.append(hit[0])
        return out

    def grow(self, seq, num_slots):
        need = -(-num_slots // self.block_size) - len(seq.block_table)
        if need > len(self.free):
            return False
        for _ in range(need):
            b = self.free.popleft()
            self.cache.pop(self.hash_of.pop(b, None), None)
            self.ref[b] = 1
            seq.block_table.append(b)
        return True

    def commit(self, seq):
        bs = self.block_size
        for i in range(seq.num_hashed, seq.num_computed // bs):
            blk = tuple(seq.tokens[i * bs:(i + 1) * bs])
            seq.last_hash = hash((seq.last_hash, blk))
            b = seq.block_table[i]
            if b not in self.hash_of and seq.last_hash not in self.cache:
                self.hash_of[b] = seq.last_hash
                self.cache[seq.last_hash] = (b, blk)
        seq.num_hashed = max(seq.num_hashed, seq.num_computed // bs)

    def free_seq(self, seq):
        for b in reversed(seq.block_table):
            self.ref[b] -= 1
            if self.ref[b] == 0:
                self.free.append(b)
        seq.block_table, seq.num_hashed, seq.last_hash = [], 0, 0


class PyScheduler:
    def __init__(self, num_blocks, block_size, max_num_seqs, max_num_batched_tokens):
        self.bm = PyBlockManager(num_blocks, block_size)
        self.max_num_seqs, self.budget = max_num_seqs, max_num_batched_tokens
        self.waiting: list[PySeq] = []
        self.running: list[PySeq] = []
        self.scheduled: list[tuple[PySeq, int]] = []
        self.next_id = 0

    def add_sequence(self, tokens, max_tokens=256, priority=0.0):
        seq = PySeq(self.next_id, tokens, max_tokens, priority, self.next_id)
        self.next_id += 1
        self.waiting.append(seq)
        self.waiting.sort(key=lambda s: (-s.priority, s.arrival))
        return seq.id

    def schedule(self):
        bs, budget = self.bm.block_size, self.budget
        plan = {k: [] for k in ("seq_ids", "input_ids", "positions", "slot_mapping", "seq_lens",
                                "kv_indices", "kv_last_page_len", "logits_indices",
                                "sample_seq_ids", "preempted")}
        plan["query_start_loc"], plan["kv_indptr"] = [0], [0]
        self.scheduled = []
        self.running.sort(key=lambda s: (-s.priority, s.arrival))
        i = 0
        while i < len(self.running) and budget > 0:
            seq = self.running[i]
            n = min(len(seq.tokens) - seq.num_computed, budget)
            while not self.bm.grow(seq, seq.num_computed + n):
                victim = self.running.pop()
                self.bm.free_seq(victim)
                victim.num_computed = 0
                self.waiting.insert(0, victim)
                plan["preempted"].append(victim.id)
                if victim is seq:
                    break
            else:
                self._add(plan, seq, n)
                budget -= n
                i += 1
        while not plan["preempted"] and self.waiting and budget > 0 and \
                len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            prefix = self.bm.match(seq.tokens[:-1])
            seq.block_table = list(prefix)
            for b in prefix:
                self.bm.ref[b] += 1
            seq.num_computed = len(prefix) * bs
            n = min(len(seq.tokens) - seq.num_computed, budget)
            if not self.bm.grow(seq, seq.num_computed + n):
                self.bm.free_seq(seq)
                break
            self.waiting.pop(0)
            self.running.append(seq)
            self._add(plan, seq, n)
            budget -= n
        return plan

    def _add(self, plan, seq, n):
        bs, start = self.bm.block_size, seq.num_computed
        for pos in range(start, start + n):
            plan["input_ids"].append(seq.tokens[pos])
            plan["positions"].append(pos)
            plan["slot_mapping"].append(seq.block_table[pos // bs] * bs + pos % bs)
        plan["seq_ids"].append(seq.id)
        plan["query_start_loc"].append(len(plan["input_ids"]))
        plan["seq_lens"].append(start + n)
        nb = -(-(start + n) // bs)
        plan["kv_indices"].extend(seq.block_table[:nb])
        plan["kv_indptr"].append(len(plan["kv_indices"]))
        plan["kv_last_page_len"].append(start + n - (nb - 1) * bs)
        if start + n == len(seq.tokens):
            plan["logits_indices"].append(len(plan["input_ids"]) - 1)
            plan["sample_seq_ids"].append(seq.id)
        self.scheduled.append((seq, n))

    def commit(self, sampled):
        k, finished = 0, []
        for seq, n in self.scheduled:
            seq.num_computed += n
            self.bm.commit(seq)
            if seq.num_computed == len(seq.tokens):
                seq.tokens.append(sampled[k])
                k += 1
                seq.num_output += 1
                if seq.num_output >= seq.max_tokens:
                    finished.append(seq)
        for seq in finished:
            self.running.remove(seq)
            self.bm.free_seq(seq)
        return k
