// Aggregation's CPU loop orders (see planes.h); included at the end of aggregation.cu.
#include "planes.h"

template <typename T>
void aggregation_forward_cpu(const T* x, const T* w, T* out, Geometry g, int weight_channels) {
  const AxisTaps rows = row_taps(g), cols = col_taps(g);
  const int hw_out = g.out_size();
  GCA_PARALLEL_FOR
  for (int nc = 0; nc < g.num * g.channels; ++nc) {
    const T* plane = x + static_cast<size_t>(nc) * g.in_size();
    const T* weights = weight_plane(w, g, nc, weight_channels);
    T* o = out + static_cast<size_t>(nc) * hw_out;
    std::fill(o, o + hw_out, T(0));
    for_each_tap_row(g, rows, [&](int t, int kw, int oh, int r) {
      gather_row(cols, kw, plane + r * g.width, weights + t * hw_out + oh * g.out_w,
                 o + oh * g.out_w);
    });
  }
}

template <typename T>
void aggregation_backward_x_cpu(const T* grad_out, const T* w, T* grad_x, Geometry g,
                                int weight_channels) {
  const AxisTaps rows = row_taps(g), cols = col_taps(g);
  const int hw_out = g.out_size();
  GCA_PARALLEL_FOR
  for (int nc = 0; nc < g.num * g.channels; ++nc) {
    const T* grad = grad_out + static_cast<size_t>(nc) * hw_out;
    const T* weights = weight_plane(w, g, nc, weight_channels);
    T* gx = grad_x + static_cast<size_t>(nc) * g.in_size();
    std::fill(gx, gx + g.in_size(), T(0));
    for_each_tap_row(g, rows, [&](int t, int kw, int oh, int r) {
      scatter_row(cols, kw, grad + oh * g.out_w, weights + t * hw_out + oh * g.out_w,
                  gx + r * g.width);
    });
  }
}

template <typename T>
void aggregation_backward_w_cpu(const T* grad_out, const T* x, T* grad_w, Geometry g,
                                int weight_channels) {
  const AxisTaps rows = row_taps(g), cols = col_taps(g);
  const int taps = g.taps(), hw_out = g.out_size();
  GCA_PARALLEL_FOR
  for (int index = 0; index < g.num * weight_channels * taps; ++index) {
    const int t = index % taps, kh = t / g.kernel_w, kw = t % g.kernel_w;
    const int cw = index / taps % weight_channels, n = index / taps / weight_channels;
    T* gw = grad_w + static_cast<size_t>(index) * hw_out;
    std::fill(gw, gw + hw_out, T(0));
    for (int c = cw; c < g.channels; c += weight_channels) {
      const int nc = n * g.channels + c;
      const T* grad = grad_out + static_cast<size_t>(nc) * hw_out;
      const T* plane = x + static_cast<size_t>(nc) * g.in_size();
      for_each_row_of_tap(g, rows, kh, [&](int oh, int r) {
        gather_row(cols, kw, plane + r * g.width, grad + oh * g.out_w, gw + oh * g.out_w);
      });
    }
  }
}

#define AGGREGATION_CPU_ENTRIES(T, S)                                                  \
  GCA_CPU_ENTRY3X(T, S, aggregation_forward, x, w, out, weight_channels)               \
  GCA_CPU_ENTRY3X(T, S, aggregation_backward_x, grad_out, w, grad_x, weight_channels)  \
  GCA_CPU_ENTRY3X(T, S, aggregation_backward_w, grad_out, x, grad_w, weight_channels)

GCA_CPU_FOR_EACH_DTYPE(AGGREGATION_CPU_ENTRIES)
