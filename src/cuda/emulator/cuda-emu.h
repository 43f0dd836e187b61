/*
 * What src/cuda/kernels.cu needs to compile as host C++: the CUDA qualifiers, vector types and
 * built-in variables. The built-ins are per OS thread; within a launch the emulator runs the
 * threads of one block as fibers on that OS thread, so `__shared__` (a function-local static per
 * OS thread) is shared by exactly the threads of the block being run, as on the GPU.
 */
#pragma once

#include <math.h>
#include <stddef.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local

struct alignas(4) uchar4 {
  unsigned char x, y, z, w;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct uint3 {
  unsigned int x, y, z;
};

inline uchar4 make_uchar4(unsigned char x, unsigned char y, unsigned char z, unsigned char w) { return uchar4{x, y, z, w}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local uint3 blockDim;
extern thread_local uint3 gridDim;

void __syncthreads();
