// SAN's Aggregation: out[n, c, p] = sum_t w[n, c % Cw, t, p] * window(x)[n, c, t, p].
// Backward: grad_x gathers over the (tap, position) pairs reading each input pixel, mirror
// images of the reflection pad included; grad_w sums over the channels sharing a weight.
#include "common.cuh"

// The (taps, out_h * out_w) weight plane that channel c of sample n uses; nc = n * C + c.
template <typename DType>
__device__ __forceinline__ const DType* weight_plane(const DType* w, const Geometry& g, int nc,
                                                    int weight_channels) {
  const int n = nc / g.channels, c = nc % g.channels;
  return w + (n * weight_channels + c % weight_channels) * g.taps() * g.out_size();
}

template <typename DType>
__device__ void aggregation_forward(const DType* x, const DType* w, DType* out, Geometry g,
                                    int weight_channels) {
  typedef typename Num<DType>::acc Acc;
  const int taps = g.taps(), hw_out = g.out_size();
  GCA_LOOP(index, g.num * g.channels * hw_out) {
    const int p = index % hw_out, nc = index / hw_out;
    const DType* plane = x + nc * g.in_size();
    const DType* weights = weight_plane(w, g, nc, weight_channels) + p;
    Acc sum = 0;
    for (int t = 0; t < taps; ++t) {
      sum += Num<DType>::load(weights[t * hw_out]) * value_at(plane, g.tap_source(p, t));
    }
    out[index] = Num<DType>::store(sum);
  }
}

template <typename DType>
__device__ void aggregation_backward_x(const DType* grad_out, const DType* w, DType* grad_x,
                                       Geometry g, int weight_channels) {
  typedef typename Num<DType>::acc Acc;
  const int hw_out = g.out_size();
  GCA_LOOP(index, g.num * g.channels * g.in_size()) {
    const int col = index % g.width, row = (index / g.width) % g.height;
    const int nc = index / g.in_size();
    const DType* grad = grad_out + nc * hw_out;
    const DType* weights = weight_plane(w, g, nc, weight_channels);
    Acc sum = 0;
    for_each_tap_reading(g, row, col, [&](int tap, int p) {
      sum += Num<DType>::load(grad[p]) * Num<DType>::load(weights[tap * hw_out + p]);
    });
    grad_x[index] = Num<DType>::store(sum);
  }
}

template <typename DType>
__device__ void aggregation_backward_w(const DType* grad_out, const DType* x, DType* grad_w,
                                       Geometry g, int weight_channels) {
  typedef typename Num<DType>::acc Acc;
  const int taps = g.taps(), hw_out = g.out_size();
  GCA_LOOP(index, g.num * weight_channels * taps * hw_out) {
    const int p = index % hw_out, t = (index / hw_out) % taps;
    const int ncw = index / (taps * hw_out);
    const int cw = ncw % weight_channels, n = ncw / weight_channels;
    const int source = g.tap_source(p, t);
    Acc sum = 0;
    if (source >= 0) {
      for (int c = cw; c < g.channels; c += weight_channels) {
        const int nc = n * g.channels + c;
        sum += Num<DType>::load(grad_out[nc * hw_out + p]) *
               Num<DType>::load(x[nc * g.in_size() + source]);
      }
    }
    grad_w[index] = Num<DType>::store(sum);
  }
}

#define AGGREGATION_ENTRIES(T, S)                                                  \
  GCA_ENTRY3X(T, S, aggregation_forward, x, w, out, weight_channels)               \
  GCA_ENTRY3X(T, S, aggregation_backward_x, grad_out, w, grad_x, weight_channels)  \
  GCA_ENTRY3X(T, S, aggregation_backward_w, grad_out, x, grad_w, weight_channels)

GCA_FOR_EACH_DTYPE(AGGREGATION_ENTRIES)

#if defined(GCA_CPU_LOOPS)
#include "cpu/aggregation.h"
#endif
