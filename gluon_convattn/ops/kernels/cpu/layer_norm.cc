// Layer normalisation over the last axis, for the production CPU library (cpu_build.py
// compiles the files of this folder that end in .cc with OpenMP; the GPU uses MXNet's own
// LayerNorm). MXNet 1.9's CPU LayerNorm backward reduces through its generic broadcast
// machinery, several times slower than its forward; this is one pass over each row forward
// and two backward, rows shared among the OpenMP threads.
//
//   y = (x - mean) * rstd * gamma + beta,   rstd = 1 / sqrt(var + eps)   (per row)
//   grad_x = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)),  gy = grad * gamma
//   grad_gamma = sum over rows of grad * xhat,  grad_beta = sum over rows of grad
#include <cmath>
#include <cstddef>
#include <vector>

namespace {

constexpr int kLanes = 8;

// The sum of term(j) for j in [0, n), in double, over kLanes interleaved partial sums that the
// compiler can keep in one vector register (a plain running sum cannot be vectorised without
// reassociating it).
template <typename Term>
inline double lane_sum(int n, Term term) {
  double part[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] += term(j + l);
  double sum = 0;
  for (; j < n; ++j) sum += term(j);
  for (int l = 0; l < kLanes; ++l) sum += part[l];
  return sum;
}

template <typename T>
void row_statistics(const T* x, int cols, double eps, double* mean, double* rstd) {
  const double m = lane_sum(cols, [x](int j) { return static_cast<double>(x[j]); }) / cols;
  const double sq = lane_sum(cols, [x, m](int j) {
    const double d = x[j] - m;
    return d * d;
  });
  *mean = m;
  *rstd = 1.0 / std::sqrt(sq / cols + eps);
}

template <typename T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* out, int rows, int cols,
                        double eps) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < rows; ++i) {
    const T* xr = x + static_cast<size_t>(i) * cols;
    T* yr = out + static_cast<size_t>(i) * cols;
    double mean, rstd;
    row_statistics(xr, cols, eps, &mean, &rstd);
    const T m = static_cast<T>(mean), r = static_cast<T>(rstd);
    for (int j = 0; j < cols; ++j) yr[j] = (xr[j] - m) * r * gamma[j] + beta[j];
  }
}

// grad_x, grad_gamma and grad_beta may each be null (not needed).
template <typename T>
void layer_norm_backward(const T* grad, const T* x, const T* gamma, T* grad_x, T* grad_gamma,
                         T* grad_beta, int rows, int cols, double eps) {
  const bool params = grad_gamma || grad_beta;
  std::vector<double> dgamma(params ? cols : 0, 0.0), dbeta(params ? cols : 0, 0.0);
#pragma omp parallel
  {
    std::vector<double> my_dgamma(params ? cols : 0, 0.0), my_dbeta(params ? cols : 0, 0.0);
#pragma omp for schedule(static)
    for (int i = 0; i < rows; ++i) {
      const T* xr = x + static_cast<size_t>(i) * cols;
      const T* gr = grad + static_cast<size_t>(i) * cols;
      double mean, rstd;
      row_statistics(xr, cols, eps, &mean, &rstd);
      const double sum_gy = lane_sum(cols, [gr, gamma](int j) {
        return static_cast<double>(gr[j]) * gamma[j];
      });
      const double sum_gy_xhat = lane_sum(cols, [gr, gamma, xr, mean, rstd](int j) {
        return static_cast<double>(gr[j]) * gamma[j] * ((xr[j] - mean) * rstd);
      });
      if (params) {
        for (int j = 0; j < cols; ++j) {
          my_dgamma[j] += gr[j] * ((xr[j] - mean) * rstd);
          my_dbeta[j] += gr[j];
        }
      }
      if (grad_x) {
        const double mean_gy = sum_gy / cols, mean_gy_xhat = sum_gy_xhat / cols;
        T* dx = grad_x + static_cast<size_t>(i) * cols;
        for (int j = 0; j < cols; ++j) {
          const double xhat = (xr[j] - mean) * rstd;
          dx[j] = static_cast<T>(
              rstd * (static_cast<double>(gr[j]) * gamma[j] - mean_gy - xhat * mean_gy_xhat));
        }
      }
    }
    if (params) {
#pragma omp critical
      for (int j = 0; j < cols; ++j) dgamma[j] += my_dgamma[j], dbeta[j] += my_dbeta[j];
    }
  }
  for (int j = 0; params && j < cols; ++j) {
    if (grad_gamma) grad_gamma[j] = static_cast<T>(dgamma[j]);
    if (grad_beta) grad_beta[j] = static_cast<T>(dbeta[j]);
  }
}

}  // namespace

#define GCA_LAYER_NORM_ENTRIES(T, S)                                                         \
  extern "C" void layer_norm_forward_##S(const T* x, const T* gamma, const T* beta, T* out, \
                                         int rows, int cols, double eps) {                  \
    layer_norm_forward<T>(x, gamma, beta, out, rows, cols, eps);                             \
  }                                                                                          \
  extern "C" void layer_norm_backward_##S(const T* grad, const T* x, const T* gamma,         \
                                          T* grad_x, T* grad_gamma, T* grad_beta, int rows,  \
                                          int cols, double eps) {                            \
    layer_norm_backward<T>(grad, x, gamma, grad_x, grad_gamma, grad_beta, rows, cols, eps);  \
  }

GCA_LAYER_NORM_ENTRIES(float, float)
GCA_LAYER_NORM_ENTRIES(double, double)
