// Draft lengths chosen for goodput: how many of each sequence's proposed draft tokens a step
// should verify, given what a step costs and how often each sequence's drafts are accepted.
//
// A draft row is not free. On a GPU a decode step of a small batch is memory-bound and a few
// extra query rows cost almost nothing, but a large batch, or a CPU, pays for every row. A step
// computing R query rows costs C(R) (step_costs[R-1], measured on the model; past the table,
// extended by its last slope). Sequence i's draft token t (t = 1..L_i, its proposal length)
// is accepted only if drafts 1..t-1 were, and each with probability a_i (its measured
// acceptance), so it adds a_i^t expected tokens to the step. Every sampling sequence commits one
// token anyway (`num_samplers`), and the rows the step computes regardless (`base_rows`: real
// tokens, explicit drafts) cost their share. The step's goodput with the D best draft tokens,
//
//     G(D) = (num_samplers + sum of the D largest a_i^t) / C(base_rows + D),
//
// is maximised over D = 0 .. sum L_i (the smallest best D wins ties); as a_i^t falls with t,
// the D largest are a prefix of each proposal, so each sequence keeps its first lengths[i].
// With a flat cost (a GPU's small batch) every draft is kept; with rows that cost as much as a
// step, only drafts that are nearly sure are. Pure; O(G log G) for G proposed tokens.
#ifndef PASTE_DRAFT_POLICY_H_
#define PASTE_DRAFT_POLICY_H_

#include <cstdint>
#include <vector>

namespace paste {

// C(rows) from the table (rows >= 1); the table must be non-empty.
double StepCost(const std::vector<double>& step_costs, int64_t rows);

// Writes lengths[i] in [0, proposed[i]] for each of the n proposals (module comment); the
// two arrays must not overlap.
void ChooseDraftLengths(const std::vector<double>& step_costs, int32_t base_rows,
                        int32_t num_samplers, const double* acceptance,
                        const int32_t* proposed, int32_t n, int32_t* lengths);

// The acceptance estimate of a sequence from its decayed counts of accepted drafts (hits) and
// of drafts that were verified up to the first rejection (trials), with one pseudo-hit and
// one pseudo-miss (a sequence that never drafted is at 1/2).
inline double DraftAcceptance(double hits, double trials) { return (hits + 1.0) / (trials + 2.0); }

}  // namespace paste

#endif  // PASTE_DRAFT_POLICY_H_
