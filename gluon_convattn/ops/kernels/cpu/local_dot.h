// local_dot's CPU loop orders (see planes.h); included at the end of local_dot.cu.
#include "planes.h"

template <typename T>
void local_dot_forward_cpu(const T* x1, const T* x2, T* out, Geometry g, int groups) {
  const AxisTaps rows = row_taps(g), cols = col_taps(g);
  const int taps = g.taps(), hw_out = g.out_size(), group_size = g.channels / groups;
  GCA_PARALLEL_FOR
  for (int ng = 0; ng < g.num * groups; ++ng) {     // n * groups + group
    T* o = out + static_cast<size_t>(ng) * taps * hw_out;
    std::fill(o, o + static_cast<size_t>(taps) * hw_out, T(0));
    std::vector<T> centre(hw_out);
    for (int nc = ng * group_size; nc < (ng + 1) * group_size; ++nc) {
      const size_t plane = static_cast<size_t>(nc) * g.in_size();
      centre_plane(g, rows, cols, x1 + plane, centre.data());
      for_each_tap_row(g, rows, [&](int t, int kw, int oh, int r) {
        gather_row(cols, kw, x2 + plane + r * g.width, centre.data() + oh * g.out_w,
                   o + t * hw_out + oh * g.out_w);
      });
    }
  }
}

template <typename T>
void local_dot_backward_x1_cpu(const T* grad_out, const T* x2, T* grad_x1, Geometry g,
                               int groups) {
  const AxisTaps rows = row_taps(g), cols = col_taps(g);
  const int taps = g.taps(), hw_out = g.out_size(), group_size = g.channels / groups;
  GCA_PARALLEL_FOR
  for (int nc = 0; nc < g.num * g.channels; ++nc) {
    const T* grad = grad_out + static_cast<size_t>(nc / group_size) * taps * hw_out;
    const T* plane = x2 + static_cast<size_t>(nc) * g.in_size();
    std::vector<T> at_centre(hw_out, T(0));     // sum over taps of grad * tap value
    for_each_tap_row(g, rows, [&](int t, int kw, int oh, int r) {
      gather_row(cols, kw, plane + r * g.width, grad + t * hw_out + oh * g.out_w,
                 at_centre.data() + oh * g.out_w);
    });
    T* gx = grad_x1 + static_cast<size_t>(nc) * g.in_size();
    std::fill(gx, gx + g.in_size(), T(0));
    scatter_centres(g, rows, cols, at_centre.data(), gx);
  }
}

template <typename T>
void local_dot_backward_x2_cpu(const T* grad_out, const T* x1, T* grad_x2, Geometry g,
                               int groups) {
  const AxisTaps rows = row_taps(g), cols = col_taps(g);
  const int taps = g.taps(), hw_out = g.out_size(), group_size = g.channels / groups;
  GCA_PARALLEL_FOR
  for (int nc = 0; nc < g.num * g.channels; ++nc) {
    const T* grad = grad_out + static_cast<size_t>(nc / group_size) * taps * hw_out;
    std::vector<T> centre(hw_out);
    centre_plane(g, rows, cols, x1 + static_cast<size_t>(nc) * g.in_size(), centre.data());
    T* gx = grad_x2 + static_cast<size_t>(nc) * g.in_size();
    std::fill(gx, gx + g.in_size(), T(0));
    for_each_tap_row(g, rows, [&](int t, int kw, int oh, int r) {
      scatter_row(cols, kw, grad + t * hw_out + oh * g.out_w, centre.data() + oh * g.out_w,
                  gx + r * g.width);
    });
  }
}

#define LOCAL_DOT_CPU_ENTRIES(T, S)                                          \
  GCA_CPU_ENTRY3X(T, S, local_dot_forward, x1, x2, out, groups)              \
  GCA_CPU_ENTRY3X(T, S, local_dot_backward_x1, grad_out, x2, grad_x1, groups) \
  GCA_CPU_ENTRY3X(T, S, local_dot_backward_x2, grad_out, x1, grad_x2, groups)

GCA_CPU_FOR_EACH_DTYPE(LOCAL_DOT_CPU_ENTRIES)
