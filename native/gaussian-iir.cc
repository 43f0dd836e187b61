// The recursive gaussian of assembly/gaussian-iir.ts (sigma 5 and up) on RGBA planes, in AVX-512F
// or AVX2 with FMA, compiled once per instruction set by scripts/build-native.mjs (RTC_IIR_NAME
// names the entry). The WASM kernel runs one line (one pixel's four channels) per vector, a chain
// of dependent multiply-adds; here one vector carries kLines lines side by side (four rows or
// columns with AVX-512, two with AVX2), each lane doing exactly the WASM lane's arithmetic in
// the same order: the same f32 coefficients, the fused multiply-adds of the relaxed-SIMD build
// where `fused` (build/effects-relaxed.wasm) and separate multiplies and adds where not
// (build/effects.wasm; -ffp-contract=off keeps the compiler from fusing them), the same rounding.
// So the output is bit-identical to the build the service runs (test/unit/native-kernels.test.ts).
//
// Pass 1 filters rows into the transposed 16-bit plane the caller provides (the WASM kernel's own
// plane scratch: column x at plane + x * colBytes), where consecutive rows of one column are
// contiguous; pass 2 filters columns of it into rows of bytes. RGBA: kLines pixels a vector; one
// channel (I420's planes): kWidth rows or columns a vector, gathered side by side first.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"
#include "scratch.h"

namespace {

#if defined(__AVX512F__)
typedef __m512 VF;
typedef __m512i VI;
constexpr int kLines = 4;
inline VF splat(float x) { return _mm512_set1_ps(x); }
inline VF mul(VF a, VF b) { return _mm512_mul_ps(a, b); }
inline VF add(VF a, VF b) { return _mm512_add_ps(a, b); }
inline VF sub(VF a, VF b) { return _mm512_sub_ps(a, b); }
inline VF fmadd(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
inline VF fnmadd(VF a, VF b, VF c) { return _mm512_fnmadd_ps(a, b, c); }
inline void storeF(float* p, VF v) { _mm512_storeu_ps(p, v); }
inline VF loadF(const float* p) { return _mm512_loadu_ps(p); }
// Four pixels (one per row) as 16 f32 lanes.
inline VF pixels(const uint8_t* const* rows, size_t at) {
  int32_t v[4];
  for (int j = 0; j < 4; j++) std::memcpy(&v[j], rows[j] + at, 4);
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v))));
}
// Four columns' 16-bit values at one row as 16 f32 lanes.
inline VF wide(const uint16_t* const* cols, size_t at) {
  int64_t v[4];
  for (int j = 0; j < 4; j++) std::memcpy(&v[j], cols[j] + at, 8);
  return _mm512_cvtepi32_ps(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v))));
}
// 16 bytes / 16 16-bit values (one channel: 16 rows or columns, gathered side by side) as f32 lanes.
inline VF bytesAt(const uint8_t* p) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))); }
inline VF wideAt(const uint16_t* p) { return _mm512_cvtepi32_ps(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))); }
inline VI bitsMinus(VF y, int32_t magic) { return _mm512_sub_epi32(_mm512_castps_si512(y), _mm512_set1_epi32(magic)); }
// i16x8.narrow_i32x4_u: signed 32-bit to unsigned 16-bit, saturating.
inline void storeWide(uint16_t* p, VI v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtusepi32_epi16(_mm512_max_epi32(v, _mm512_setzero_si512())));
}
// Then i8x16.narrow_i16x8_u of that (values here are far below 32768): to unsigned bytes, saturating.
inline void storeBytes(uint8_t* p, VI v, int bytes) {
  const __m128i b = _mm512_cvtusepi32_epi8(_mm512_max_epi32(v, _mm512_setzero_si512()));
  if (bytes == 16) _mm_storeu_si128(reinterpret_cast<__m128i*>(p), b);
  else _mm_mask_storeu_epi8(p, static_cast<__mmask16>((1u << bytes) - 1), b);
}
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 VF;
typedef __m256i VI;
constexpr int kLines = 2;
inline VF splat(float x) { return _mm256_set1_ps(x); }
inline VF mul(VF a, VF b) { return _mm256_mul_ps(a, b); }
inline VF add(VF a, VF b) { return _mm256_add_ps(a, b); }
inline VF sub(VF a, VF b) { return _mm256_sub_ps(a, b); }
inline VF fmadd(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
inline VF fnmadd(VF a, VF b, VF c) { return _mm256_fnmadd_ps(a, b, c); }
inline void storeF(float* p, VF v) { _mm256_storeu_ps(p, v); }
inline VF loadF(const float* p) { return _mm256_loadu_ps(p); }
inline VF pixels(const uint8_t* const* rows, size_t at) {
  int32_t v[2];
  for (int j = 0; j < 2; j++) std::memcpy(&v[j], rows[j] + at, 4);
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(v))));
}
inline VF wide(const uint16_t* const* cols, size_t at) {
  int64_t v[2];
  for (int j = 0; j < 2; j++) std::memcpy(&v[j], cols[j] + at, 8);
  return _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v))));
}
inline VF bytesAt(const uint8_t* p) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)))); }
inline VF wideAt(const uint16_t* p) { return _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))); }
inline VI bitsMinus(VF y, int32_t magic) { return _mm256_sub_epi32(_mm256_castps_si256(y), _mm256_set1_epi32(magic)); }
inline void storeWide(uint16_t* p, VI v) {
  const __m256i w = _mm256_packus_epi32(v, v);  // lanes 0-3 and 8-11 hold the 8 values
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(_mm256_permute4x64_epi64(w, 0x08)));
}
inline void storeBytes(uint8_t* p, VI v, int bytes) {
  const __m256i w = _mm256_packus_epi32(v, v);
  const __m128i s = _mm256_castsi256_si128(_mm256_permute4x64_epi64(w, 0x08));
  const __m128i b = _mm_packus_epi16(s, s);
  if (bytes == 8) _mm_storel_epi64(reinterpret_cast<__m128i*>(p), b);
  else std::memcpy(p, &b, static_cast<size_t>(bytes));
}
#else
#error "compile with -mavx512f -mavx512bw -mavx512vl -mfma, or -mavx2 -mfma"
#endif

constexpr int kWidth = 4 * kLines;  // f32 lanes a vector
constexpr double kQ8 = 256;
constexpr float kMagic = 12582912.0f;
constexpr int32_t kMagicBits = 0x4b400000;

struct Coefficients {
  VF a1, a2, e1, e2, c0, c1, f0, f1, d1, d2, g1, g2, ia, ib, offset;
};

// As coefficients() of assembly/gaussian-iir.ts (Deriche's 4th order: two second-order sections).
Coefficients coefficients(double sigma, double scale, double offset) {
  const double m0 = std::exp(-1.783 / sigma);
  const double br0 = m0 * std::cos(0.6318 / sigma);
  const double bi0 = -m0 * std::sin(0.6318 / sigma);
  const double m1 = std::exp(-1.723 / sigma);
  const double br1 = m1 * std::cos(1.997 / sigma);
  const double bi1 = -m1 * std::sin(1.997 / sigma);
  const double a1 = static_cast<double>(static_cast<float>(-2 * br0));
  const double a2 = static_cast<double>(static_cast<float>(m0 * m0));
  const double e1 = static_cast<double>(static_cast<float>(-2 * br1));
  const double e2 = static_cast<double>(static_cast<float>(m1 * m1));
  const double c0 = 2 * 0.84;
  const double c1 = -2 * (0.84 * br0 + 1.8675 * bi0);
  const double d1 = 2 * (0.84 * br0 - 1.8675 * bi0);
  const double d2 = -2 * 0.84 * m0 * m0;
  const double f0 = 2 * -0.34015;
  const double f1 = -2 * (-0.34015 * br1 - 0.1299 * bi1);
  const double g1 = 2 * (-0.34015 * br1 + 0.1299 * bi1);
  const double g2 = -2 * -0.34015 * m1 * m1;
  const double s = scale / ((c0 + c1 + d1 + d2) / (1 + a1 + a2) + (f0 + f1 + g1 + g2) / (1 + e1 + e2));
  const auto f = [](double x) { return splat(static_cast<float>(x)); };
  return {f(a1), f(a2), f(e1), f(e2), f(c0 * s), f(c1 * s), f(f0 * s), f(f1 * s), f(d1 * s), f(d2 * s), f(g1 * s), f(g2 * s),
          f(1 / (1 + a1 + a2)), f(1 / (1 + e1 + e2)), f(offset)};
}

template <bool Fused>
inline VF pole(VF x, VF w1, VF w2, VF p1, VF p2) {
  if (Fused) return fnmadd(p1, w1, fnmadd(p2, w2, x));
  return sub(sub(x, mul(p2, w2)), mul(p1, w1));
}

template <bool Fused>
inline VF numerators(VF u0, VF u1, VF v0, VF v1, VF n0, VF n1, VF m0, VF m1) {
  if (Fused) return add(fmadd(n0, u0, mul(n1, u1)), fmadd(m0, v0, mul(m1, v1)));
  return add(add(mul(n0, u0), mul(n1, u1)), add(mul(m0, v0), mul(m1, v1)));
}

// kLines lines of `len` samples side by side (`in(i)` the input vector of sample i): causal sums
// into cb, then the anticausal sweep, each rounded sample handed to `out(i, bits)`.
template <bool Fused, typename In, typename Out>
inline void lines(int len, const Coefficients& k, float* cb, In in, Out out) {
  VF x = in(0);
  VF a1 = mul(x, k.ia), a2 = a1, b1 = mul(x, k.ib), b2 = b1;
  for (int i = 0; i < len; i++) {
    x = in(i);
    const VF wa = pole<Fused>(x, a1, a2, k.a1, k.a2);
    const VF wb = pole<Fused>(x, b1, b2, k.e1, k.e2);
    storeF(cb + static_cast<size_t>(i) * kWidth, numerators<Fused>(wa, a1, wb, b1, k.c0, k.c1, k.f0, k.f1));
    a2 = a1;
    a1 = wa;
    b2 = b1;
    b1 = wb;
  }
  x = in(len - 1);
  a1 = mul(x, k.ia);
  a2 = a1;
  b1 = mul(x, k.ib);
  b2 = b1;
  for (int i = len - 1; i >= 0; i--) {
    x = in(i);
    const VF y = add(add(loadF(cb + static_cast<size_t>(i) * kWidth), numerators<Fused>(a1, a2, b1, b2, k.d1, k.d2, k.g1, k.g2)), k.offset);
    const VF wa = pole<Fused>(x, a1, a2, k.a1, k.a2);
    const VF wb = pole<Fused>(x, b1, b2, k.e1, k.e2);
    a2 = a1;
    a1 = wa;
    b2 = b1;
    b1 = wb;
    out(i, bitsMinus(y, kMagicBits));
  }
}

inline int clampIndex(int v, int n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

// One line's causal sums, kWidth lanes a sample of the longer side.
thread_local Scratch<float> causal;
// One channel: kWidth rows (pass 1) or columns (pass 2) gathered side by side.
thread_local Scratch<uint16_t> gathered;

// RGBA: a vector is kLines pixels (rows in pass 1, columns in pass 2), four channels each.
template <bool Fused>
void recursive(const uint8_t* src, uint8_t* dst, int w, int h, double sigma, uint16_t* plane, int hp, float* cb) {
  const Coefficients k1 = coefficients(sigma, kQ8, kQ8 + kMagic);
  const Coefficients k2 = coefficients(sigma, 1 / kQ8, kMagic - 1);
  const size_t n = static_cast<size_t>(w) * 4;
  const size_t col = static_cast<size_t>(hp) * 4;  // 16-bit values a column of the plane

  // Pass 1: kLines rows (clamped; rows past h land in the plane's padding) into the plane.
  for (int y0 = 0; y0 < h; y0 += kLines) {
    const uint8_t* rows[kLines];
    for (int j = 0; j < kLines; j++) rows[j] = src + static_cast<size_t>(clampIndex(y0 + j, h)) * n;
    uint16_t* to = plane + static_cast<size_t>(y0) * 4;
    lines<Fused>(w, k1, cb, [&](int i) { return pixels(rows, static_cast<size_t>(i) * 4); },
                 [&](int i, VI v) { storeWide(to + static_cast<size_t>(i) * col, v); });
  }
  // Pass 2: kLines columns (clamped; only those inside the plane are written) into rows of bytes.
  for (int x0 = 0; x0 < w; x0 += kLines) {
    const uint16_t* cols[kLines];
    for (int j = 0; j < kLines; j++) cols[j] = plane + static_cast<size_t>(std::min(x0 + j, w - 1)) * col;
    const int bytes = std::min(w - x0, kLines) * 4;
    uint8_t* to = dst + static_cast<size_t>(x0) * 4;
    lines<Fused>(h, k2, cb, [&](int i) { return wide(cols, static_cast<size_t>(i) * 4); },
                 [&](int i, VI v) { storeBytes(to + static_cast<size_t>(i) * n, v, bytes); });
  }
}

// One channel: a vector is kWidth rows (pass 1) or columns (pass 2), gathered side by side first
// (the WASM kernel gathers four lines of four); the plane is column-major, hp 16-bit values a column.
template <bool Fused>
void recursiveOne(const uint8_t* src, uint8_t* dst, int w, int h, double sigma, uint16_t* plane, int hp, float* cb, uint16_t* g) {
  const Coefficients k1 = coefficients(sigma, kQ8, kQ8 + kMagic);
  const Coefficients k2 = coefficients(sigma, 1 / kQ8, kMagic - 1);
  uint8_t* g8 = reinterpret_cast<uint8_t*>(g);

  for (int y0 = 0; y0 < h; y0 += kWidth) {
    for (int j = 0; j < kWidth; j++) {
      const uint8_t* row = src + static_cast<size_t>(clampIndex(y0 + j, h)) * w;
      for (int x = 0; x < w; x++) g8[static_cast<size_t>(x) * kWidth + j] = row[x];
    }
    uint16_t* to = plane + y0;
    lines<Fused>(w, k1, cb, [&](int i) { return bytesAt(g8 + static_cast<size_t>(i) * kWidth); },
                 [&](int i, VI v) { storeWide(to + static_cast<size_t>(i) * hp, v); });
  }
  for (int x0 = 0; x0 < w; x0 += kWidth) {
    for (int j = 0; j < kWidth; j++) {
      const uint16_t* column = plane + static_cast<size_t>(std::min(x0 + j, w - 1)) * hp;
      for (int y = 0; y < h; y++) g[static_cast<size_t>(y) * kWidth + j] = column[y];
    }
    const int bytes = std::min(w - x0, kWidth);
    uint8_t* to = dst + x0;
    lines<Fused>(h, k2, cb, [&](int i) { return wideAt(g + static_cast<size_t>(i) * kWidth); },
                 [&](int i, VI v) { storeBytes(to + static_cast<size_t>(i) * w, v, bytes); });
  }
}

}  // namespace

// c = 4 (RGBA) or 1; plane: at least w * hp * 2 * c bytes, hp = h rounded up to 4 (RGBA) or 16 (one
// channel), as the WASM kernel's plane scratch. src may be dst.
extern "C" int RTC_IIR_NAME(const uint8_t* src, uint8_t* dst, int w, int h, int c, double sigma, int fused, uint16_t* plane) {
  if (w < 1 || h < 1 || (c != 1 && c != 4) || !(sigma >= kRtcFirMaxSigma) || !(sigma <= 1e6)) return 0;
  const size_t longer = static_cast<size_t>(std::max(w, h)) * kWidth;
  float* cb = causal.get(longer);
  if (cb == nullptr) return 0;
  if (c == 4) {
    const int hp = (h + 3) / 4 * 4;
    if (fused) recursive<true>(src, dst, w, h, sigma, plane, hp, cb);
    else recursive<false>(src, dst, w, h, sigma, plane, hp, cb);
    return 1;
  }
  uint16_t* g = gathered.get(longer);
  if (g == nullptr) return 0;
  const int hp = (h + 15) / 16 * 16;
  if (fused) recursiveOne<true>(src, dst, w, h, sigma, plane, hp, cb, g);
  else recursiveOne<false>(src, dst, w, h, sigma, plane, hp, cb, g);
  return 1;
}
