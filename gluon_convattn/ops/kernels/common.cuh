// Shared pieces of the sliding-window kernels: number types, the window geometry, and the
// gather loops that find, for one input pixel, every (tap, output position) that reads it.
//
// The same text compiles three ways: NVRTC (MXNet's mx.rtc, CuPy), nvcc, and g++ with
// emulation.h included first (GCA_EMULATION). Nothing here includes a CUDA header, so NVRTC
// needs no include path; it does need C++11 (lambdas), which NVRTC 11 is not by default.
#ifndef GLUON_CONVATTN_COMMON_CUH_
#define GLUON_CONVATTN_COMMON_CUH_

#if __cplusplus < 201103L
#error "the gluon_convattn kernels need C++11 or later: pass --std=c++11 to NVRTC"
#endif

#if !defined(GCA_EMULATION)
// IEEE half as raw bits; converted with PTX so no cuda_fp16.h is needed.
struct half_t {
  unsigned short bits;
};
#endif

// Num<DType>: the accumulation type and the conversions to and from it. half accumulates in
// float; float and double in themselves.
template <typename DType>
struct Num {
  typedef DType acc;
  __device__ __forceinline__ static acc load(DType v) { return v; }
  __device__ __forceinline__ static DType store(acc v) { return v; }
};

template <>
struct Num<half_t> {
  typedef float acc;
#if defined(GCA_EMULATION)
  static float load(half_t v) { return static_cast<float>(v); }
  static half_t store(float v) { return static_cast<half_t>(v); }
#else
  __device__ __forceinline__ static float load(half_t v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.bits));
    return f;
  }
  __device__ __forceinline__ static half_t store(float f) {
    half_t v;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(v.bits) : "f"(f));
    return v;
  }
#endif
};

#if defined(GCA_EMULATION)
// On the CPU the grid-stride loop is one loop over every index; with OpenMP (-fopenmp) its
// iterations are shared among the threads. Each iteration writes only its own element.
#if defined(_OPENMP)
#define GCA_PARALLEL_FOR _Pragma("omp parallel for schedule(static)")
#else
#define GCA_PARALLEL_FOR
#endif
#define GCA_LOOP(index, total) \
  GCA_PARALLEL_FOR for (int index = 0; index < (total); ++index)
#else
#define GCA_LOOP(index, total)                                                   \
  for (int index = blockIdx.x * blockDim.x + threadIdx.x; index < (total);       \
       index += blockDim.x * gridDim.x)
#endif

// Every kernel takes the geometry as these arguments, in this order.
#define GCA_GEOMETRY_PARAMS                                                         \
  int num, int channels, int height, int width, int out_h, int out_w, int kernel_h, \
      int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h, \
      int dilation_w, int pad_mode
#define GCA_GEOMETRY                                                                       \
  make_geometry(num, channels, height, width, out_h, out_w, kernel_h, kernel_w, stride_h,    \
                stride_w, pad_h, pad_w, dilation_h, dilation_w, pad_mode)

// ENTRIES(T, S) defines the extern "C" entry points of one dtype; S is the name suffix.
#define GCA_FOR_EACH_DTYPE(ENTRIES) \
  ENTRIES(float, float)             \
  ENTRIES(double, double)           \
  ENTRIES(half_t, half)

// Entry point NAME_S running NAME<T>: one array read (A) or two (A, B), then the array
// written (OUT), the geometry, and optionally one more int (X).
#define GCA_ENTRY2(T, S, NAME, A, OUT)                                                     \
  extern "C" __global__ void NAME##_##S(const T* A, T* OUT, GCA_GEOMETRY_PARAMS) {         \
    NAME<T>(A, OUT, GCA_GEOMETRY);                                                         \
  }
#define GCA_ENTRY3(T, S, NAME, A, B, OUT)                                                  \
  extern "C" __global__ void NAME##_##S(const T* A, const T* B, T* OUT,                    \
                                        GCA_GEOMETRY_PARAMS) {                             \
    NAME<T>(A, B, OUT, GCA_GEOMETRY);                                                      \
  }
#define GCA_ENTRY3X(T, S, NAME, A, B, OUT, X)                                              \
  extern "C" __global__ void NAME##_##S(const T* A, const T* B, T* OUT,                    \
                                        GCA_GEOMETRY_PARAMS, int X) {                      \
    NAME<T>(A, B, OUT, GCA_GEOMETRY, X);                                                   \
  }

// Input index read at padded coordinate `padded` of one axis, or -1 for a zero pad.
// Reflection needs pad < size, so one mirror suffices.
__device__ __forceinline__ int unpad(int padded, int pad, int size, int pad_mode) {
  const int i = padded - pad;
  if (i >= 0 && i < size) return i;
  if (pad_mode == 0) return -1;
  return i < 0 ? -i : 2 * (size - 1) - i;
}

// The padded coordinates of one axis whose value is input index i: itself, and under
// reflection its mirror images in the leading and trailing pads. Returns how many (1 to 3).
__device__ __forceinline__ int padded_images(int i, int pad, int size, int pad_mode,
                                             int* images) {
  int count = 0;
  images[count++] = i + pad;
  if (pad_mode == 1) {
    if (i >= 1 && i <= pad) images[count++] = pad - i;
    if (i <= size - 2 && i >= size - 1 - pad) images[count++] = pad + 2 * (size - 1) - i;
  }
  return count;
}

// Output index o with o * stride == offset, or -1 if there is none in [0, out).
__device__ __forceinline__ int output_at(int offset, int stride, int out) {
  if (offset < 0 || offset % stride != 0) return -1;
  const int o = offset / stride;
  return o < out ? o : -1;
}

struct Geometry {
  int num, channels, height, width, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w,
      pad_h, pad_w, dilation_h, dilation_w, pad_mode;

  __device__ __forceinline__ int taps() const { return kernel_h * kernel_w; }
  __device__ __forceinline__ int out_size() const { return out_h * out_w; }
  __device__ __forceinline__ int in_size() const { return height * width; }

  // The input row that kernel row kh of output row oh reads, or -1 for a zero pad; likewise
  // for columns. These two are where every kernel's window geometry comes from (the CPU loop
  // orders of kernels/cpu/ tabulate them per axis).
  __device__ __forceinline__ int row_source(int oh, int kh) const {
    return unpad(oh * stride_h + kh * dilation_h, pad_h, height, pad_mode);
  }
  __device__ __forceinline__ int col_source(int ow, int kw) const {
    return unpad(ow * stride_w + kw * dilation_w, pad_w, width, pad_mode);
  }
  __device__ __forceinline__ int centre_kh() const { return (kernel_h - 1) / 2; }
  __device__ __forceinline__ int centre_kw() const { return (kernel_w - 1) / 2; }
  // Offset within an input plane of kernel tap (kh, kw) of output (oh, ow), or -1 (zero pad).
  __device__ __forceinline__ int source(int oh, int ow, int kh, int kw) const {
    const int r = row_source(oh, kh), c = col_source(ow, kw);
    return (r < 0 || c < 0) ? -1 : r * width + c;
  }
  // Offset of tap `tap` of the window of output position p (-1: zero pad).
  __device__ __forceinline__ int tap_source(int p, int tap) const {
    return source(p / out_w, p % out_w, tap / kernel_w, tap % kernel_w);
  }
  // Offset of the centre of the window of output position p (-1: zero pad).
  __device__ __forceinline__ int centre_source(int p) const {
    return source(p / out_w, p % out_w, centre_kh(), centre_kw());
  }
};

__device__ __forceinline__ Geometry make_geometry(GCA_GEOMETRY_PARAMS) {
  Geometry g;
  g.num = num, g.channels = channels, g.height = height, g.width = width;
  g.out_h = out_h, g.out_w = out_w, g.kernel_h = kernel_h, g.kernel_w = kernel_w;
  g.stride_h = stride_h, g.stride_w = stride_w, g.pad_h = pad_h, g.pad_w = pad_w;
  g.dilation_h = dilation_h, g.dilation_w = dilation_w, g.pad_mode = pad_mode;
  return g;
}

// plane[offset] as the accumulation type, zero for a zero pad (offset -1).
template <typename DType>
__device__ __forceinline__ typename Num<DType>::acc value_at(const DType* plane, int offset) {
  return offset < 0 ? typename Num<DType>::acc(0) : Num<DType>::load(plane[offset]);
}

// Calls visit(tap, p) for every output position p and tap (kh, kw), kh in [kh0, kh1) and
// kw in [kw0, kw1), such that that tap of p's window reads input (row, col).
template <typename Visit>
__device__ __forceinline__ void for_each_reader(const Geometry& g, int row, int col, int kh0,
                                                int kh1, int kw0, int kw1, Visit visit) {
  int rows[3], cols[3];
  const int n_rows = padded_images(row, g.pad_h, g.height, g.pad_mode, rows);
  const int n_cols = padded_images(col, g.pad_w, g.width, g.pad_mode, cols);
  for (int a = 0; a < n_rows; ++a) {
    for (int kh = kh0; kh < kh1; ++kh) {
      const int oh = output_at(rows[a] - kh * g.dilation_h, g.stride_h, g.out_h);
      if (oh < 0) continue;
      for (int b = 0; b < n_cols; ++b) {
        for (int kw = kw0; kw < kw1; ++kw) {
          const int ow = output_at(cols[b] - kw * g.dilation_w, g.stride_w, g.out_w);
          if (ow >= 0) visit(kh * g.kernel_w + kw, oh * g.out_w + ow);
        }
      }
    }
  }
}

// Calls visit(tap, p) for every tap of every output position p that reads input (row, col).
template <typename Visit>
__device__ __forceinline__ void for_each_tap_reading(const Geometry& g, int row, int col,
                                                     Visit visit) {
  for_each_reader(g, row, col, 0, g.kernel_h, 0, g.kernel_w, visit);
}

// Calls visit(p) for every output position p whose window centre is input (row, col).
template <typename Visit>
__device__ __forceinline__ void for_each_centre_reading(const Geometry& g, int row, int col,
                                                        Visit visit) {
  const int kh = g.centre_kh(), kw = g.centre_kw();
  for_each_reader(g, row, col, kh, kh + 1, kw, kw + 1, [&](int, int p) { visit(p); });
}

// Gradient reaching input (row, col) through the window centres, from an output gradient
// plane laid out (taps, out_h * out_w): the sum over all taps of the positions it centres.
template <typename DType>
__device__ __forceinline__ typename Num<DType>::acc centre_grad(const Geometry& g,
                                                                const DType* grad, int row,
                                                                int col) {
  typename Num<DType>::acc sum = 0;
  const int taps = g.taps(), hw_out = g.out_size();
  for_each_centre_reading(g, row, col, [&](int p) {
    for (int t = 0; t < taps; ++t) sum += Num<DType>::load(grad[t * hw_out + p]);
  });
  return sum;
}

// Gradient reaching input (row, col) through the window taps, from the same layout.
template <typename DType>
__device__ __forceinline__ typename Num<DType>::acc tap_grad(const Geometry& g,
                                                             const DType* grad, int row,
                                                             int col) {
  typename Num<DType>::acc sum = 0;
  const int hw_out = g.out_size();
  for_each_tap_reading(g, row, col,
                       [&](int tap, int p) { sum += Num<DType>::load(grad[tap * hw_out + p]); });
  return sum;
}

#endif  // GLUON_CONVATTN_COMMON_CUH_
