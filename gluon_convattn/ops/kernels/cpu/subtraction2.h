// Subtraction2's CPU loop orders (see planes.h); included at the end of subtraction2.cu.
#include "planes.h"

template <typename T>
void subtraction2_forward_cpu(const T* x1, const T* x2, T* out, Geometry g) {
  const AxisTaps rows = row_taps(g), cols = col_taps(g);
  const int taps = g.taps(), hw_out = g.out_size();
  GCA_PARALLEL_FOR
  for (int nc = 0; nc < g.num * g.channels; ++nc) {
    const T* plane = x2 + static_cast<size_t>(nc) * g.in_size();
    T* o = out + static_cast<size_t>(nc) * taps * hw_out;
    centre_plane(g, rows, cols, x1 + static_cast<size_t>(nc) * g.in_size(), o);
    std::vector<T> minus_one(g.out_w, T(-1));
    for (int t = 1; t < taps; ++t) std::copy(o, o + hw_out, o + t * hw_out);
    for_each_tap_row(g, rows, [&](int t, int kw, int oh, int r) {
      gather_row(cols, kw, plane + r * g.width, minus_one.data(), o + t * hw_out + oh * g.out_w);
    });
  }
}

template <typename T>
void subtraction2_backward_x1_cpu(const T* grad_out, T* grad_x1, Geometry g) {
  const AxisTaps rows = row_taps(g), cols = col_taps(g);
  const int taps = g.taps(), hw_out = g.out_size();
  GCA_PARALLEL_FOR
  for (int nc = 0; nc < g.num * g.channels; ++nc) {
    const T* grad = grad_out + static_cast<size_t>(nc) * taps * hw_out;
    std::vector<T> tap_sum(grad, grad + hw_out);
    for (int t = 1; t < taps; ++t)
      for (int p = 0; p < hw_out; ++p) tap_sum[p] += grad[t * hw_out + p];
    T* gx = grad_x1 + static_cast<size_t>(nc) * g.in_size();
    std::fill(gx, gx + g.in_size(), T(0));
    scatter_centres(g, rows, cols, tap_sum.data(), gx);
  }
}

template <typename T>
void subtraction2_backward_x2_cpu(const T* grad_out, T* grad_x2, Geometry g) {
  const AxisTaps rows = row_taps(g), cols = col_taps(g);
  const int taps = g.taps(), hw_out = g.out_size();
  GCA_PARALLEL_FOR
  for (int nc = 0; nc < g.num * g.channels; ++nc) {
    const T* grad = grad_out + static_cast<size_t>(nc) * taps * hw_out;
    T* gx = grad_x2 + static_cast<size_t>(nc) * g.in_size();
    std::fill(gx, gx + g.in_size(), T(0));
    std::vector<T> minus_one(g.out_w, T(-1));
    for_each_tap_row(g, rows, [&](int t, int kw, int oh, int r) {
      scatter_row(cols, kw, grad + t * hw_out + oh * g.out_w, minus_one.data(),
                  gx + r * g.width);
    });
  }
}

#define SUBTRACTION2_CPU_ENTRIES(T, S)                             \
  GCA_CPU_ENTRY3(T, S, subtraction2_forward, x1, x2, out)          \
  GCA_CPU_ENTRY2(T, S, subtraction2_backward_x1, grad_out, grad_x1) \
  GCA_CPU_ENTRY2(T, S, subtraction2_backward_x2, grad_out, grad_x2)

GCA_CPU_FOR_EACH_DTYPE(SUBTRACTION2_CPU_ENTRIES)
