// The CPU library's layer norm and batched product as MXNet operators (MXNet's extension
// library API, lib_api.h): they run inside MXNet's engine like its own operators, without the
// Python call, the global interpreter lock and the plain-layout copies of a CustomOp.
//
// MXNet hands these operators their inputs in plain layout (it reorders MKL-DNN arrays into
// new ones), gives their backward every forward input and output, and passes no write request:
// every gradient is written, never added. gluon_convattn/ops/extension.py therefore uses them
// only where each gradient they write is consumed inside the graph (see its docstring).
#include <vector>

#include "attributes.h"

using namespace mxnet::ext;

extern "C" {
void layer_norm_forward_float(const float*, const float*, const float*, float*, int, int, double);
void layer_norm_forward_double(const double*, const double*, const double*, double*, int, int,
                               double);
void layer_norm_backward_float(const float*, const float*, const float*, float*, float*, float*,
                               int, int, double);
void layer_norm_backward_double(const double*, const double*, const double*, double*, double*,
                                double*, int, int, double);
void batch_dot_float(const float*, const float*, float*, int, int, int, int, int, int);
void batch_dot_double(const double*, const double*, double*, int, int, int, int, int, int);
}

namespace {

using gca::Attrs;
using gca::flag;
using gca::maybe;
using gca::number;
using gca::same_float_types;

// ------------------------------------------------------------------------- layer norm
MXReturnValue ln_type(const Attrs& attrs, std::vector<int>* in_types, std::vector<int>* out_types) {
  return same_float_types("gluon_convattn_layer_norm", in_types, out_types);
}

MXReturnValue ln_shape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in_shapes,
                       std::vector<std::vector<unsigned int>>* out_shapes) {
  const std::vector<unsigned int>& data = (*in_shapes)[0];
  if (data.empty()) {
    MX_ERROR_MSG << "gluon_convattn_layer_norm: the input needs at least one axis";
    return MX_FAIL;
  }
  for (int i = 1; i < 3; ++i) {
    const std::vector<unsigned int>& p = (*in_shapes)[i];
    if (p.size() != 1 || p[0] != data.back()) {
      MX_ERROR_MSG << "gluon_convattn_layer_norm: gamma and beta need shape (" << data.back()
                   << ",), one value per element of the input's last axis";
      return MX_FAIL;
    }
  }
  (*out_shapes)[0] = data;
  return MX_SUCCESS;
}

MXReturnValue ln_forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                         std::vector<MXTensor>* outputs, const OpResource& res) {
  MXTensor& x = (*inputs)[0];
  const int cols = static_cast<int>(x.shape.back());
  const int rows = cols ? static_cast<int>(x.size() / cols) : 0;
  const double eps = number(attrs, "eps", 1e-5);
  if (x.dtype == kFloat32)
    layer_norm_forward_float(x.data<float>(), (*inputs)[1].data<float>(),
                             (*inputs)[2].data<float>(), (*outputs)[0].data<float>(), rows, cols,
                             eps);
  else
    layer_norm_forward_double(x.data<double>(), (*inputs)[1].data<double>(),
                              (*inputs)[2].data<double>(), (*outputs)[0].data<double>(), rows,
                              cols, eps);
  return MX_SUCCESS;
}

// inputs: output gradient, data, gamma, beta, output; outputs: the three input gradients
MXReturnValue ln_backward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  MXTensor& grad = (*inputs)[0];
  MXTensor& x = (*inputs)[1];
  const int cols = static_cast<int>(x.shape.back());
  const int rows = cols ? static_cast<int>(x.size() / cols) : 0;
  const double eps = number(attrs, "eps", 1e-5);
  if (x.dtype == kFloat32)
    layer_norm_backward_float(grad.data<float>(), x.data<float>(), (*inputs)[2].data<float>(),
                              maybe<float>(outputs, 0), maybe<float>(outputs, 1),
                              maybe<float>(outputs, 2), rows, cols, eps);
  else
    layer_norm_backward_double(grad.data<double>(), x.data<double>(),
                               (*inputs)[2].data<double>(), maybe<double>(outputs, 0),
                               maybe<double>(outputs, 1), maybe<double>(outputs, 2), rows, cols,
                               eps);
  return MX_SUCCESS;
}

// ------------------------------------------------------------------- batched product
MXReturnValue bd_type(const Attrs& attrs, std::vector<int>* in_types, std::vector<int>* out_types) {
  return same_float_types("gluon_convattn_batch_dot", in_types, out_types);
}

MXReturnValue bd_shape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in_shapes,
                       std::vector<std::vector<unsigned int>>* out_shapes) {
  const std::vector<unsigned int>& a = (*in_shapes)[0];
  const std::vector<unsigned int>& b = (*in_shapes)[1];
  const bool ta = flag(attrs, "transpose_a"), tb = flag(attrs, "transpose_b");
  if (a.size() != 3 || b.size() != 3 || a[0] != b[0] || (ta ? a[1] : a[2]) != (tb ? b[2] : b[1])) {
    MX_ERROR_MSG << "gluon_convattn_batch_dot: needs (B, M, K) and (B, K, N) operands (either "
                 << "stored transposed, as the flags say) with the same B and K";
    return MX_FAIL;
  }
  (*out_shapes)[0] = {a[0], ta ? a[2] : a[1], tb ? b[1] : b[2]};
  return MX_SUCCESS;
}

template <typename T>
void product(void (*fn)(const T*, const T*, T*, int, int, int, int, int, int), MXTensor& a,
             MXTensor& b, T* out, bool ta, bool tb) {
  const int batch = static_cast<int>(a.shape[0]);
  const int m = static_cast<int>(ta ? a.shape[2] : a.shape[1]);
  const int k = static_cast<int>(ta ? a.shape[1] : a.shape[2]);
  const int n = static_cast<int>(tb ? b.shape[1] : b.shape[2]);
  fn(a.data<T>(), b.data<T>(), out, batch, m, n, k, ta, tb);
}

MXReturnValue bd_forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                         std::vector<MXTensor>* outputs, const OpResource& res) {
  const bool ta = flag(attrs, "transpose_a"), tb = flag(attrs, "transpose_b");
  MXTensor& a = (*inputs)[0];
  MXTensor& b = (*inputs)[1];
  if (a.dtype == kFloat32)
    product<float>(batch_dot_float, a, b, (*outputs)[0].data<float>(), ta, tb);
  else
    product<double>(batch_dot_double, a, b, (*outputs)[0].data<double>(), ta, tb);
  return MX_SUCCESS;
}

// d op(a) = grad . op(b)^T and d op(b) = op(a)^T . grad, each stored as its operand is
template <typename T>
void bd_backward_typed(void (*fn)(const T*, const T*, T*, int, int, int, int, int, int),
                       std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs, bool ta,
                       bool tb) {
  MXTensor& grad = (*inputs)[0];
  MXTensor& a = (*inputs)[1];
  MXTensor& b = (*inputs)[2];
  if (T* da = maybe<T>(outputs, 0)) {
    if (ta)
      product<T>(fn, b, grad, da, tb, true);
    else
      product<T>(fn, grad, b, da, false, !tb);
  }
  if (T* db = maybe<T>(outputs, 1)) {
    if (tb)
      product<T>(fn, grad, a, db, true, ta);
    else
      product<T>(fn, a, grad, db, !ta, false);
  }
}

MXReturnValue bd_backward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  const bool ta = flag(attrs, "transpose_a"), tb = flag(attrs, "transpose_b");
  if ((*inputs)[1].dtype == kFloat32)
    bd_backward_typed<float>(batch_dot_float, inputs, outputs, ta, tb);
  else
    bd_backward_typed<double>(batch_dot_double, inputs, outputs, ta, tb);
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(gluon_convattn_layer_norm)
    .setParseAttrs(gca::arity<3, 1>)
    .setInferType(ln_type)
    .setInferShape(ln_shape)
    .setForward(ln_forward, "cpu")
    .setBackward(ln_backward, "cpu");

REGISTER_OP(gluon_convattn_batch_dot)
    .setParseAttrs(gca::arity<2, 1>)
    .setInferType(bd_type)
    .setInferShape(bd_shape)
    .setForward(bd_forward, "cpu")
    .setBackward(bd_backward, "cpu");

MXReturnValue initialize(int version) {
  if (version < 10900) {
    MX_ERROR_MSG << "gluon_convattn's operators need MXNet 1.9 or newer, got " << version;
    return MX_FAIL;
  }
  return MX_SUCCESS;
}
