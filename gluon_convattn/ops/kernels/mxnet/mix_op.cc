// ACmix's output mix, rate1 * attention + rate2 * convolution, as one MXNet operator: one pass
// forward, one pass backward for both input gradients and both rate gradients (sums in double),
// where the composite form (gluon_convattn/ops/mix.py) runs two products, an add
// and their reshapes. Inputs: a, b (the same shape), rate1, rate2 (shape (1,)).
#include <cstdint>
#include <vector>

#include "attributes.h"

using namespace mxnet::ext;

namespace {

using gca::Attrs;
using gca::maybe;

MXReturnValue mix_type(const Attrs& attrs, std::vector<int>* in_types,
                       std::vector<int>* out_types) {
  return gca::same_float_types("gluon_convattn_mix", in_types, out_types);
}

MXReturnValue mix_shape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in_shapes,
                        std::vector<std::vector<unsigned int>>* out_shapes) {
  const std::vector<unsigned int> one = {1};
  if ((*in_shapes)[1] != (*in_shapes)[0] || (*in_shapes)[2] != one || (*in_shapes)[3] != one) {
    MX_ERROR_MSG << "gluon_convattn_mix: needs two inputs of the same shape and two rates of "
                 << "shape (1,)";
    return MX_FAIL;
  }
  (*out_shapes)[0] = (*in_shapes)[0];
  return MX_SUCCESS;
}

template <typename T>
void mix_forward_typed(std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs) {
  const T* a = (*inputs)[0].data<T>();
  const T* b = (*inputs)[1].data<T>();
  const T r1 = *(*inputs)[2].data<T>(), r2 = *(*inputs)[3].data<T>();
  T* out = (*outputs)[0].data<T>();
  const int64_t n = (*inputs)[0].size();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = r1 * a[i] + r2 * b[i];
}

// inputs: output gradient, a, b, rate1, rate2, output; outputs: the four input gradients
template <typename T>
void mix_backward_typed(std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs) {
  const T* g = (*inputs)[0].data<T>();
  const T* a = (*inputs)[1].data<T>();
  const T* b = (*inputs)[2].data<T>();
  const T r1 = *(*inputs)[3].data<T>(), r2 = *(*inputs)[4].data<T>();
  T* ga = maybe<T>(outputs, 0);
  T* gb = maybe<T>(outputs, 1);
  T* gr1 = maybe<T>(outputs, 2);
  T* gr2 = maybe<T>(outputs, 3);
  const int64_t n = (*inputs)[0].size();
  double s1 = 0.0, s2 = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : s1, s2)
  for (int64_t i = 0; i < n; ++i) {
    if (ga) ga[i] = r1 * g[i];
    if (gb) gb[i] = r2 * g[i];
    s1 += static_cast<double>(g[i]) * a[i];
    s2 += static_cast<double>(g[i]) * b[i];
  }
  if (gr1) *gr1 = static_cast<T>(s1);
  if (gr2) *gr2 = static_cast<T>(s2);
}

MXReturnValue mix_forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  if ((*inputs)[0].dtype == kFloat32)
    mix_forward_typed<float>(inputs, outputs);
  else
    mix_forward_typed<double>(inputs, outputs);
  return MX_SUCCESS;
}

MXReturnValue mix_backward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  if ((*inputs)[1].dtype == kFloat32)
    mix_backward_typed<float>(inputs, outputs);
  else
    mix_backward_typed<double>(inputs, outputs);
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(gluon_convattn_mix)
    .setParseAttrs(gca::arity<4, 1>)
    .setInferType(mix_type)
    .setInferShape(mix_shape)
    .setForward(mix_forward, "cpu")
    .setBackward(mix_backward, "cpu");
