// ChooseDraftLengths: the goodput rule stated in paste/draft_policy.h.
#include "paste/draft_policy.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace paste {

double StepCost(const std::vector<double>& step_costs, int64_t rows) {
  const int64_t n = static_cast<int64_t>(step_costs.size());
  if (rows <= n) return step_costs[static_cast<size_t>(std::max<int64_t>(rows, 1) - 1)];
  const double last = step_costs.back();
  const double slope = n >= 2 ? std::max(0.0, last - step_costs[n - 2]) : last;
  return last + static_cast<double>(rows - n) * slope;
}

void ChooseDraftLengths(const std::vector<double>& step_costs, int32_t base_rows,
                        int32_t num_samplers, const double* acceptance,
                        const int32_t* proposed, int32_t n, int32_t* lengths) {
  std::vector<std::pair<double, int32_t>> gains;  // (a_i^t, i), t = 1..proposed[i]
  for (int32_t i = 0; i < n; ++i) {
    lengths[i] = 0;
    double gain = 1.0;
    for (int32_t t = 0; t < proposed[i]; ++t) {
      gain *= acceptance[i];
      gains.emplace_back(gain, i);
    }
  }
  // Largest gain first; among equal gains the earlier sequence (plan order) and, within one
  // sequence, the earlier token (stable sort keeps each proposal's tokens in order).
  std::stable_sort(gains.begin(), gains.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  const int32_t base = std::max(base_rows, 1);
  double expected = num_samplers;
  double best = expected / StepCost(step_costs, base);
  size_t best_d = 0;
  for (size_t d = 1; d <= gains.size(); ++d) {
    expected += gains[d - 1].first;
    const double goodput = expected / StepCost(step_costs, base + static_cast<int64_t>(d));
    if (goodput > best * (1.0 + 1e-12)) {
      best = goodput;
      best_d = d;
    }
  }
  for (size_t d = 0; d < best_d; ++d) ++lengths[gains[d].second];
}

}  // namespace paste
