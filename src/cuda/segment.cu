/*
 * Person segmentation and background blur on the GPU: the layers of the network that
 * src/segmentation/graph-load.ts reads from a TF.js graph model (NHWC float32, batch 1), and the
 * steps around it (frame -> model input, mask -> alpha, blur, blend). The semantics are those of
 * src/segmentation/graph-reference.ts and graph-frame.ts, which the tests hold these kernels to.
 *
 * One thread per output value, with a grid-stride loop, and no shared memory or barriers: the
 * network is small (a 256x256 input, at most 128 channels), so the layers are bound by launch
 * count and memory traffic rather than arithmetic, and neighbouring threads (neighbouring output
 * channels of one pixel) read neighbouring weights and the same input pixel.
 *
 * Every kernel takes one argument struct by value (SegArgs for layers, SegFrameArgs for the frame
 * steps); src/cuda/segment-args.ts packs them, and the layouts below are mirrored there.
 *
 * Compiled to PTX (src/cuda/ptx/segment.ptx) by scripts/build-ptx.mjs, and as host C++ by the
 * emulated driver in src/cuda/emulator.
 */
#include <stddef.h>

#ifndef __CUDACC__
/* The emulator's host build (src/cuda/emulator): the rounded single-precision operations the edge's ramp spells out so that nvcc does not fuse them. */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
#endif

#define RTC_SEG_ACT_NONE 0
#define RTC_SEG_ACT_RELU 1
#define RTC_SEG_ACT_RELU6 2
#define RTC_SEG_ACT_SIGMOID 3
#define RTC_SEG_ACT_HSWISH 4

#define RTC_SEG_FLAG_HALF_PIXEL 1
#define RTC_SEG_FLAG_ALIGN_CORNERS 2
#define RTC_SEG_FLAG_BROADCAST 4

// The largest blur radius the frame kernels take: ceil(3 * sigma) for sigma up to 32 on the quarter grid.
#define RTC_SEG_MAX_RADIUS 96

#define RTC_SEG_BACKDROP_BLUR 0
#define RTC_SEG_BACKDROP_COLOUR 1
#define RTC_SEG_BACKDROP_IMAGE 2

struct SegArgs {
  const float *in;
  const float *in2;    /* add, mul: the second operand */
  const float *filter; /* conv2d: [kh][kw][inC][outC]; depthwise: [kh][kw][C]; deconv: [kh][kw][outC][inC] */
  const float *bias;   /* [outC] */
  float *out;
  int inH, inW, inC;
  int outH, outW, outC;
  int kh, kw, strideH, strideW, padTop, padLeft;
  int act;   /* RTC_SEG_ACT_* */
  int flags; /* RTC_SEG_FLAG_* */
  float scaleH, scaleW; /* resize: input size / output size (or (in-1)/(out-1) for align corners) */
  int reserved[2];
};

struct SegFrameArgs {
  const unsigned char *src; /* the frame's plane (RGBA, or one I420 plane); to_input_i420: Y, with U and V after it */
  unsigned char *dst;       /* the output plane */
  const float *prob;        /* model output, maskH x maskW x maskC; channel 0 is the person probability */
  unsigned char *mask;      /* the (smoothed) person mask, maskH x maskW bytes, 255 = person */
  float *work;              /* to_input: the model input (maskH x maskW x 3); blur: three quarter-grid planes of floats */
  const unsigned char *bg;  /* backdrop image plane, same layout as src (mode RTC_SEG_BACKDROP_IMAGE) */
  int width, height;        /* the plane (to_input: the frame) */
  int maskH, maskW, maskC;
  int radius;
  int mode;                 /* RTC_SEG_BACKDROP_* */
  unsigned int colour;      /* mode colour: RGBA bytes (little-endian u32) or the plane's byte */
  float featherLow, featherHigh; /* the alpha ramp on mask / 255 */
  float newWeight;          /* mask_update: weight of the new probability, 1 = no smoothing */
  float inputScale, inputOffset; /* to_input: model value = byte * inputScale + inputOffset */
  /* blur: w[0..radius], normalised as gaussianWeights(); radius -1: the RTC_SEG_IIR_* coefficients */
  float weights[RTC_SEG_MAX_RADIUS + 1];
  /* edge_* and blend: the plane's edge bytes (segEdgeLayout: quarter, its 3x3 mean, half, full) */
  unsigned char *edge;
};

/* The recursive Gaussian's coefficients in SegFrameArgs.weights (src/cuda/gaussian-coefficients.ts). */
#define RTC_SEG_IIR_A1 0
#define RTC_SEG_IIR_A2 1
#define RTC_SEG_IIR_E1 2
#define RTC_SEG_IIR_E2 3
#define RTC_SEG_IIR_C0 4
#define RTC_SEG_IIR_C1 5
#define RTC_SEG_IIR_F0 6
#define RTC_SEG_IIR_F1 7
#define RTC_SEG_IIR_D1 8
#define RTC_SEG_IIR_D2 9
#define RTC_SEG_IIR_G1 10
#define RTC_SEG_IIR_G2 11
#define RTC_SEG_IIR_IA 12
#define RTC_SEG_IIR_IB 13

static_assert(sizeof(SegArgs) == 112, "SegArgs layout is mirrored in src/cuda/segment-args.ts");
static_assert(offsetof(SegArgs, inH) == 40 && offsetof(SegArgs, kh) == 64 && offsetof(SegArgs, act) == 88 && offsetof(SegArgs, scaleH) == 96,
              "SegArgs layout");
static_assert(sizeof(SegFrameArgs) == 496, "SegFrameArgs layout is mirrored in src/cuda/segment-args.ts");
static_assert(offsetof(SegFrameArgs, width) == 48 && offsetof(SegFrameArgs, radius) == 68 && offsetof(SegFrameArgs, featherLow) == 80 &&
                  offsetof(SegFrameArgs, inputScale) == 92 && offsetof(SegFrameArgs, weights) == 100 && offsetof(SegFrameArgs, edge) == 488,
              "SegFrameArgs layout");

__device__ __forceinline__ float segActivate(int act, float x) {
  switch (act) {
    case RTC_SEG_ACT_RELU:
      return x > 0.f ? x : 0.f;
    case RTC_SEG_ACT_RELU6:
      return fminf(fmaxf(x, 0.f), 6.f);
    case RTC_SEG_ACT_SIGMOID:
      return 1.f / (1.f + expf(-x));
    case RTC_SEG_ACT_HSWISH:
      return x * fminf(fmaxf(x + 3.f, 0.f), 6.f) / 6.f;
    default:
      return x;
  }
}

/* f(i) for i in [0, total), one thread each, grid-stride. */
template <typename F> __device__ __forceinline__ void forEachIndex(int total, F f) {
  const int stride = (int)(gridDim.x * blockDim.x);
  for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < total; i += stride) f(i);
}

extern "C" __global__ void rtc_seg_conv2d(const SegArgs a) {
  forEachIndex(a.outH * a.outW * a.outC, [&](int i) {
    const int oc = i % a.outC;
    const int p = i / a.outC;
    const int ox = p % a.outW;
    const int oy = p / a.outW;
    float sum = a.bias[oc];
    for (int ky = 0; ky < a.kh; ++ky) {
      const int iy = oy * a.strideH - a.padTop + ky;
      if (iy < 0 || iy >= a.inH) continue;
      for (int kx = 0; kx < a.kw; ++kx) {
        const int ix = ox * a.strideW - a.padLeft + kx;
        if (ix < 0 || ix >= a.inW) continue;
        const float *x = a.in + ((size_t)iy * a.inW + ix) * a.inC;
        const float *w = a.filter + (size_t)(ky * a.kw + kx) * a.inC * a.outC + oc;
        for (int ic = 0; ic < a.inC; ++ic) sum += x[ic] * w[(size_t)ic * a.outC];
      }
    }
    a.out[i] = segActivate(a.act, sum);
  });
}

extern "C" __global__ void rtc_seg_depthwise(const SegArgs a) {
  forEachIndex(a.outH * a.outW * a.outC, [&](int i) {
    const int c = i % a.outC;
    const int p = i / a.outC;
    const int ox = p % a.outW;
    const int oy = p / a.outW;
    float sum = a.bias[c];
    for (int ky = 0; ky < a.kh; ++ky) {
      const int iy = oy * a.strideH - a.padTop + ky;
      if (iy < 0 || iy >= a.inH) continue;
      for (int kx = 0; kx < a.kw; ++kx) {
        const int ix = ox * a.strideW - a.padLeft + kx;
        if (ix < 0 || ix >= a.inW) continue;
        sum += a.in[((size_t)iy * a.inW + ix) * a.inC + c] * a.filter[(ky * a.kw + kx) * a.inC + c];
      }
    }
    a.out[i] = segActivate(a.act, sum);
  });
}

/* Transposed convolution as a gather: each output takes the inputs whose strided footprint covers it. */
extern "C" __global__ void rtc_seg_deconv(const SegArgs a) {
  forEachIndex(a.outH * a.outW * a.outC, [&](int i) {
    const int oc = i % a.outC;
    const int p = i / a.outC;
    const int ox = p % a.outW;
    const int oy = p / a.outW;
    float sum = a.bias[oc];
    for (int ky = 0; ky < a.kh; ++ky) {
      const int ty = oy + a.padTop - ky;
      if (ty < 0 || ty % a.strideH != 0) continue;
      const int iy = ty / a.strideH;
      if (iy >= a.inH) continue;
      for (int kx = 0; kx < a.kw; ++kx) {
        const int tx = ox + a.padLeft - kx;
        if (tx < 0 || tx % a.strideW != 0) continue;
        const int ix = tx / a.strideW;
        if (ix >= a.inW) continue;
        const float *x = a.in + ((size_t)iy * a.inW + ix) * a.inC;
        const float *w = a.filter + ((size_t)(ky * a.kw + kx) * a.outC + oc) * a.inC;
        for (int ic = 0; ic < a.inC; ++ic) sum += x[ic] * w[ic];
      }
    }
    a.out[i] = segActivate(a.act, sum);
  });
}

extern "C" __global__ void rtc_seg_avgpool(const SegArgs a) {
  forEachIndex(a.outH * a.outW * a.outC, [&](int i) {
    const int c = i % a.outC;
    const int p = i / a.outC;
    const int ox = p % a.outW;
    const int oy = p / a.outW;
    float sum = 0.f;
    for (int ky = 0; ky < a.kh; ++ky) {
      const float *row = a.in + ((size_t)(oy * a.strideH + ky) * a.inW + (size_t)ox * a.strideW) * a.inC + c;
      for (int kx = 0; kx < a.kw; ++kx) sum += row[(size_t)kx * a.inC];
    }
    a.out[i] = sum / (float)(a.kh * a.kw);
  });
}

/* TensorFlow's ResizeBilinear source position along one axis (see resizeAxis in graph-reference.ts). */
__device__ __forceinline__ void segResizeAxis(int o, float scale, int inSize, bool halfPixel, int &i0, int &i1, float &f) {
  const float src = halfPixel ? ((float)o + 0.5f) * scale - 0.5f : (float)o * scale;
  const float fl = floorf(src);
  i0 = (int)fl < 0 ? 0 : (int)fl;
  i0 = i0 > inSize - 1 ? inSize - 1 : i0;
  const int c = (int)ceilf(src);
  i1 = c > inSize - 1 ? inSize - 1 : (c < 0 ? 0 : c);
  f = src - fl;
}

extern "C" __global__ void rtc_seg_resize(const SegArgs a) {
  const bool half = (a.flags & RTC_SEG_FLAG_HALF_PIXEL) != 0;
  forEachIndex(a.outH * a.outW * a.outC, [&](int i) {
    const int c = i % a.outC;
    const int p = i / a.outC;
    const int ox = p % a.outW;
    const int oy = p / a.outW;
    int y0, y1, x0, x1;
    float fy, fx;
    segResizeAxis(oy, a.scaleH, a.inH, half, y0, y1, fy);
    segResizeAxis(ox, a.scaleW, a.inW, half, x0, x1, fx);
    const float tl = a.in[((size_t)y0 * a.inW + x0) * a.inC + c];
    const float tr = a.in[((size_t)y0 * a.inW + x1) * a.inC + c];
    const float bl = a.in[((size_t)y1 * a.inW + x0) * a.inC + c];
    const float br = a.in[((size_t)y1 * a.inW + x1) * a.inC + c];
    const float top = tl + (tr - tl) * fx;
    const float bottom = bl + (br - bl) * fx;
    a.out[i] = top + (bottom - top) * fy;
  });
}

extern "C" __global__ void rtc_seg_activation(const SegArgs a) {
  forEachIndex(a.outH * a.outW * a.outC, [&](int i) { a.out[i] = segActivate(a.act, a.in[i]); });
}

extern "C" __global__ void rtc_seg_add(const SegArgs a) {
  forEachIndex(a.outH * a.outW * a.outC, [&](int i) { a.out[i] = segActivate(a.act, a.in[i] + a.in2[i]); });
}

/* a * b, b of the same shape or one value per channel (RTC_SEG_FLAG_BROADCAST). */
extern "C" __global__ void rtc_seg_mul(const SegArgs a) {
  const bool broadcast = (a.flags & RTC_SEG_FLAG_BROADCAST) != 0;
  forEachIndex(a.outH * a.outW * a.outC, [&](int i) { a.out[i] = a.in[i] * a.in2[broadcast ? i % a.outC : i]; });
}

/* ---- the frame steps ---- */

__device__ __forceinline__ float segScale(int inSize, int outSize) { return (float)inSize / (float)outSize; }

/* Bilinear sample (half-pixel centres) of a one-byte-per-pixel plane of pw x ph at output (ox, oy) of ow x oh. */
__device__ __forceinline__ float segSampleBytes(const unsigned char *p, int pw, int ph, int ox, int oy, int ow, int oh) {
  int y0, y1, x0, x1;
  float fy, fx;
  segResizeAxis(oy, segScale(ph, oh), ph, true, y0, y1, fy);
  segResizeAxis(ox, segScale(pw, ow), pw, true, x0, x1, fx);
  const float tl = p[(size_t)y0 * pw + x0], tr = p[(size_t)y0 * pw + x1];
  const float bl = p[(size_t)y1 * pw + x0], br = p[(size_t)y1 * pw + x1];
  const float top = tl + (tr - tl) * fx;
  const float bottom = bl + (br - bl) * fx;
  return top + (bottom - top) * fy;
}

/* RGBA frame -> model input (maskH x maskW x 3), bilinear with half-pixel centres, RGB * inputScale + inputOffset. */
extern "C" __global__ void rtc_seg_rgba_to_input(const SegFrameArgs a) {
  const float sy = segScale(a.height, a.maskH);
  const float sx = segScale(a.width, a.maskW);
  forEachIndex(a.maskH * a.maskW, [&](int i) {
    const int ox = i % a.maskW;
    const int oy = i / a.maskW;
    int y0, y1, x0, x1;
    float fy, fx;
    segResizeAxis(oy, sy, a.height, true, y0, y1, fy);
    segResizeAxis(ox, sx, a.width, true, x0, x1, fx);
    const uchar4 tl = reinterpret_cast<const uchar4 *>(a.src)[(size_t)y0 * a.width + x0];
    const uchar4 tr = reinterpret_cast<const uchar4 *>(a.src)[(size_t)y0 * a.width + x1];
    const uchar4 bl = reinterpret_cast<const uchar4 *>(a.src)[(size_t)y1 * a.width + x0];
    const uchar4 br = reinterpret_cast<const uchar4 *>(a.src)[(size_t)y1 * a.width + x1];
    const float tlv[3] = {(float)tl.x, (float)tl.y, (float)tl.z};
    const float trv[3] = {(float)tr.x, (float)tr.y, (float)tr.z};
    const float blv[3] = {(float)bl.x, (float)bl.y, (float)bl.z};
    const float brv[3] = {(float)br.x, (float)br.y, (float)br.z};
#pragma unroll
    for (int c = 0; c < 3; ++c) {
      const float top = tlv[c] + (trv[c] - tlv[c]) * fx;
      const float bottom = blv[c] + (brv[c] - blv[c]) * fx;
      a.work[(size_t)i * 3 + c] = (top + (bottom - top) * fy) * a.inputScale + a.inputOffset;
    }
  });
}

__device__ __forceinline__ float segClampByte(float v) { return fminf(fmaxf(v, 0.f), 255.f); }

/* I420 frame -> model input: each plane sampled bilinearly, BT.601 limited range to RGB, then scaled as the RGBA one. */
extern "C" __global__ void rtc_seg_i420_to_input(const SegFrameArgs a) {
  const int cw = (a.width + 1) >> 1;
  const int ch = (a.height + 1) >> 1;
  const unsigned char *u = a.src + (size_t)a.width * a.height;
  const unsigned char *v = u + (size_t)cw * ch;
  forEachIndex(a.maskH * a.maskW, [&](int i) {
    const int ox = i % a.maskW;
    const int oy = i / a.maskW;
    const float Y = (segSampleBytes(a.src, a.width, a.height, ox, oy, a.maskW, a.maskH) - 16.f) * 1.164f;
    const float U = segSampleBytes(u, cw, ch, ox, oy, a.maskW, a.maskH) - 128.f;
    const float V = segSampleBytes(v, cw, ch, ox, oy, a.maskW, a.maskH) - 128.f;
    a.work[(size_t)i * 3 + 0] = segClampByte(Y + 1.596f * V) * a.inputScale + a.inputOffset;
    a.work[(size_t)i * 3 + 1] = segClampByte(Y - 0.813f * V - 0.391f * U) * a.inputScale + a.inputOffset;
    a.work[(size_t)i * 3 + 2] = segClampByte(Y + 2.018f * U) * a.inputScale + a.inputOffset;
  });
}

/* mask = mask + (p * 255 - mask) * newWeight, rounded half up (newWeight 1: the new mask as is). */
extern "C" __global__ void rtc_seg_mask_update(const SegFrameArgs a) {
  forEachIndex(a.maskH * a.maskW, [&](int i) {
    const float p = fminf(fmaxf(a.prob[(size_t)i * a.maskC], 0.f), 1.f);
    const float old = (float)a.mask[i];
    a.mask[i] = (unsigned char)(int)(old + (p * 255.f - old) * a.newWeight + 0.5f);
  });
}

template <int C> struct SegPx {
  float v[C];
};

template <int C> __device__ __forceinline__ SegPx<C> segLoad(const unsigned char *plane, size_t i);
template <> __device__ __forceinline__ SegPx<4> segLoad<4>(const unsigned char *plane, size_t i) {
  const uchar4 u = reinterpret_cast<const uchar4 *>(plane)[i];
  SegPx<4> p = {{(float)u.x, (float)u.y, (float)u.z, (float)u.w}};
  return p;
}
template <> __device__ __forceinline__ SegPx<1> segLoad<1>(const unsigned char *plane, size_t i) {
  SegPx<1> p = {{(float)plane[i]}};
  return p;
}

/*
 * The blur backdrop is computed on the quarter grid of the plane (qw = ceil(width / 4) by qh),
 * as the CPU path does: a Gaussian of sigma s at full resolution is close to one of s / 4 on the
 * 4x4 box means, at a sixteenth of the pixels and a quarter of the taps. work holds three
 * quarter planes of C floats: the box means, their row pass, and the blurred result.
 */
__device__ __forceinline__ int segQuarter(int n) { return (n + 3) >> 2; }

template <int C> __device__ void segDown4(const SegFrameArgs &a) {
  const int qw = segQuarter(a.width), qh = segQuarter(a.height);
  forEachIndex(qw * qh, [&](int i) {
    const int qx = i % qw;
    const int qy = i / qw;
    float sum[C];
#pragma unroll
    for (int c = 0; c < C; ++c) sum[c] = 0.f;
    for (int dy = 0; dy < 4; ++dy) {
      const int y = 4 * qy + dy > a.height - 1 ? a.height - 1 : 4 * qy + dy;
      for (int dx = 0; dx < 4; ++dx) {
        const int x = 4 * qx + dx > a.width - 1 ? a.width - 1 : 4 * qx + dx;
        const SegPx<C> p = segLoad<C>(a.src, (size_t)y * a.width + x);
#pragma unroll
        for (int c = 0; c < C; ++c) sum[c] += p.v[c];
      }
    }
#pragma unroll
    for (int c = 0; c < C; ++c) a.work[(size_t)i * C + c] = floorf(sum[c] / 16.f + 0.5f);
  });
}

/*
 * The recursive Gaussian along one line of `len` floats from `in` to `out` (distinct), `stride`
 * pixels apart (src/effects/reference.ts, recursiveGaussianLine): the causal sums first, then
 * the anticausal ones added, each section from its steady state for the clamped edge value.
 */
template <int C> __device__ void segRecursiveLine(const float *k, const float *in, float *out, int len, size_t stride) {
  const float a1 = k[RTC_SEG_IIR_A1], a2 = k[RTC_SEG_IIR_A2], e1 = k[RTC_SEG_IIR_E1], e2 = k[RTC_SEG_IIR_E2];
#pragma unroll
  for (int c = 0; c < C; ++c) {
    float x = in[c];
    float wa1 = x * k[RTC_SEG_IIR_IA], wa2 = wa1, wb1 = x * k[RTC_SEG_IIR_IB], wb2 = wb1;
    for (int i = 0; i < len; ++i) {
      x = in[(size_t)i * stride * C + c];
      const float wa = x - a1 * wa1 - a2 * wa2;
      const float wb = x - e1 * wb1 - e2 * wb2;
      out[(size_t)i * stride * C + c] = k[RTC_SEG_IIR_C0] * wa + k[RTC_SEG_IIR_C1] * wa1 + k[RTC_SEG_IIR_F0] * wb + k[RTC_SEG_IIR_F1] * wb1;
      wa2 = wa1;
      wa1 = wa;
      wb2 = wb1;
      wb1 = wb;
    }
    x = in[(size_t)(len - 1) * stride * C + c];
    wa1 = wa2 = x * k[RTC_SEG_IIR_IA];
    wb1 = wb2 = x * k[RTC_SEG_IIR_IB];
    for (int i = len - 1; i >= 0; --i) {
      x = in[(size_t)i * stride * C + c];
      out[(size_t)i * stride * C + c] += k[RTC_SEG_IIR_D1] * wa1 + k[RTC_SEG_IIR_D2] * wa2 + k[RTC_SEG_IIR_G1] * wb1 + k[RTC_SEG_IIR_G2] * wb2;
      const float wa = x - a1 * wa1 - a2 * wa2;
      const float wb = x - e1 * wb1 - e2 * wb2;
      wa2 = wa1;
      wa1 = wa;
      wb2 = wb1;
      wb1 = wb;
    }
  }
}

/*
 * One pass of the separable Gaussian on the quarter grid: rows (from the means) or columns (from
 * the rows); radius -1: the recursive filter, one thread per line.
 */
template <int C, bool Rows> __device__ void segBlurQuarter(const SegFrameArgs &a) {
  const int qw = segQuarter(a.width), qh = segQuarter(a.height);
  const size_t plane = (size_t)qw * qh * C;
  const float *in = a.work + (Rows ? 0 : plane);
  float *out = a.work + (Rows ? plane : 2 * plane);
  if (a.radius < 0) {
    forEachIndex(Rows ? qh : qw, [&](int line) {
      const size_t first = Rows ? (size_t)line * qw * C : (size_t)line * C;
      segRecursiveLine<C>(a.weights, in + first, out + first, Rows ? qw : qh, Rows ? 1 : (size_t)qw);
      if (!Rows)
        for (int k = 0; k < qh; ++k)
#pragma unroll
          for (int c = 0; c < C; ++c) out[first + (size_t)k * qw * C + c] = segClampByte(floorf(out[first + (size_t)k * qw * C + c] + 0.5f));
    });
    return;
  }
  forEachIndex(qw * qh, [&](int i) {
    const int x = i % qw;
    const int y = i / qw;
    float sum[C];
#pragma unroll
    for (int c = 0; c < C; ++c) sum[c] = 0.f;
    for (int k = -a.radius; k <= a.radius; ++k) {
      const float w = a.weights[k < 0 ? -k : k];
      int j;
      if (Rows) {
        const int xx = x + k < 0 ? 0 : (x + k > qw - 1 ? qw - 1 : x + k);
        j = y * qw + xx;
      } else {
        const int yy = y + k < 0 ? 0 : (y + k > qh - 1 ? qh - 1 : y + k);
        j = yy * qw + x;
      }
#pragma unroll
      for (int c = 0; c < C; ++c) sum[c] += w * in[(size_t)j * C + c];
    }
#pragma unroll
    for (int c = 0; c < C; ++c) out[(size_t)i * C + c] = Rows ? sum[c] : segClampByte(floorf(sum[c] + 0.5f));
  });
}

/*
 * The edge of a plane (src/segmentation/graph-frame.ts, edgeMask: the one definition the CPU
 * path's WASM kernels also follow), in four steps over `edge`, laid out as: the quarter grid
 * (qw x qh bytes), its 3x3 mean (qw x qh), the half grid (2qw x 2qh), the full grid (4qw x 4qh,
 * at least the plane). Integer steps are exact; the ramp's float steps as the WASM kernel's.
 */
__device__ __forceinline__ size_t segEdgeBox(int qw, int qh) { return (size_t)qw * qh; }
__device__ __forceinline__ size_t segEdgeHalf(int qw, int qh) { return 2 * (size_t)qw * qh; }
__device__ __forceinline__ size_t segEdgeFull(int qw, int qh) { return 6 * (size_t)qw * qh; }

/* The quarter grid: the mask sampled at the cells' centres (full-resolution 4q + 1.5) through the ramp. */
extern "C" __global__ void rtc_seg_edge_quarter(const SegFrameArgs a) {
  const int qw = segQuarter(a.width), qh = segQuarter(a.height);
  const float lo = rintf(a.featherLow * 255.f);
  const float hi = rintf(a.featherHigh * 255.f);
  const float gain = __fdiv_rn(255.f, fmaxf(1.f, __fsub_rn(hi, lo)));
  forEachIndex(qw * qh, [&](int i) {
    const int x = i % qw;
    const int y = i / qw;
    float sy = __fsub_rn(__fmul_rn(__fdiv_rn(__fadd_rn(__fmul_rn((float)y, 4.f), 2.f), (float)a.height), (float)a.maskH), 0.5f);
    sy = sy < 0.f ? 0.f : sy > (float)(a.maskH - 1) ? (float)(a.maskH - 1) : sy;
    float sx = __fsub_rn(__fmul_rn(__fdiv_rn(__fadd_rn(__fmul_rn((float)x, 4.f), 2.f), (float)a.width), (float)a.maskW), 0.5f);
    sx = sx < 0.f ? 0.f : sx > (float)(a.maskW - 1) ? (float)(a.maskW - 1) : sx;
    const int x0 = (int)sx, y0 = (int)sy;
    const int x1 = x0 + 1 < a.maskW ? x0 + 1 : a.maskW - 1;
    const int y1 = y0 + 1 < a.maskH ? y0 + 1 : a.maskH - 1;
    const float wx = __fsub_rn(sx, (float)x0), wy = __fsub_rn(sy, (float)y0);
    const float p00 = a.mask[(size_t)y0 * a.maskW + x0], p01 = a.mask[(size_t)y0 * a.maskW + x1];
    const float p10 = a.mask[(size_t)y1 * a.maskW + x0], p11 = a.mask[(size_t)y1 * a.maskW + x1];
    const float top = __fadd_rn(p00, __fmul_rn(__fsub_rn(p01, p00), wx));
    const float bottom = __fadd_rn(p10, __fmul_rn(__fsub_rn(p11, p10), wx));
    float v = __fmul_rn(__fsub_rn(__fadd_rn(top, __fmul_rn(__fsub_rn(bottom, top), wy)), lo), gain);
    v = v < 0.f ? 0.f : v > 255.f ? 255.f : v;
    a.edge[i] = (unsigned char)(int)__fadd_rn(v, 0.5f);
  });
}

/* Its 3x3 mean, edges repeated: (sum + 4) / 9. */
extern "C" __global__ void rtc_seg_edge_box(const SegFrameArgs a) {
  const int qw = segQuarter(a.width), qh = segQuarter(a.height);
  const unsigned char *in = a.edge;
  unsigned char *out = a.edge + segEdgeBox(qw, qh);
  forEachIndex(qw * qh, [&](int i) {
    const int x = i % qw;
    const int y = i / qw;
    int sum = 0;
    for (int dy = -1; dy <= 1; ++dy) {
      const int yy = y + dy < 0 ? 0 : (y + dy > qh - 1 ? qh - 1 : y + dy);
      for (int dx = -1; dx <= 1; ++dx) {
        const int xx = x + dx < 0 ? 0 : (x + dx > qw - 1 ? qw - 1 : x + dx);
        sum += in[(size_t)yy * qw + xx];
      }
    }
    out[i] = (unsigned char)((sum + 4) / 9);
  });
}

__device__ __forceinline__ unsigned segAvg(unsigned a, unsigned b) { return (a + b + 1) >> 1; }

/* Value (ox, oy) of the exact 2x upsampling of a sw x sh grid read through `at`: avg(a, avg(a, b)) down, then across. */
template <typename At> __device__ __forceinline__ unsigned segUp2At(At at, int sw, int sh, int ox, int oy) {
  const int j = oy >> 1;
  int n = (oy & 1) ? j + 1 : j - 1;
  n = n < 0 ? 0 : (n > sh - 1 ? sh - 1 : n);
  const int x = ox >> 1;
  int nx = (ox & 1) ? x + 1 : x - 1;
  nx = nx < 0 ? 0 : (nx > sw - 1 ? sw - 1 : nx);
  const unsigned a0 = at(x, j), b0 = at(x, n), a1 = at(nx, j), b1 = at(nx, n);
  const unsigned v = segAvg(a0, segAvg(a0, b0));
  const unsigned w = segAvg(a1, segAvg(a1, b1));
  return segAvg(v, segAvg(v, w));
}

/* segUp2At over sw x sh bytes. */
__device__ __forceinline__ unsigned char segUp2(const unsigned char *src, int sw, int sh, int ox, int oy) {
  return (unsigned char)segUp2At([&](int x, int y) { return (unsigned)src[(size_t)y * sw + x]; }, sw, sh, ox, oy);
}

extern "C" __global__ void rtc_seg_edge_half(const SegFrameArgs a) {
  const int qw = segQuarter(a.width), qh = segQuarter(a.height);
  const unsigned char *in = a.edge + segEdgeBox(qw, qh);
  unsigned char *out = a.edge + segEdgeHalf(qw, qh);
  forEachIndex(4 * qw * qh, [&](int i) { out[i] = segUp2(in, qw, qh, i % (2 * qw), i / (2 * qw)); });
}

extern "C" __global__ void rtc_seg_edge_full(const SegFrameArgs a) {
  const int qw = segQuarter(a.width), qh = segQuarter(a.height);
  const unsigned char *in = a.edge + segEdgeHalf(qw, qh);
  unsigned char *out = a.edge + segEdgeFull(qw, qh);
  forEachIndex(16 * qw * qh, [&](int i) { out[i] = segUp2(in, 2 * qw, 2 * qh, i % (4 * qw), i / (4 * qw)); });
}

/* Full-resolution (x, y) of a quarter grid of C-channel whole-byte floats upsampled 2x twice. */
template <int C> __device__ __forceinline__ unsigned segUpUp(const float *q, int qw, int qh, int c, int x, int y) {
  auto quarter = [&](int qx, int qy) { return (unsigned)q[((size_t)qy * qw + qx) * C + c]; };
  auto half = [&](int hx, int hy) { return segUp2At(quarter, qw, qh, hx, hy); };
  return segUp2At(half, 2 * qw, 2 * qh, x, y);
}

template <int C> __device__ void segBlend(const SegFrameArgs &a) {
  const int qw = segQuarter(a.width), qh = segQuarter(a.height);
  const unsigned char *edge = a.edge + segEdgeFull(qw, qh);
  forEachIndex(a.width * a.height, [&](int i) {
    const int x = i % a.width;
    const int y = i / a.width;
    SegPx<C> back;
    if (a.mode == RTC_SEG_BACKDROP_BLUR) {
      // The blurred quarter grid (whole byte values) brought up by the edge's two exact 2x steps, as the CPU path.
      const float *blurred = a.work + 2 * (size_t)qw * qh * C;
#pragma unroll
      for (int c = 0; c < C; ++c) back.v[c] = (float)segUpUp<C>(blurred, qw, qh, c, x, y);
    } else if (a.mode == RTC_SEG_BACKDROP_IMAGE) {
      back = segLoad<C>(a.bg, (size_t)i);
    } else {
#pragma unroll
      for (int c = 0; c < C; ++c) back.v[c] = (float)((a.colour >> (8 * c)) & 0xffu);
    }
    // (s * m + b * (255 - m)) / 255 per byte, rounded as the CPU path's SIMD blend (graph-frame.ts, blendByte).
    const unsigned m = edge[(size_t)y * 4 * qw + x];
    const SegPx<C> s = segLoad<C>(a.src, (size_t)i);
    unsigned char out[C];
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const unsigned q = (unsigned)s.v[c] * m + (unsigned)back.v[c] * (255u - m) + 128u;
      out[c] = (unsigned char)((q + (q >> 8)) >> 8);
    }
    if (C == 4) {
      reinterpret_cast<uchar4 *>(a.dst)[i] = make_uchar4(out[0], out[1 % C], out[2 % C], out[3 % C]);
    } else {
      a.dst[i] = out[0];
    }
  });
}

extern "C" {
__global__ void rtc_seg_down4_c4(const SegFrameArgs a) { segDown4<4>(a); }
__global__ void rtc_seg_down4_c1(const SegFrameArgs a) { segDown4<1>(a); }
__global__ void rtc_seg_blur_rows_c4(const SegFrameArgs a) { segBlurQuarter<4, true>(a); }
__global__ void rtc_seg_blur_rows_c1(const SegFrameArgs a) { segBlurQuarter<1, true>(a); }
__global__ void rtc_seg_blur_columns_c4(const SegFrameArgs a) { segBlurQuarter<4, false>(a); }
__global__ void rtc_seg_blur_columns_c1(const SegFrameArgs a) { segBlurQuarter<1, false>(a); }
__global__ void rtc_seg_blend_c4(const SegFrameArgs a) { segBlend<4>(a); }
__global__ void rtc_seg_blend_c1(const SegFrameArgs a) { segBlend<1>(a); }
}
