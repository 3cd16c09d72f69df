// SAN's Subtraction2: out[n, c, t, p] = centre(x1)[n, c, p] - window(x2)[n, c, t, p].
// grad_x1 gathers through the window centres, grad_x2 (negated) through the taps.
#include "common.cuh"

template <typename DType>
__device__ void subtraction2_forward(const DType* x1, const DType* x2, DType* out,
                                     Geometry g) {
  const int taps = g.taps(), hw_out = g.out_size();
  GCA_LOOP(index, g.num * g.channels * taps * hw_out) {
    const int p = index % hw_out, t = (index / hw_out) % taps;
    const int plane = index / (taps * hw_out) * g.in_size();
    out[index] = Num<DType>::store(value_at(x1 + plane, g.centre_source(p)) -
                                   value_at(x2 + plane, g.tap_source(p, t)));
  }
}

template <typename DType>
__device__ void subtraction2_backward_x1(const DType* grad_out, DType* grad_x1, Geometry g) {
  GCA_LOOP(index, g.num * g.channels * g.in_size()) {
    const int col = index % g.width, row = (index / g.width) % g.height;
    const DType* grad = grad_out + index / g.in_size() * g.taps() * g.out_size();
    grad_x1[index] = Num<DType>::store(centre_grad(g, grad, row, col));
  }
}

template <typename DType>
__device__ void subtraction2_backward_x2(const DType* grad_out, DType* grad_x2, Geometry g) {
  GCA_LOOP(index, g.num * g.channels * g.in_size()) {
    const int col = index % g.width, row = (index / g.width) % g.height;
    const DType* grad = grad_out + index / g.in_size() * g.taps() * g.out_size();
    grad_x2[index] = Num<DType>::store(-tap_grad(g, grad, row, col));
  }
}

#define SUBTRACTION2_ENTRIES(T, S)                             \
  GCA_ENTRY3(T, S, subtraction2_forward, x1, x2, out)          \
  GCA_ENTRY2(T, S, subtraction2_backward_x1, grad_out, grad_x1) \
  GCA_ENTRY2(T, S, subtraction2_backward_x2, grad_out, grad_x2)

GCA_FOR_EACH_DTYPE(SUBTRACTION2_ENTRIES)

#if defined(GCA_CPU_LOOPS)
#include "cpu/subtraction2.h"
#endif
