// CPU loop orders for the production CPU library (cpu_build.py defines GCA_CPU_LOOPS; the
// CUDA compilers and the single-threaded test build never see this file).
//
// The CUDA kernels give each output element its own thread and decompose its index with
// divisions; on a CPU core that index arithmetic costs more than the multiply-adds. These
// loops instead take one plane per OpenMP iteration and walk it tap by tap and row by row, so
// the innermost loop runs along a row with unit stride where the window lies inside the
// input. Which input pixel a tap reads comes from Geometry::row_source / col_source, the
// formulas the CUDA kernels use, tabulated once per call. Every OpenMP iteration writes only
// its own plane: where a backward scatters, it scatters within that plane.
#ifndef GLUON_CONVATTN_CPU_PLANES_H_
#define GLUON_CONVATTN_CPU_PLANES_H_

#include <algorithm>
#include <vector>

// One axis of the window: source(k, o) is the input index kernel index k of output index o
// reads (-1: zero pad). For each k, [lo, hi) is the longest range of o whose sources are
// valid and step by the stride; the loops below run that range as a plain strided loop.
struct AxisTaps {
  int out, stride;
  std::vector<int> table, lo, hi;

  int source(int k, int o) const { return table[k * out + o]; }
};

template <typename SourceOf>
inline AxisTaps tabulate_axis(int kernel, int out, int stride, SourceOf source_of) {
  AxisTaps a;
  a.out = out, a.stride = stride;
  a.table.resize(static_cast<size_t>(kernel) * out);
  a.lo.assign(kernel, 0), a.hi.assign(kernel, 0);
  for (int k = 0; k < kernel; ++k) {
    int* src = &a.table[static_cast<size_t>(k) * out];
    for (int o = 0; o < out; ++o) src[o] = source_of(o, k);
    for (int o = 0; o < out;) {
      if (src[o] < 0) {
        ++o;
        continue;
      }
      int end = o + 1;
      while (end < out && src[end] == src[end - 1] + stride) ++end;
      if (end - o > a.hi[k] - a.lo[k]) a.lo[k] = o, a.hi[k] = end;
      o = end;
    }
  }
  return a;
}

inline AxisTaps row_taps(const Geometry& g) {
  return tabulate_axis(g.kernel_h, g.out_h, g.stride_h,
                       [&](int oh, int kh) { return g.row_source(oh, kh); });
}

inline AxisTaps col_taps(const Geometry& g) {
  return tabulate_axis(g.kernel_w, g.out_w, g.stride_w,
                       [&](int ow, int kw) { return g.col_source(ow, kw); });
}

// visit(oh, r) for every output row oh whose kernel row kh reads an input row r (not a zero pad).
template <typename Visit>
inline void for_each_row_of_tap(const Geometry& g, const AxisTaps& rows, int kh, Visit visit) {
  for (int oh = 0; oh < g.out_h; ++oh) {
    const int r = rows.source(kh, oh);
    if (r >= 0) visit(oh, r);
  }
}

// visit(t, kw, oh, r) for every tap t = (kh, kw), in order, and every output row oh whose
// kernel row kh reads an input row r.
template <typename Visit>
inline void for_each_tap_row(const Geometry& g, const AxisTaps& rows, Visit visit) {
  for (int t = 0; t < g.taps(); ++t) {
    const int kw = t % g.kernel_w;
    for_each_row_of_tap(g, rows, t / g.kernel_w, [&](int oh, int r) { visit(t, kw, oh, r); });
  }
}

// For kernel column k: run(lo, hi, s) once for the strided range (source s + (o - lo) * stride
// for o in [lo, hi)), and edge(o, source) for every other o whose source is valid.
template <typename Edge, typename Run>
inline void for_each_column(const AxisTaps& a, int k, Edge edge, Run run) {
  const int* src = &a.table[static_cast<size_t>(k) * a.out];
  const int lo = a.lo[k], hi = a.hi[k];
  for (int o = 0; o < lo; ++o)
    if (src[o] >= 0) edge(o, src[o]);
  if (lo < hi) run(lo, hi, src[lo]);
  for (int o = hi; o < a.out; ++o)
    if (src[o] >= 0) edge(o, src[o]);
}

// row[o] += scale[o] * input[source of o] over one output row, for kernel column k; scale may
// be null (scale 1).
template <typename T>
inline void gather_row(const AxisTaps& cols, int k, const T* input, const T* scale, T* row) {
  for_each_column(
      cols, k, [&](int o, int s) { row[o] += (scale ? scale[o] : T(1)) * input[s]; },
      [&](int lo, int hi, int s) {
        const int st = cols.stride;
        if (scale) {
          for (int o = lo; o < hi; ++o) row[o] += scale[o] * input[s + (o - lo) * st];
        } else {
          for (int o = lo; o < hi; ++o) row[o] += input[s + (o - lo) * st];
        }
      });
}

// input_grad[source of o] += grad[o] * scale[o] over one output row, for kernel column k
// (the transpose of gather_row); scale may be null.
template <typename T>
inline void scatter_row(const AxisTaps& cols, int k, const T* grad, const T* scale,
                        T* input_grad) {
  for_each_column(
      cols, k, [&](int o, int s) { input_grad[s] += grad[o] * (scale ? scale[o] : T(1)); },
      [&](int lo, int hi, int s) {
        const int st = cols.stride;
        T* dst = input_grad + s;
        if (scale) {
          for (int o = lo; o < hi; ++o) dst[(o - lo) * st] += grad[o] * scale[o];
        } else {
          for (int o = lo; o < hi; ++o) dst[(o - lo) * st] += grad[o];
        }
      });
}

// centre[p] = x at the window centre of output position p (0 for a zero pad), over a plane.
template <typename T>
inline void centre_plane(const Geometry& g, const AxisTaps& rows, const AxisTaps& cols,
                         const T* x, T* centre) {
  std::fill(centre, centre + g.out_size(), T(0));
  for (int oh = 0; oh < g.out_h; ++oh) {
    const int r = rows.source(g.centre_kh(), oh);
    if (r >= 0)
      gather_row(cols, g.centre_kw(), x + r * g.width, static_cast<const T*>(nullptr),
                 centre + oh * g.out_w);
  }
}

// The transpose of centre_plane: grad_x[centre of p] += grad[p].
template <typename T>
inline void scatter_centres(const Geometry& g, const AxisTaps& rows, const AxisTaps& cols,
                            const T* grad, T* grad_x) {
  for (int oh = 0; oh < g.out_h; ++oh) {
    const int r = rows.source(g.centre_kh(), oh);
    if (r >= 0)
      scatter_row(cols, g.centre_kw(), grad + oh * g.out_w, static_cast<const T*>(nullptr),
                  grad_x + r * g.width);
  }
}

// Entry point NAME_S_cpu running NAME_cpu<T>, with the CUDA entry's arguments; the CPU
// launcher prefers it to NAME_S where the library has it. float and double only.
#define GCA_CPU_ENTRY2(T, S, NAME, A, OUT)                                            \
  extern "C" void NAME##_##S##_cpu(const T* A, T* OUT, GCA_GEOMETRY_PARAMS) {         \
    NAME##_cpu<T>(A, OUT, GCA_GEOMETRY);                                              \
  }
#define GCA_CPU_ENTRY3(T, S, NAME, A, B, OUT)                                         \
  extern "C" void NAME##_##S##_cpu(const T* A, const T* B, T* OUT,                    \
                                   GCA_GEOMETRY_PARAMS) {                             \
    NAME##_cpu<T>(A, B, OUT, GCA_GEOMETRY);                                           \
  }
#define GCA_CPU_ENTRY3X(T, S, NAME, A, B, OUT, X)                                     \
  extern "C" void NAME##_##S##_cpu(const T* A, const T* B, T* OUT,                    \
                                   GCA_GEOMETRY_PARAMS, int X) {                      \
    NAME##_cpu<T>(A, B, OUT, GCA_GEOMETRY, X);                                        \
  }
#define GCA_CPU_FOR_EACH_DTYPE(ENTRIES) \
  ENTRIES(float, float)                 \
  ENTRIES(double, double)

#endif  // GLUON_CONVATTN_CPU_PLANES_H_
