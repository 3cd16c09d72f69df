// Batched products of small matrices, for the production CPU library: MXNet 1.9's CPU
// batch_dot runs one GEMM call after another (3-4x PyTorch's bmm on ACmix-Swin's 49x32 window
// matrices, 40 % of its training step). Here the batch is shared among the OpenMP threads, and
// each product is copied into zero-padded row-major operands and computed in register blocks
// of 6 rows by 64 bytes (a plain loop nest ran 5x slower than MXNet where the product's sum
// ran along a row of b stored transposed, which the compiler cannot vectorise unreassociated).
//
//   out[i] = op_a(a[i]) . op_b(b[i]),  op(x) = x or x^T,  out[i] of shape (m, n), k inner.
#include <cstddef>
#include <vector>

namespace {

// An MR x (64 bytes) block of out = a . b, its rows held in vector accumulators over the whole k
// loop (GCC/Clang vector extensions: one 512-bit register, or two or four narrower ones).
template <typename T, int MR>
inline void full_block(const T* a, const T* b, T* out, int n, int k) {
  typedef T vec __attribute__((vector_size(64)));
  vec acc[MR];
  for (int r = 0; r < MR; ++r) acc[r] = vec{};
  for (int l = 0; l < k; ++l) {
    vec brow;
    __builtin_memcpy(&brow, b + static_cast<size_t>(l) * n, sizeof(vec));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r] += a[static_cast<size_t>(r) * k + l] * brow;
  }
  for (int r = 0; r < MR; ++r)
    __builtin_memcpy(out + static_cast<size_t>(r) * n, &acc[r], sizeof(vec));
}

constexpr int kRows = 6;  // rows of a block

template <typename T>
constexpr int block_cols() { return 64 / sizeof(T); }

inline int round_up(int x, int to) { return (x + to - 1) / to * to; }

// One thread's padded copies: a (m_pad x k), b (k x n_pad) and out (m_pad x n_pad), zero
// where they pad, so that every block is a full one.
template <typename T>
struct Scratch {
  int m_pad, n_pad;
  std::vector<T> a, b, out;
  Scratch(int m, int n, int k)
      : m_pad(round_up(m, kRows)), n_pad(round_up(n, block_cols<T>())),
        a(static_cast<size_t>(m_pad) * k, T(0)), b(static_cast<size_t>(k) * n_pad, T(0)),
        out(static_cast<size_t>(m_pad) * n_pad) {}
};

// a[i] (m x k, or k x m stored transposed) into s.a; b[i] (k x n, or n x k) into s.b.
template <typename T>
void load_operands(const T* a, const T* b, Scratch<T>& s, int m, int n, int k,
                   bool transpose_a, bool transpose_b) {
  for (int r = 0; r < m; ++r)
    for (int l = 0; l < k; ++l)
      s.a[static_cast<size_t>(r) * k + l] =
          transpose_a ? a[static_cast<size_t>(l) * m + r] : a[static_cast<size_t>(r) * k + l];
  for (int l = 0; l < k; ++l)
    for (int c = 0; c < n; ++c)
      s.b[static_cast<size_t>(l) * s.n_pad + c] =
          transpose_b ? b[static_cast<size_t>(c) * k + l] : b[static_cast<size_t>(l) * n + c];
}

template <typename T>
void batch_dot(const T* a, const T* b, T* out, int batch, int m, int n, int k,
               int transpose_a, int transpose_b) {
#pragma omp parallel
  {
    Scratch<T> s(m, n, k);
#pragma omp for schedule(static)
    for (int i = 0; i < batch; ++i) {
      load_operands(a + static_cast<size_t>(i) * m * k, b + static_cast<size_t>(i) * k * n, s,
                    m, n, k, transpose_a != 0, transpose_b != 0);
      for (int r = 0; r < s.m_pad; r += kRows)
        for (int c = 0; c < s.n_pad; c += block_cols<T>())
          full_block<T, kRows>(s.a.data() + static_cast<size_t>(r) * k, s.b.data() + c,
                               s.out.data() + static_cast<size_t>(r) * s.n_pad + c, s.n_pad, k);
      T* oi = out + static_cast<size_t>(i) * m * n;
      for (int r = 0; r < m; ++r)
        for (int c = 0; c < n; ++c)
          oi[static_cast<size_t>(r) * n + c] = s.out[static_cast<size_t>(r) * s.n_pad + c];
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
