// Lets g++ compile the kernel sources for the CPU (tests and benchmarks without a GPU).
// Include before the .cu file (g++ -include emulation.h -x c++ op.cu). One "thread" of one
// block walks the whole grid-stride loop, so every index is visited exactly once, in order.
// The kernels gather instead of scattering, so no atomics need emulating.
#ifndef GLUON_CONVATTN_EMULATION_H_
#define GLUON_CONVATTN_EMULATION_H_

#define GCA_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline

struct gca_dim3 {
  unsigned int x, y, z;
};
static const gca_dim3 threadIdx = {0, 0, 0};
static const gca_dim3 blockIdx = {0, 0, 0};
static const gca_dim3 blockDim = {1, 1, 1};
static const gca_dim3 gridDim = {1, 1, 1};

typedef _Float16 half_t;

#endif  // GLUON_CONVATTN_EMULATION_H_
