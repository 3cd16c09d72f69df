// ACmix's attention logits: out[n, g, t, p] = sum over the channels c of group g of
// centre(x1)[n, c, p] * window(x2)[n, c, t, p]; groups are consecutive channel blocks.
// grad_x1 gathers through the window centres, grad_x2 through the taps.
#include "common.cuh"

template <typename DType>
__device__ void local_dot_forward(const DType* x1, const DType* x2, DType* out, Geometry g,
                                  int groups) {
  typedef typename Num<DType>::acc Acc;
  const int taps = g.taps(), hw_out = g.out_size(), group_size = g.channels / groups;
  GCA_LOOP(index, g.num * groups * taps * hw_out) {
    const int p = index % hw_out, t = (index / hw_out) % taps;
    const int first = index / (taps * hw_out) * group_size;  // n * channels + group start
    const int centre = g.centre_source(p), source = g.tap_source(p, t);
    Acc sum = 0;
    if (centre >= 0 && source >= 0) {
      for (int c = first; c < first + group_size; ++c) {
        sum += Num<DType>::load(x1[c * g.in_size() + centre]) *
               Num<DType>::load(x2[c * g.in_size() + source]);
      }
    }
    out[index] = Num<DType>::store(sum);
  }
}

template <typename DType>
__device__ void local_dot_backward_x1(const DType* grad_out, const DType* x2, DType* grad_x1,
                                      Geometry g, int groups) {
  typedef typename Num<DType>::acc Acc;
  const int taps = g.taps(), hw_out = g.out_size(), group_size = g.channels / groups;
  GCA_LOOP(index, g.num * g.channels * g.in_size()) {
    const int col = index % g.width, row = (index / g.width) % g.height;
    const int nc = index / g.in_size();
    const DType* grad = grad_out + nc / group_size * taps * hw_out;
    const DType* plane = x2 + nc * g.in_size();
    Acc sum = 0;
    for_each_centre_reading(g, row, col, [&](int p) {
      for (int t = 0; t < taps; ++t) {
        sum += Num<DType>::load(grad[t * hw_out + p]) * value_at(plane, g.tap_source(p, t));
      }
    });
    grad_x1[index] = Num<DType>::store(sum);
  }
}

template <typename DType>
__device__ void local_dot_backward_x2(const DType* grad_out, const DType* x1, DType* grad_x2,
                                      Geometry g, int groups) {
  typedef typename Num<DType>::acc Acc;
  const int hw_out = g.out_size(), group_size = g.channels / groups;
  GCA_LOOP(index, g.num * g.channels * g.in_size()) {
    const int col = index % g.width, row = (index / g.width) % g.height;
    const int nc = index / g.in_size();
    const DType* grad = grad_out + nc / group_size * g.taps() * hw_out;
    const DType* plane = x1 + nc * g.in_size();
    Acc sum = 0;
    for_each_tap_reading(g, row, col, [&](int tap, int p) {
      sum += Num<DType>::load(grad[tap * hw_out + p]) * value_at(plane, g.centre_source(p));
    });
    grad_x2[index] = Num<DType>::store(sum);
  }
}

#define LOCAL_DOT_ENTRIES(T, S)                                          \
  GCA_ENTRY3X(T, S, local_dot_forward, x1, x2, out, groups)              \
  GCA_ENTRY3X(T, S, local_dot_backward_x1, grad_out, x2, grad_x1, groups) \
  GCA_ENTRY3X(T, S, local_dot_backward_x2, grad_out, x1, grad_x2, groups)

GCA_FOR_EACH_DTYPE(LOCAL_DOT_ENTRIES)

#if defined(GCA_CPU_LOOPS)
#include "cpu/local_dot.h"
#endif
