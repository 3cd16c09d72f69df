// Batched products of small matrices, for the production CPU library: MXNet 1.9's CPU
// batch_dot runs one GEMM call after another (3-4x PyTorch's bmm on ACmix-Swin's 49x32 window
// matrices, 40 % of its training step). Here the batch is shared among the OpenMP threads and
// every product runs in a loop order whose innermost loop is contiguous.
//
//   out[i] = op_a(a[i]) . op_b(b[i]),  op(x) = x or x^T,  out[i] of shape (m, n), k inner.
#include <cstddef>
#include <vector>

namespace {

// out (m x n) = a (m x k) . b (k x n), or with b stored transposed (n x k); row-major.
template <typename T>
void product(const T* a, const T* b, T* out, int m, int n, int k, bool b_transposed) {
  if (b_transposed) {
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        T sum = 0;
        for (int l = 0; l < k; ++l) sum += a[i * k + l] * b[j * k + l];
        out[i * n + j] = sum;
      }
    return;
  }
  for (int i = 0; i < m * n; ++i) out[i] = 0;
  for (int i = 0; i < m; ++i)
    for (int l = 0; l < k; ++l) {
      const T ail = a[i * k + l];
      const T* brow = b + l * n;
      T* orow = out + i * n;
      for (int j = 0; j < n; ++j) orow[j] += ail * brow[j];
    }
}

template <typename T>
void batch_dot(const T* a, const T* b, T* out, int batch, int m, int n, int k,
               int transpose_a, int transpose_b) {
#pragma omp parallel
  {
    std::vector<T> a_rows(transpose_a ? static_cast<size_t>(m) * k : 0);
#pragma omp for schedule(static)
    for (int i = 0; i < batch; ++i) {
      const T* ai = a + static_cast<size_t>(i) * m * k;
      if (transpose_a) {                      // stored (k x m): copy into (m x k)
        for (int l = 0; l < k; ++l)
          for (int r = 0; r < m; ++r) a_rows[r * k + l] = ai[l * m + r];
        ai = a_rows.data();
      }
      product(ai, b + static_cast<size_t>(i) * k * n, out + static_cast<size_t>(i) * m * n, m,
              n, k, transpose_b != 0);
    }
  }
}

}  // namespace

#define GCA_BATCH_DOT_ENTRY(T, S)                                                          \
  extern "C" void batch_dot_##S(const T* a, const T* b, T* out, int batch, int m, int n,   \
                                int k, int transpose_a, int transpose_b) {                 \
    batch_dot<T>(a, b, out, batch, m, n, k, transpose_a, transpose_b);                     \
  }

GCA_BATCH_DOT_ENTRY(float, float)
GCA_BATCH_DOT_ENTRY(double, double)
