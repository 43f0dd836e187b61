/*
 * The effects on the GPU. The semantics are those of src/effects/reference.ts: neighbourhood
 * filters sample clamp-to-edge, blur and pixelate round their integer means half up, gaussian
 * accumulates in float and rounds half up at the end (the FIR below GAUSSIAN_RECURSIVE_MIN_SIGMA,
 * the recursive filter from it on), RGBA keeps alpha in grayscale, edge and invert. I420 planes
 * are launched one by one with the channels=1 kernels.
 *
 * Every kernel takes one argument struct by value, so the host side (src/cuda/filter-passes.ts) packs
 * one buffer per launch. The layouts are fixed by the static_asserts below and mirrored there.
 *
 * All kernels loop over rows with a grid stride, so any height fits the 65535 limit of gridDim.y.
 * Kernels that synchronise a block (gaussian_h, pixelate) keep their loop bounds uniform across
 * the block, so every thread reaches every __syncthreads().
 *
 * Compiled to PTX by scripts/build-ptx.mjs, and as plain C++ by the emulator in src/cuda/emulator
 * so that the tests exercise this very code on machines without a GPU.
 */
#include <stddef.h>

// ceil(3 * 32): the radius of the largest sigma the catalogue allows (src/effects/catalog.ts).
#define RTC_MAX_RADIUS 96
// Threads per block of the gaussian row pass: the width of one shared-memory tile.
#define RTC_GAUSS_TILE_W 128
#define RTC_GAUSS_ROWS 2
// Output rows per thread of the gaussian column pass.
#define RTC_GAUSS_COLUMN_OUTPUTS 4
// Threads per block of pixelate (one block per tile): a power of two for the tree reduction.
#define RTC_PIXELATE_THREADS 256
// Tiles up to this edge are summed by one thread each: a block of 256 threads and ten barriers
// for a 2x2 tile would spend almost everything on idle threads and synchronisation.
#define RTC_PIXELATE_SMALL_MAX 8

struct PlaneArgs {
  const unsigned char *src;
  unsigned char *dst;
  int width;
  int height;
  int block; /* pixelate: tile edge in pixels; unused elsewhere */
  int reserved;
};

struct GaussArgs {
  const void *in;  /* row pass: bytes; column pass: floats from the row pass */
  void *out;       /* row pass: floats; column pass: bytes */
  int width;
  int height;
  int radius;      /* the FIR's; unused by the recursive kernels */
  int reserved;
  /* FIR: w[0..radius], normalised as in gaussianWeights(); recursive: the RTC_IIR_* coefficients */
  float weights[RTC_MAX_RADIUS + 1];
};

/* The recursive kernels' coefficients in GaussArgs.weights (src/cuda/gaussian-coefficients.ts). */
#define RTC_IIR_A1 0
#define RTC_IIR_A2 1
#define RTC_IIR_E1 2
#define RTC_IIR_E2 3
#define RTC_IIR_C0 4
#define RTC_IIR_C1 5
#define RTC_IIR_F0 6
#define RTC_IIR_F1 7
#define RTC_IIR_D1 8
#define RTC_IIR_D2 9
#define RTC_IIR_G1 10
#define RTC_IIR_G2 11
#define RTC_IIR_IA 12
#define RTC_IIR_IB 13

static_assert(sizeof(PlaneArgs) == 32, "PlaneArgs layout is mirrored in src/cuda/filter-passes.ts");
static_assert(offsetof(PlaneArgs, width) == 16 && offsetof(PlaneArgs, block) == 24, "PlaneArgs layout");
static_assert(sizeof(GaussArgs) == 424, "GaussArgs layout is mirrored in src/cuda/filter-passes.ts");
static_assert(offsetof(GaussArgs, radius) == 24 && offsetof(GaussArgs, weights) == 32, "GaussArgs layout");

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }
__device__ __forceinline__ int clampi(int v, int lo, int hi) { return imin(imax(v, lo), hi); }
__device__ __forceinline__ int iabs(int v) { return v < 0 ? -v : v; }
__device__ __forceinline__ unsigned char clampByte(int v) { return (unsigned char)clampi(v, 0, 255); }

/* One pixel of C 8-bit channels, widened to int for arithmetic. RGBA moves as one uchar4. */
template <int C> struct Px {
  int v[C];
};

template <int C> __device__ __forceinline__ Px<C> loadPx(const unsigned char *__restrict__ row, int x);
template <> __device__ __forceinline__ Px<4> loadPx<4>(const unsigned char *__restrict__ row, int x) {
  const uchar4 u = reinterpret_cast<const uchar4 *>(row)[x];
  Px<4> p = {{u.x, u.y, u.z, u.w}};
  return p;
}
template <> __device__ __forceinline__ Px<1> loadPx<1>(const unsigned char *__restrict__ row, int x) {
  Px<1> p = {{row[x]}};
  return p;
}

template <int C> __device__ __forceinline__ void storePx(unsigned char *__restrict__ row, int x, const Px<C> &p);
template <> __device__ __forceinline__ void storePx<4>(unsigned char *__restrict__ row, int x, const Px<4> &p) {
  reinterpret_cast<uchar4 *>(row)[x] =
      make_uchar4((unsigned char)p.v[0], (unsigned char)p.v[1], (unsigned char)p.v[2], (unsigned char)p.v[3]);
}
template <> __device__ __forceinline__ void storePx<1>(unsigned char *__restrict__ row, int x, const Px<1> &p) {
  row[x] = (unsigned char)p.v[0];
}

__device__ __forceinline__ const unsigned char *rowOf(const unsigned char *plane, int y, int width, int channels) {
  return plane + (size_t)y * (size_t)width * (size_t)channels;
}
__device__ __forceinline__ unsigned char *rowOf(unsigned char *plane, int y, int width, int channels) {
  return plane + (size_t)y * (size_t)width * (size_t)channels;
}

/* The clamped 3x3 neighbourhood of (x, y): n[dy + 1][dx + 1]. */
template <int C>
__device__ __forceinline__ void load3x3(const PlaneArgs &a, int x, int y, Px<C> (&n)[3][3]) {
  const int xs[3] = {imax(x - 1, 0), x, imin(x + 1, a.width - 1)};
  const int ys[3] = {imax(y - 1, 0), y, imin(y + 1, a.height - 1)};
#pragma unroll
  for (int j = 0; j < 3; ++j) {
    const unsigned char *row = rowOf(a.src, ys[j], a.width, C);
#pragma unroll
    for (int i = 0; i < 3; ++i) n[j][i] = loadPx<C>(row, xs[i]);
  }
}

/* f(x, y) for every pixel of the plane: x from the grid, y with a grid stride. */
template <typename F> __device__ __forceinline__ void forEachPixel(int width, int height, F f) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  if (x >= width) return;
  for (int y = blockIdx.y * blockDim.y + threadIdx.y; y < height; y += gridDim.y * blockDim.y) f(x, y);
}

template <int C> __device__ void blur3x3(const PlaneArgs &a) {
  forEachPixel(a.width, a.height, [&](int x, int y) {
    Px<C> n[3][3];
    load3x3<C>(a, x, y, n);
    Px<C> out;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      int sum = 0;
#pragma unroll
      for (int j = 0; j < 3; ++j)
#pragma unroll
        for (int i = 0; i < 3; ++i) sum += n[j][i].v[c];
      out.v[c] = (sum + 4) / 9;
    }
    storePx<C>(rowOf(a.dst, y, a.width, C), x, out);
  });
}

template <int C> __device__ void sharpen3x3(const PlaneArgs &a) {
  forEachPixel(a.width, a.height, [&](int x, int y) {
    Px<C> n[3][3];
    load3x3<C>(a, x, y, n);
    Px<C> out;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      out.v[c] = clampByte(5 * n[1][1].v[c] - n[0][1].v[c] - n[1][0].v[c] - n[1][2].v[c] - n[2][1].v[c]);
    }
    storePx<C>(rowOf(a.dst, y, a.width, C), x, out);
  });
}

/* Sobel |gx| + |gy|, saturated; RGBA keeps the source alpha. */
template <int C> __device__ void sobel3x3(const PlaneArgs &a) {
  forEachPixel(a.width, a.height, [&](int x, int y) {
    Px<C> n[3][3];
    load3x3<C>(a, x, y, n);
    Px<C> out;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int gx = (n[0][2].v[c] + 2 * n[1][2].v[c] + n[2][2].v[c]) - (n[0][0].v[c] + 2 * n[1][0].v[c] + n[2][0].v[c]);
      const int gy = (n[2][0].v[c] + 2 * n[2][1].v[c] + n[2][2].v[c]) - (n[0][0].v[c] + 2 * n[0][1].v[c] + n[0][2].v[c]);
      out.v[c] = imin(255, iabs(gx) + iabs(gy));
    }
    if (C == 4) out.v[C - 1] = n[1][1].v[C - 1];
    storePx<C>(rowOf(a.dst, y, a.width, C), x, out);
  });
}

/*
 * How the gaussian passes move C channels: a source sample (one uchar4 per RGBA pixel, one byte
 * per plane sample) and its float form (float4 or float), in which the intermediate is kept.
 */
template <int C> struct Lanes;
template <> struct Lanes<4> {
  typedef uchar4 Sample;
  typedef float4 Wide;
  static __device__ __forceinline__ float4 widen(uchar4 s) { return make_float4((float)s.x, (float)s.y, (float)s.z, (float)s.w); }
  static __device__ __forceinline__ float4 load(const float *p) { return reinterpret_cast<const float4 *>(p)[0]; }
  static __device__ __forceinline__ void add(float (&acc)[4], float w, const float4 &v) {
    acc[0] += w * v.x;
    acc[1] += w * v.y;
    acc[2] += w * v.z;
    acc[3] += w * v.w;
  }
  static __device__ __forceinline__ void store(float *p, const float (&acc)[4]) {
    reinterpret_cast<float4 *>(p)[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
  }
};
template <> struct Lanes<1> {
  typedef unsigned char Sample;
  typedef float Wide;
  static __device__ __forceinline__ float widen(unsigned char s) { return (float)s; }
  static __device__ __forceinline__ float load(const float *p) { return p[0]; }
  static __device__ __forceinline__ void add(float (&acc)[1], float w, float v) { acc[0] += w * v; }
  static __device__ __forceinline__ void store(float *p, const float (&acc)[1]) { p[0] = acc[0]; }
};

/*
 * Row pass: bytes in, unrounded floats out (as the reference keeps its horizontal pass in f64).
 * A block of RTC_GAUSS_TILE_W x RTC_GAUSS_ROWS threads stages its rows, with `radius` clamped
 * samples on each side, in shared memory, already converted to float: each source byte is read
 * from global memory and converted once, not 2r + 1 times.
 */
template <int C> __device__ void gaussianRows(const GaussArgs &a) {
  typedef typename Lanes<C>::Sample S;
  typedef typename Lanes<C>::Wide W;
  __shared__ W tile[RTC_GAUSS_ROWS][RTC_GAUSS_TILE_W + 2 * RTC_MAX_RADIUS];
  const S *__restrict__ in = static_cast<const S *>(a.in);
  float *__restrict__ out = static_cast<float *>(a.out);
  const int r = a.radius;
  const int span = (int)blockDim.x + 2 * r;
  const int x0 = blockIdx.x * blockDim.x;
  const int x = x0 + threadIdx.x;
  for (int y0 = blockIdx.y * blockDim.y; y0 < a.height; y0 += gridDim.y * blockDim.y) {
    const int y = y0 + threadIdx.y;
    if (y < a.height) {
      const S *row = in + (size_t)y * (size_t)a.width;
      for (int i = threadIdx.x; i < span; i += blockDim.x) tile[threadIdx.y][i] = Lanes<C>::widen(row[clampi(x0 - r + i, 0, a.width - 1)]);
    }
    __syncthreads();
    if (y < a.height && x < a.width) {
      float acc[C];
#pragma unroll
      for (int c = 0; c < C; ++c) acc[c] = 0.0f;
      const W *t = &tile[threadIdx.y][threadIdx.x + r];
      for (int k = -r; k <= r; ++k) Lanes<C>::add(acc, a.weights[k < 0 ? -k : k], t[k]);
      Lanes<C>::store(out + ((size_t)y * (size_t)a.width + (size_t)x) * C, acc);
    }
    __syncthreads();
  }
}

/*
 * Column pass: floats in, bytes out, rounded half up and saturated. Each thread computes
 * RTC_GAUSS_COLUMN_OUTPUTS vertically adjacent outputs from one sweep over the source rows they
 * share, so a row is loaded once for all of them (2r + 4 loads for 4 outputs instead of 4 (2r + 1));
 * each output still adds its taps in the order k = -r .. r. Neighbouring threads read neighbouring
 * columns, so every load is one coalesced row segment.
 */
template <int C> __device__ void gaussianColumns(const GaussArgs &a) {
  typedef typename Lanes<C>::Wide W;
  const float *__restrict__ in = static_cast<const float *>(a.in);
  unsigned char *__restrict__ out = static_cast<unsigned char *>(a.out);
  const int r = a.radius;
  const size_t rowFloats = (size_t)a.width * C;
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  if (x >= a.width) return;
  const int step = gridDim.y * blockDim.y * RTC_GAUSS_COLUMN_OUTPUTS;
  for (int y0 = (blockIdx.y * blockDim.y + threadIdx.y) * RTC_GAUSS_COLUMN_OUTPUTS; y0 < a.height; y0 += step) {
    float acc[RTC_GAUSS_COLUMN_OUTPUTS][C];
#pragma unroll
    for (int j = 0; j < RTC_GAUSS_COLUMN_OUTPUTS; ++j)
#pragma unroll
      for (int c = 0; c < C; ++c) acc[j][c] = 0.0f;
    for (int s = -r; s < RTC_GAUSS_COLUMN_OUTPUTS + r; ++s) {
      const W v = Lanes<C>::load(in + (size_t)clampi(y0 + s, 0, a.height - 1) * rowFloats + (size_t)x * C);
#pragma unroll
      for (int j = 0; j < RTC_GAUSS_COLUMN_OUTPUTS; ++j) {
        const int k = s - j;  // this source row's offset from output row y0 + j
        if (k >= -r && k <= r) Lanes<C>::add(acc[j], a.weights[k < 0 ? -k : k], v);
      }
    }
#pragma unroll
    for (int j = 0; j < RTC_GAUSS_COLUMN_OUTPUTS; ++j) {
      if (y0 + j >= a.height) break;
      Px<C> p;
#pragma unroll
      for (int c = 0; c < C; ++c) p.v[c] = clampByte((int)floorf(acc[j][c] + 0.5f));
      storePx<C>(rowOf(out, y0 + j, a.width, C), x, p);
    }
  }
}

/*
 * The recursive Gaussian (src/effects/reference.ts, recursiveGaussianLine): along a line, two
 * second-order sections run causally and anticausally, each from its steady state for the
 * clamped edge value, and summed. One thread per line; `at(i)` gives the line's i-th sample,
 * `put(i, y)` receives the causal sum, `add(i, y)` the anticausal one (after the causal pass).
 */
template <int C, typename At, typename Put, typename Add>
__device__ __forceinline__ void recursiveLine(const float *__restrict__ k, int len, At at, Put put, Add add) {
  const float a1 = k[RTC_IIR_A1], a2 = k[RTC_IIR_A2], e1 = k[RTC_IIR_E1], e2 = k[RTC_IIR_E2];
  float wa1[C], wa2[C], wb1[C], wb2[C], x[C], y[C];
  at(0, x);
#pragma unroll
  for (int c = 0; c < C; ++c) {
    wa1[c] = wa2[c] = x[c] * k[RTC_IIR_IA];
    wb1[c] = wb2[c] = x[c] * k[RTC_IIR_IB];
  }
  for (int i = 0; i < len; ++i) {
    at(i, x);
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const float wa = x[c] - a1 * wa1[c] - a2 * wa2[c];
      const float wb = x[c] - e1 * wb1[c] - e2 * wb2[c];
      y[c] = k[RTC_IIR_C0] * wa + k[RTC_IIR_C1] * wa1[c] + k[RTC_IIR_F0] * wb + k[RTC_IIR_F1] * wb1[c];
      wa2[c] = wa1[c];
      wa1[c] = wa;
      wb2[c] = wb1[c];
      wb1[c] = wb;
    }
    put(i, y);
  }
  at(len - 1, x);
#pragma unroll
  for (int c = 0; c < C; ++c) {
    wa1[c] = wa2[c] = x[c] * k[RTC_IIR_IA];
    wb1[c] = wb2[c] = x[c] * k[RTC_IIR_IB];
  }
  for (int i = len - 1; i >= 0; --i) {
    at(i, x);
#pragma unroll
    for (int c = 0; c < C; ++c) {
      y[c] = k[RTC_IIR_D1] * wa1[c] + k[RTC_IIR_D2] * wa2[c] + k[RTC_IIR_G1] * wb1[c] + k[RTC_IIR_G2] * wb2[c];
      const float wa = x[c] - a1 * wa1[c] - a2 * wa2[c];
      const float wb = x[c] - e1 * wb1[c] - e2 * wb2[c];
      wa2[c] = wa1[c];
      wa1[c] = wa;
      wb2[c] = wb1[c];
      wb1[c] = wb;
    }
    add(i, y);
  }
}

/* Row pass: bytes in, the unrounded horizontal result out (floats), one thread per row. */
template <int C> __device__ void recursiveRows(const GaussArgs &a) {
  const unsigned char *__restrict__ in = static_cast<const unsigned char *>(a.in);
  float *__restrict__ out = static_cast<float *>(a.out);
  for (int y = blockIdx.x * blockDim.x + threadIdx.x; y < a.height; y += gridDim.x * blockDim.x) {
    const unsigned char *row = rowOf(in, y, a.width, C);
    float *o = out + (size_t)y * (size_t)a.width * C;
    recursiveLine<C>(
        a.weights, a.width,
        [&](int i, float (&x)[C]) {
          const Px<C> p = loadPx<C>(row, i);
#pragma unroll
          for (int c = 0; c < C; ++c) x[c] = (float)p.v[c];
        },
        [&](int i, const float (&v)[C]) {
#pragma unroll
          for (int c = 0; c < C; ++c) o[(size_t)i * C + c] = v[c];
        },
        [&](int i, const float (&v)[C]) {
#pragma unroll
          for (int c = 0; c < C; ++c) o[(size_t)i * C + c] += v[c];
        });
  }
}

/*
 * Column pass: the row pass's floats in, bytes out, rounded half up and saturated, one thread per
 * column (neighbouring threads read neighbouring columns: coalesced). The causal sums wait in the
 * second float plane of the intermediate, after the row pass's.
 */
template <int C> __device__ void recursiveColumns(const GaussArgs &a) {
  const float *__restrict__ in = static_cast<const float *>(a.in);
  float *__restrict__ causal = const_cast<float *>(in) + (size_t)a.width * (size_t)a.height * C;
  unsigned char *__restrict__ out = static_cast<unsigned char *>(a.out);
  const size_t rowFloats = (size_t)a.width * C;
  for (int x = blockIdx.x * blockDim.x + threadIdx.x; x < a.width; x += gridDim.x * blockDim.x) {
    recursiveLine<C>(
        a.weights, a.height,
        [&](int i, float (&v)[C]) {
#pragma unroll
          for (int c = 0; c < C; ++c) v[c] = in[(size_t)i * rowFloats + (size_t)x * C + c];
        },
        [&](int i, const float (&v)[C]) {
#pragma unroll
          for (int c = 0; c < C; ++c) causal[(size_t)i * rowFloats + (size_t)x * C + c] = v[c];
        },
        [&](int i, const float (&v)[C]) {
          Px<C> p;
#pragma unroll
          for (int c = 0; c < C; ++c) p.v[c] = clampByte((int)floorf(causal[(size_t)i * rowFloats + (size_t)x * C + c] + v[c] + 0.5f));
          storePx<C>(rowOf(out, i, a.width, C), x, p);
        });
  }
}

/* Tiles of at most RTC_PIXELATE_SMALL_MAX^2 pixels: one thread per tile, the same rounding. */
template <int C> __device__ void pixelateSmallTiles(const PlaneArgs &a) {
  const int block = a.block;
  const int tilesX = (a.width + block - 1) / block;
  const int tilesY = (a.height + block - 1) / block;
  forEachPixel(tilesX, tilesY, [&](int tx, int ty) {
    const int xs = tx * block, ys = ty * block;
    const int xe = imin(xs + block, a.width), ye = imin(ys + block, a.height);
    const unsigned int count = (unsigned int)((xe - xs) * (ye - ys));
    unsigned int sum[C];
#pragma unroll
    for (int c = 0; c < C; ++c) sum[c] = 0;
    for (int y = ys; y < ye; ++y) {
      const unsigned char *row = rowOf(a.src, y, a.width, C);
      for (int x = xs; x < xe; ++x) {
        const Px<C> p = loadPx<C>(row, x);
#pragma unroll
        for (int c = 0; c < C; ++c) sum[c] += (unsigned int)p.v[c];
      }
    }
    Px<C> mean;
#pragma unroll
    for (int c = 0; c < C; ++c) mean.v[c] = (int)((sum[c] + count / 2) / count);
    for (int y = ys; y < ye; ++y) {
      unsigned char *row = rowOf(a.dst, y, a.width, C);
      for (int x = xs; x < xe; ++x) storePx<C>(row, x, mean);
    }
  });
}

/*
 * Larger tiles, one block per tile: the block sums the tile (a strided loop, then a tree reduction in shared
 * memory), takes the mean rounded half up as the reference does, (sum + count / 2) / count, and
 * fills the tile with it. 256 x 256 x 255 fits in 32 bits.
 */
template <int C> __device__ void pixelateTiles(const PlaneArgs &a) {
  __shared__ unsigned int sums[C][RTC_PIXELATE_THREADS];
  const int block = a.block;
  const int tilesX = (a.width + block - 1) / block;
  const int tilesY = (a.height + block - 1) / block;
  const int t = threadIdx.x;
  for (int ty = blockIdx.y; ty < tilesY; ty += gridDim.y) {
    for (int tx = blockIdx.x; tx < tilesX; tx += gridDim.x) {
      const int xs = tx * block, ys = ty * block;
      const int tw = imin(block, a.width - xs), th = imin(block, a.height - ys);
      const int count = tw * th;
      unsigned int acc[C];
#pragma unroll
      for (int c = 0; c < C; ++c) acc[c] = 0;
      for (int i = t; i < count; i += RTC_PIXELATE_THREADS) {
        const Px<C> p = loadPx<C>(rowOf(a.src, ys + i / tw, a.width, C), xs + i % tw);
#pragma unroll
        for (int c = 0; c < C; ++c) acc[c] += (unsigned int)p.v[c];
      }
#pragma unroll
      for (int c = 0; c < C; ++c) sums[c][t] = acc[c];
      __syncthreads();
      for (int s = RTC_PIXELATE_THREADS / 2; s > 0; s >>= 1) {
        if (t < s) {
#pragma unroll
          for (int c = 0; c < C; ++c) sums[c][t] += sums[c][t + s];
        }
        __syncthreads();
      }
      Px<C> mean;
#pragma unroll
      for (int c = 0; c < C; ++c) mean.v[c] = (int)((sums[c][0] + (unsigned int)(count / 2)) / (unsigned int)count);
      for (int i = t; i < count; i += RTC_PIXELATE_THREADS) storePx<C>(rowOf(a.dst, ys + i / tw, a.width, C), xs + i % tw, mean);
      // The next tile overwrites sums only after every thread has read this tile's mean.
      __syncthreads();
    }
  }
}

/* BT.601 luma in 8.8 fixed point, as the reference: (77 r + 150 g + 29 b + 128) >> 8. */
__device__ void grayscaleRgba(const PlaneArgs &a) {
  forEachPixel(a.width, a.height, [&](int x, int y) {
    const Px<4> p = loadPx<4>(rowOf(a.src, y, a.width, 4), x);
    const int l = (77 * p.v[0] + 150 * p.v[1] + 29 * p.v[2] + 128) >> 8;
    const Px<4> out = {{l, l, l, p.v[3]}};
    storePx<4>(rowOf(a.dst, y, a.width, 4), x, out);
  });
}

__device__ void invertRgba(const PlaneArgs &a) {
  forEachPixel(a.width, a.height, [&](int x, int y) {
    const Px<4> p = loadPx<4>(rowOf(a.src, y, a.width, 4), x);
    const Px<4> out = {{255 - p.v[0], 255 - p.v[1], 255 - p.v[2], p.v[3]}};
    storePx<4>(rowOf(a.dst, y, a.width, 4), x, out);
  });
}

/* Every byte of the frame (I420: Y, U and V in one launch as a width x 1 "plane"). */
__device__ void invertBytes(const PlaneArgs &a) {
  forEachPixel(a.width, a.height, [&](int x, int y) {
    const unsigned char *s = rowOf(a.src, y, a.width, 1);
    rowOf(a.dst, y, a.width, 1)[x] = (unsigned char)(255 - s[x]);
  });
}

extern "C" {
__global__ void rtc_blur_c4(const PlaneArgs a) { blur3x3<4>(a); }
__global__ void rtc_blur_c1(const PlaneArgs a) { blur3x3<1>(a); }
__global__ void rtc_sharpen_c4(const PlaneArgs a) { sharpen3x3<4>(a); }
__global__ void rtc_sharpen_c1(const PlaneArgs a) { sharpen3x3<1>(a); }
__global__ void rtc_edge_c4(const PlaneArgs a) { sobel3x3<4>(a); }
__global__ void rtc_edge_c1(const PlaneArgs a) { sobel3x3<1>(a); }
__global__ void rtc_gaussian_rows_c4(const GaussArgs a) { gaussianRows<4>(a); }
__global__ void rtc_gaussian_rows_c1(const GaussArgs a) { gaussianRows<1>(a); }
__global__ void rtc_gaussian_columns_c4(const GaussArgs a) { gaussianColumns<4>(a); }
__global__ void rtc_gaussian_columns_c1(const GaussArgs a) { gaussianColumns<1>(a); }
__global__ void rtc_gaussian_recursive_rows_c4(const GaussArgs a) { recursiveRows<4>(a); }
__global__ void rtc_gaussian_recursive_rows_c1(const GaussArgs a) { recursiveRows<1>(a); }
__global__ void rtc_gaussian_recursive_columns_c4(const GaussArgs a) { recursiveColumns<4>(a); }
__global__ void rtc_gaussian_recursive_columns_c1(const GaussArgs a) { recursiveColumns<1>(a); }
__global__ void rtc_pixelate_c4(const PlaneArgs a) { pixelateTiles<4>(a); }
__global__ void rtc_pixelate_c1(const PlaneArgs a) { pixelateTiles<1>(a); }
__global__ void rtc_pixelate_small_c4(const PlaneArgs a) { pixelateSmallTiles<4>(a); }
__global__ void rtc_pixelate_small_c1(const PlaneArgs a) { pixelateSmallTiles<1>(a); }
__global__ void rtc_grayscale_rgba(const PlaneArgs a) { grayscaleRgba(a); }
__global__ void rtc_invert_rgba(const PlaneArgs a) { invertRgba(a); }
__global__ void rtc_invert_bytes(const PlaneArgs a) { invertBytes(a); }
}
