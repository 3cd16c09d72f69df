// SAN's Subtraction: out[n, c, t, p] = centre(x)[n, c, p] - window(x)[n, c, t, p].
// Backward gathers the gradient reaching each input pixel as a centre and as a tap.
#include "common.cuh"

template <typename DType>
__device__ void subtraction_forward(const DType* x, DType* out, Geometry g) {
  const int taps = g.taps(), hw_out = g.out_size();
  GCA_LOOP(index, g.num * g.channels * taps * hw_out) {
    const int p = index % hw_out, t = (index / hw_out) % taps;
    const DType* plane = x + index / (taps * hw_out) * g.in_size();
    out[index] = Num<DType>::store(value_at(plane, g.centre_source(p)) -
                                   value_at(plane, g.tap_source(p, t)));
  }
}

template <typename DType>
__device__ void subtraction_backward_x(const DType* grad_out, DType* grad_x, Geometry g) {
  GCA_LOOP(index, g.num * g.channels * g.in_size()) {
    const int col = index % g.width, row = (index / g.width) % g.height;
    const DType* grad = grad_out + index / g.in_size() * g.taps() * g.out_size();
    grad_x[index] = Num<DType>::store(centre_grad(g, grad, row, col) -
                                      tap_grad(g, grad, row, col));
  }
}

#define SUBTRACTION_ENTRIES(T, S)                          \
  GCA_ENTRY2(T, S, subtraction_forward, x, out)            \
  GCA_ENTRY2(T, S, subtraction_backward_x, grad_out, grad_x)

GCA_FOR_EACH_DTYPE(SUBTRACTION_ENTRIES)
