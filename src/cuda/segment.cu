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
 * steps); src/cuda/segment.ts packs them, and the layouts below are mirrored there.
 *
 * Compiled to PTX (src/cuda/ptx/segment.ptx) by scripts/build-ptx.mjs, and as host C++ by the
 * emulated driver in src/cuda/emulator.
 */
#include <stddef.h>

#define RTC_SEG_ACT_NONE 0
#define RTC_SEG_ACT_RELU 1
#define RTC_SEG_ACT_RELU6 2
#define RTC_SEG_ACT_SIGMOID 3
#define RTC_SEG_ACT_HSWISH 4

#define RTC_SEG_FLAG_HALF_PIXEL 1
#define RTC_SEG_FLAG_ALIGN_CORNERS 2
#define RTC_SEG_FLAG_BROADCAST 4

// The largest blur radius the frame kernels take: ceil(3 * sigma) for sigma up to 32.
#define RTC_SEG_MAX_RADIUS 96

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
  const unsigned char *src; /* RGBA frame */
  unsigned char *dst;       /* RGBA frame */
  const float *mask;        /* model output, maskH x maskW x maskC; channel 0 is the person probability */
  float *work;              /* to_input: the model input (maskH x maskW x 3); blur: RGBA rows as floats */
  int width, height;
  int maskH, maskW, maskC;
  int radius;
  float featherLow, featherHigh;
  float weights[RTC_SEG_MAX_RADIUS + 1]; /* w[0..radius], normalised as gaussianWeights() */
  int reserved;
};

static_assert(sizeof(SegArgs) == 112, "SegArgs layout is mirrored in src/cuda/segment.ts");
static_assert(offsetof(SegArgs, inH) == 40 && offsetof(SegArgs, kh) == 64 && offsetof(SegArgs, act) == 88 && offsetof(SegArgs, scaleH) == 96,
              "SegArgs layout");
static_assert(sizeof(SegFrameArgs) == 456, "SegFrameArgs layout is mirrored in src/cuda/segment.ts");
static_assert(offsetof(SegFrameArgs, width) == 32 && offsetof(SegFrameArgs, radius) == 52 && offsetof(SegFrameArgs, weights) == 64,
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

/* RGBA frame -> model input (maskH x maskW x 3), bilinear with half-pixel centres, RGB / 255. */
extern "C" __global__ void rtc_seg_frame_to_input(const SegFrameArgs a) {
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
      a.work[(size_t)i * 3 + c] = (top + (bottom - top) * fy) / 255.f;
    }
  });
}

/* Horizontal Gaussian of the RGBA frame into float rows (work: width x height x 4). */
extern "C" __global__ void rtc_seg_blur_rows(const SegFrameArgs a) {
  forEachIndex(a.width * a.height, [&](int i) {
    const int x = i % a.width;
    const int y = i / a.width;
    const uchar4 *row = reinterpret_cast<const uchar4 *>(a.src) + (size_t)y * a.width;
    float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int k = -a.radius; k <= a.radius; ++k) {
      const int xx = x + k < 0 ? 0 : (x + k > a.width - 1 ? a.width - 1 : x + k);
      const float w = a.weights[k < 0 ? -k : k];
      const uchar4 p = row[xx];
      sum.x += w * (float)p.x;
      sum.y += w * (float)p.y;
      sum.z += w * (float)p.z;
      sum.w += w * (float)p.w;
    }
    reinterpret_cast<float4 *>(a.work)[i] = sum;
  });
}

/*
 * Vertical Gaussian of the rows, the person alpha from the model's mask (bilinear upsampling,
 * then smoothstep between featherLow and featherHigh), and the blend: person from the frame,
 * background from the blur; alpha channel kept.
 */
extern "C" __global__ void rtc_seg_blend(const SegFrameArgs a) {
  const float sy = segScale(a.maskH, a.height);
  const float sx = segScale(a.maskW, a.width);
  forEachIndex(a.width * a.height, [&](int i) {
    const int x = i % a.width;
    const int y = i / a.width;
    const float4 *rows = reinterpret_cast<const float4 *>(a.work);
    float br = 0.f, bg = 0.f, bb = 0.f;
    for (int k = -a.radius; k <= a.radius; ++k) {
      const int yy = y + k < 0 ? 0 : (y + k > a.height - 1 ? a.height - 1 : y + k);
      const float w = a.weights[k < 0 ? -k : k];
      const float4 p = rows[(size_t)yy * a.width + x];
      br += w * p.x;
      bg += w * p.y;
      bb += w * p.z;
    }
    int y0, y1, x0, x1;
    float fy, fx;
    segResizeAxis(y, sy, a.maskH, true, y0, y1, fy);
    segResizeAxis(x, sx, a.maskW, true, x0, x1, fx);
    const int mc = a.maskC;
    const float tl = a.mask[((size_t)y0 * a.maskW + x0) * mc];
    const float tr = a.mask[((size_t)y0 * a.maskW + x1) * mc];
    const float bl = a.mask[((size_t)y1 * a.maskW + x0) * mc];
    const float bm = a.mask[((size_t)y1 * a.maskW + x1) * mc];
    const float top = tl + (tr - tl) * fx;
    const float bottom = bl + (bm - bl) * fx;
    const float m = top + (bottom - top) * fy;
    float t = (m - a.featherLow) / (a.featherHigh - a.featherLow);
    t = fminf(fmaxf(t, 0.f), 1.f);
    const float alpha = t * t * (3.f - 2.f * t);
    const uchar4 s = reinterpret_cast<const uchar4 *>(a.src)[i];
    const float keep = 1.f - alpha;
    const float r = floorf(alpha * (float)s.x + keep * br + 0.5f);
    const float g = floorf(alpha * (float)s.y + keep * bg + 0.5f);
    const float b = floorf(alpha * (float)s.z + keep * bb + 0.5f);
    reinterpret_cast<uchar4 *>(a.dst)[i] = make_uchar4((unsigned char)fminf(fmaxf(r, 0.f), 255.f), (unsigned char)fminf(fmaxf(g, 0.f), 255.f),
                                                       (unsigned char)fminf(fmaxf(b, 0.f), 255.f), s.w);
  });
}
