// Test-only: the CUDA keywords as clang's attributes, so that clang's CUDA front end can compile generated CUDA C for
// the device (-x cuda --cuda-device-only -nocudainc -nocudalib) without the CUDA toolkit's headers.
#pragma once
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __host__ __attribute__((host))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#include <__clang_cuda_builtin_vars.h>
