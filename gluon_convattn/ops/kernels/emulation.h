// Lets a C++ compiler build the kernel sources for the CPU: the production CPU kernels
// (g++ -fopenmp, the grid-stride loop shared among OpenMP threads) and the single-threaded
// build the tests check the kernel logic with. Include before the .cu file
// (g++ -include emulation.h -x c++ op.cu). The kernels gather instead of scattering, so no
// atomics need emulating and no two iterations write the same element.
#ifndef GLUON_CONVATTN_EMULATION_H_
#define GLUON_CONVATTN_EMULATION_H_

#define GCA_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline

typedef _Float16 half_t;

#endif  // GLUON_CONVATTN_EMULATION_H_
