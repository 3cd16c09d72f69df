// The sliding-window operators as MXNet operators (see extension_ops.cc): the kernels of
// ../*.cu, in the CPU loop orders of ../cpu/ where those exist, with the geometry arguments the
// kernels take (kernel_spec.GEOMETRY). The output size is kernel_spec.output_size's formula; a
// test checks the two agree.
//
// Attributes, as gluon_convattn/ops/custom.py writes them: kernel, stride, padding, dilation
// ("(h, w)"), pad_mode, and groups for local_dot. Inputs and gradients as kernel_spec.OPERATORS.
#include <cstdint>
#include <vector>

#include "attributes.h"

using namespace mxnet::ext;

#define GCA_G int, int, int, int, int, int, int, int, int, int, int, int, int, int, int
#define GCA_DECLARE(T, S)                                                                    \
  void aggregation_forward_##S##_cpu(const T*, const T*, T*, GCA_G, int);                    \
  void aggregation_backward_x_##S##_cpu(const T*, const T*, T*, GCA_G, int);                 \
  void aggregation_backward_w_##S##_cpu(const T*, const T*, T*, GCA_G, int);                 \
  void local_dot_forward_##S##_cpu(const T*, const T*, T*, GCA_G, int);                      \
  void local_dot_backward_x1_##S##_cpu(const T*, const T*, T*, GCA_G, int);                  \
  void local_dot_backward_x2_##S##_cpu(const T*, const T*, T*, GCA_G, int);                  \
  void subtraction2_forward_##S##_cpu(const T*, const T*, T*, GCA_G);                        \
  void subtraction2_backward_x1_##S##_cpu(const T*, T*, GCA_G);                              \
  void subtraction2_backward_x2_##S##_cpu(const T*, T*, GCA_G);                              \
  void subtraction_forward_##S(const T*, T*, GCA_G);                                         \
  void subtraction_backward_x_##S(const T*, T*, GCA_G);

extern "C" {
GCA_DECLARE(float, float)
GCA_DECLARE(double, double)
}

namespace {

using gca::Attrs;
using gca::integers;
using gca::maybe;

// the kernels index with 32-bit ints (kernel_spec.check_index_range)
const int64_t kIndexLimit = 2147483647LL - 256LL * 65535LL;

struct Geometry {
  int v[15];  // kernel_spec.GEOMETRY
};

bool pair(const Attrs& attrs, const char* name, int* out) {
  std::vector<int> values = integers(attrs, name);
  if (values.size() == 1) values.push_back(values[0]);
  if (values.size() != 2) return false;
  out[0] = values[0];
  out[1] = values[1];
  return true;
}

// the window of the attributes and an input of shape (N, C, H, W); false with a message
bool geometry(const Attrs& attrs, const std::vector<int64_t>& x, const char* op, Geometry* g) {
  int k[2], s[2], p[2], d[2];
  if (!pair(attrs, "kernel", k) || !pair(attrs, "stride", s) || !pair(attrs, "padding", p) ||
      !pair(attrs, "dilation", d)) {
    MX_ERROR_MSG << op << ": needs the attributes kernel, stride, padding and dilation";
    return false;
  }
  if (x.size() != 4) {
    MX_ERROR_MSG << op << ": needs a 4-d (N, C, H, W) input, got " << x.size() << " axes";
    return false;
  }
  const std::vector<int> modes = integers(attrs, "pad_mode");
  const int mode = modes.empty() ? 0 : modes[0];
  if (mode != 0 && mode != 1) {
    MX_ERROR_MSG << op << ": pad_mode must be 0 (zeros) or 1 (reflection), got " << mode;
    return false;
  }
  int out[2];
  for (int i = 0; i < 2; ++i) {
    const int64_t span = x[2 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1;
    if (k[i] < 1 || k[i] % 2 == 0 || s[i] < 1 || d[i] < 1 || p[i] < 0 || span < 0) {
      MX_ERROR_MSG << op << ": the window (kernel " << k[i] << ", stride " << s[i]
                   << ", padding " << p[i] << ", dilation " << d[i] << ") does not fit an input "
                   << "of size " << x[2 + i] << " (kernels are odd)";
      return false;
    }
    if (mode == 1 && p[i] >= x[2 + i]) {
      MX_ERROR_MSG << op << ": reflection padding " << p[i] << " needs inputs of at least "
                   << p[i] + 1 << " along each padded axis, got " << x[2 + i];
      return false;
    }
    out[i] = static_cast<int>(span / s[i] + 1);
  }
  const int values[15] = {static_cast<int>(x[0]), static_cast<int>(x[1]), static_cast<int>(x[2]),
                          static_cast<int>(x[3]), out[0], out[1], k[0], k[1], s[0], s[1], p[0],
                          p[1], d[0], d[1], mode};
  for (int i = 0; i < 15; ++i) g->v[i] = values[i];
  return true;
}

std::vector<int64_t> widen(const std::vector<unsigned int>& shape) {
  return std::vector<int64_t>(shape.begin(), shape.end());
}

int64_t elements(const std::vector<unsigned int>& shape) {
  int64_t n = 1;
  for (unsigned int v : shape) n *= v;
  return n;
}

#define GCA_ARGS(g) \
  g.v[0], g.v[1], g.v[2], g.v[3], g.v[4], g.v[5], g.v[6], g.v[7], g.v[8], g.v[9], g.v[10], \
      g.v[11], g.v[12], g.v[13], g.v[14]

enum Kind { kAggregation, kSubtraction, kSubtraction2, kLocalDot };

constexpr int input_count(Kind k) { return k == kSubtraction ? 1 : 2; }

const char* const kNames[] = {"gluon_convattn_aggregation", "gluon_convattn_subtraction",
                              "gluon_convattn_subtraction2", "gluon_convattn_local_dot"};

template <Kind K>
MXReturnValue infer_type(const Attrs& attrs, std::vector<int>* in_types,
                         std::vector<int>* out_types) {
  return gca::same_float_types(kNames[K], in_types, out_types);
}

template <Kind K>
MXReturnValue infer_shape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in_shapes,
                          std::vector<std::vector<unsigned int>>* out_shapes) {
  Geometry g;
  if (!geometry(attrs, widen((*in_shapes)[0]), kNames[K], &g)) return MX_FAIL;
  const unsigned n = g.v[0], c = g.v[1], oh = g.v[4], ow = g.v[5], taps = g.v[6] * g.v[7];
  std::vector<unsigned int> out = {n, c, taps, oh * ow};
  if (K == kAggregation) {
    const std::vector<unsigned int>& w = (*in_shapes)[1];
    if (w.size() != 4 || w[0] != n || w[1] == 0 || c % w[1] || w[2] != taps || w[3] != oh * ow) {
      MX_ERROR_MSG << kNames[K] << ": the weights need shape (" << n << ", a divisor of " << c
                   << ", " << taps << ", " << oh * ow << ")";
      return MX_FAIL;
    }
    out = {n, c, oh, ow};
  } else if (K != kSubtraction) {
    if ((*in_shapes)[1] != (*in_shapes)[0]) {
      MX_ERROR_MSG << kNames[K] << ": x1 and x2 need the same shape";
      return MX_FAIL;
    }
    if (K == kLocalDot) {
      const std::vector<int> groups = integers(attrs, "groups");
      if (groups.size() != 1 || groups[0] < 1 || c % groups[0]) {
        MX_ERROR_MSG << kNames[K] << ": groups must divide the " << c << " channels";
        return MX_FAIL;
      }
      out[1] = groups[0];
    }
  }
  for (const auto& shape : *in_shapes) {
    if (elements(shape) > kIndexLimit) {
      MX_ERROR_MSG << kNames[K] << ": an array of " << elements(shape) << " elements is too "
                   << "large for the sliding-window kernels (at most " << kIndexLimit
                   << "); split the batch";
      return MX_FAIL;
    }
  }
  if (elements(out) > kIndexLimit) {
    MX_ERROR_MSG << kNames[K] << ": the output of " << elements(out) << " elements is too large "
                 << "for the sliding-window kernels (at most " << kIndexLimit
                 << "); split the batch";
    return MX_FAIL;
  }
  (*out_shapes)[0] = out;
  return MX_SUCCESS;
}

template <typename T>
struct Kernels;

#define GCA_KERNELS(T, S)                                                                    \
  template <>                                                                                \
  struct Kernels<T> {                                                                        \
    static void forward(Kind k, const T* a, const T* b, T* out, const Geometry& g, int x) {  \
      if (k == kAggregation) aggregation_forward_##S##_cpu(a, b, out, GCA_ARGS(g), x);       \
      if (k == kLocalDot) local_dot_forward_##S##_cpu(a, b, out, GCA_ARGS(g), x);            \
      if (k == kSubtraction2) subtraction2_forward_##S##_cpu(a, b, out, GCA_ARGS(g));        \
      if (k == kSubtraction) subtraction_forward_##S(a, out, GCA_ARGS(g));                   \
    }                                                                                        \
    /* the gradient of input i from the output gradient and the other input */              \
    static void backward(Kind k, int i, const T* grad, const T* other, T* out,               \
                         const Geometry& g, int x) {                                         \
      if (k == kAggregation && i == 0)                                                       \
        aggregation_backward_x_##S##_cpu(grad, other, out, GCA_ARGS(g), x);                  \
      if (k == kAggregation && i == 1)                                                       \
        aggregation_backward_w_##S##_cpu(grad, other, out, GCA_ARGS(g), x);                  \
      if (k == kLocalDot && i == 0)                                                          \
        local_dot_backward_x1_##S##_cpu(grad, other, out, GCA_ARGS(g), x);                   \
      if (k == kLocalDot && i == 1)                                                          \
        local_dot_backward_x2_##S##_cpu(grad, other, out, GCA_ARGS(g), x);                   \
      if (k == kSubtraction2 && i == 0)                                                      \
        subtraction2_backward_x1_##S##_cpu(grad, out, GCA_ARGS(g));                          \
      if (k == kSubtraction2 && i == 1)                                                      \
        subtraction2_backward_x2_##S##_cpu(grad, out, GCA_ARGS(g));                          \
      if (k == kSubtraction) subtraction_backward_x_##S(grad, out, GCA_ARGS(g));             \
    }                                                                                        \
  };

GCA_KERNELS(float, float)
GCA_KERNELS(double, double)

// aggregation's weight channels, local_dot's groups
int extra(Kind k, const Attrs& attrs, std::vector<MXTensor>* inputs, size_t weights) {
  if (k == kAggregation) return static_cast<int>((*inputs)[weights].shape[1]);
  if (k == kLocalDot) return integers(attrs, "groups")[0];
  return 0;
}

template <Kind K, typename T>
MXReturnValue forward_typed(const Attrs& attrs, std::vector<MXTensor>* inputs,
                            std::vector<MXTensor>* outputs) {
  Geometry g;
  if (!geometry(attrs, (*inputs)[0].shape, kNames[K], &g)) return MX_FAIL;
  const T* second = K == kSubtraction ? nullptr : (*inputs)[1].data<T>();
  Kernels<T>::forward(K, (*inputs)[0].data<T>(), second, (*outputs)[0].data<T>(), g,
                      extra(K, attrs, inputs, 1));
  return MX_SUCCESS;
}

template <Kind K>
MXReturnValue forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                      std::vector<MXTensor>* outputs, const OpResource& res) {
  if ((*inputs)[0].dtype == kFloat32) return forward_typed<K, float>(attrs, inputs, outputs);
  return forward_typed<K, double>(attrs, inputs, outputs);
}

// inputs: output gradient, the operator's inputs, its output; outputs: the input gradients
template <Kind K, typename T>
MXReturnValue backward_typed(const Attrs& attrs, std::vector<MXTensor>* inputs,
                             std::vector<MXTensor>* outputs) {
  Geometry g;
  if (!geometry(attrs, (*inputs)[1].shape, kNames[K], &g)) return MX_FAIL;
  const T* grad = (*inputs)[0].data<T>();
  const int x = extra(K, attrs, inputs, 2);
  const int count = input_count(K);
  for (int i = 0; i < count; ++i) {
    if (T* target = maybe<T>(outputs, i)) {
      // aggregation and local_dot read the other input; the subtractions only the gradient
      const T* other = count == 2 ? (*inputs)[2 - i].data<T>() : nullptr;
      Kernels<T>::backward(K, i, grad, other, target, g, x);
    }
  }
  return MX_SUCCESS;
}

template <Kind K>
MXReturnValue backward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                       std::vector<MXTensor>* outputs, const OpResource& res) {
  if ((*inputs)[0].dtype == kFloat32) return backward_typed<K, float>(attrs, inputs, outputs);
  return backward_typed<K, double>(attrs, inputs, outputs);
}

}  // namespace

#define GCA_REGISTER(NAME, KIND)                       \
  REGISTER_OP(NAME)                                    \
      .setParseAttrs(gca::arity<input_count(KIND), 1>) \
      .setInferType(infer_type<KIND>)                  \
      .setInferShape(infer_shape<KIND>)                \
      .setForward(forward<KIND>, "cpu")                \
      .setBackward(backward<KIND>, "cpu");

GCA_REGISTER(gluon_convattn_aggregation, kAggregation)
GCA_REGISTER(gluon_convattn_subtraction, kSubtraction)
GCA_REGISTER(gluon_convattn_subtraction2, kSubtraction2)
GCA_REGISTER(gluon_convattn_local_dot, kLocalDot)
