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
// The math functions generated code calls, as CUDA's headers define them (libdevice's __nv_* or NVVM built-ins).
extern "C" __device__ float __nv_sinf(float);
extern "C" __device__ float __nv_cosf(float);
extern "C" __device__ float __nv_tanhf(float);
static __device__ __forceinline__ float sinf(float x) { return __nv_sinf(x); }
static __device__ __forceinline__ float cosf(float x) { return __nv_cosf(x); }
static __device__ __forceinline__ float tanhf(float x) { return __nv_tanhf(x); }
// Those of the runtime's training kernels (Runtime/Cuda/CudaTrainingKernels.cs).
extern "C" __device__ float __nv_sqrtf(float);
extern "C" __device__ double __nv_sqrt(double);
extern "C" __device__ double __nv_exp(double);
extern "C" __device__ double __nv_log(double);
extern "C" __device__ double __nv_erf(double);
static __device__ __forceinline__ float sqrtf(float x) { return __nv_sqrtf(x); }
static __device__ __forceinline__ double sqrt(double x) { return __nv_sqrt(x); }
static __device__ __forceinline__ double exp(double x) { return __nv_exp(x); }
static __device__ __forceinline__ double log(double x) { return __nv_log(x); }
static __device__ __forceinline__ double erf(double x) { return __nv_erf(x); }
static __device__ __forceinline__ float __fadd_rn(float a, float b) { return __nvvm_add_rn_f(a, b); }
static __device__ __forceinline__ float __fmul_rn(float a, float b) { return __nvvm_mul_rn_f(a, b); }
static __device__ __forceinline__ float __fdiv_rn(float a, float b) { return __nvvm_div_rn_f(a, b); }
static __device__ __forceinline__ float __fsqrt_rn(float a) { return __nvvm_sqrt_rn_f(a); }
