// The per-pixel kernels of assembly/pointwise.ts in AVX-512BW or AVX2, 64 or 32 bytes an
// instruction instead of 16, the same integer arithmetic, so the same bytes. Compiled once per
// instruction set by scripts/build-native.mjs (RTC_ISA_SUFFIX names the entries):
// - grayscale (RGBA): Y = (77 R + 150 G + 29 B + 128) >> 8, R = G = B = Y, alpha kept (two
//   multiply-adds of 16-bit lanes);
// - invert: 255 - v on every byte, or on R, G, B only (alpha kept), at the speed of memcpy.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace {

// Per 16-byte lane: byte 1 of each pixel's sum three times, then a zero (alpha is or-ed in).
inline __m128i yyyIndex() { return _mm_setr_epi8(1, 1, 1, -128, 5, 5, 5, -128, 9, 9, 9, -128, 13, 13, 13, -128); }

#if defined(__AVX512BW__)
typedef __m512i V;
constexpr size_t kBytes = 64;
inline V loadu(const uint8_t* p) { return _mm512_loadu_si512(p); }
inline void storeu(uint8_t* p, V v) { _mm512_storeu_si512(p, v); }
inline V splat32(uint32_t x) { return _mm512_set1_epi32(static_cast<int32_t>(x)); }
inline V xorv(V a, V b) { return _mm512_xor_si512(a, b); }
inline V gray(V v) {
  const V rb = _mm512_madd_epi16(_mm512_and_si512(v, _mm512_set1_epi32(0x00ff00ff)), _mm512_set1_epi32(77 | (29 << 16)));
  const V g = _mm512_madd_epi16(_mm512_srli_epi16(v, 8), _mm512_set1_epi32(150));
  const V y = _mm512_add_epi32(_mm512_add_epi32(rb, g), _mm512_set1_epi32(128));
  const V yyy = _mm512_shuffle_epi8(y, _mm512_broadcast_i32x4(yyyIndex()));
  return _mm512_or_si512(yyy, _mm512_and_si512(v, _mm512_set1_epi32(static_cast<int32_t>(0xff000000u))));
}
#elif defined(__AVX2__)
typedef __m256i V;
constexpr size_t kBytes = 32;
inline V loadu(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline void storeu(uint8_t* p, V v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
inline V splat32(uint32_t x) { return _mm256_set1_epi32(static_cast<int32_t>(x)); }
inline V xorv(V a, V b) { return _mm256_xor_si256(a, b); }
inline V gray(V v) {
  const V rb = _mm256_madd_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x00ff00ff)), _mm256_set1_epi32(77 | (29 << 16)));
  const V g = _mm256_madd_epi16(_mm256_srli_epi16(v, 8), _mm256_set1_epi32(150));
  const V y = _mm256_add_epi32(_mm256_add_epi32(rb, g), _mm256_set1_epi32(128));
  const V yyy = _mm256_shuffle_epi8(y, _mm256_broadcastsi128_si256(yyyIndex()));
  return _mm256_or_si256(yyy, _mm256_and_si256(v, _mm256_set1_epi32(static_cast<int32_t>(0xff000000u))));
}
#else
#error "compile with -mavx512bw or -mavx2"
#endif

#define RTC_CAT2(a, b) a##b
#define RTC_CAT(a, b) RTC_CAT2(a, b)

}  // namespace

// src may be dst (each vector is read before it is written; a pixel's gray is its own gray).
extern "C" void RTC_CAT(rtc_grayscale_rgba_, RTC_ISA_SUFFIX)(const uint8_t* src, uint8_t* dst, size_t pixels) {
  const size_t bytes = pixels * 4;
  size_t i = 0;
  for (; i + 4 * kBytes <= bytes; i += 4 * kBytes) {
    const V a = loadu(src + i), b = loadu(src + i + kBytes), c = loadu(src + i + 2 * kBytes), d = loadu(src + i + 3 * kBytes);
    storeu(dst + i, gray(a));
    storeu(dst + i + kBytes, gray(b));
    storeu(dst + i + 2 * kBytes, gray(c));
    storeu(dst + i + 3 * kBytes, gray(d));
  }
  for (; i + kBytes <= bytes; i += kBytes) storeu(dst + i, gray(loadu(src + i)));
  for (; i < bytes; i += 4) {
    const uint8_t y = static_cast<uint8_t>((77u * src[i] + 150u * src[i + 1] + 29u * src[i + 2] + 128u) >> 8);
    const uint8_t a = src[i + 3];
    dst[i] = y;
    dst[i + 1] = y;
    dst[i + 2] = y;
    dst[i + 3] = a;
  }
}

// src may be dst. channels 4: alpha (every fourth byte) kept; otherwise every byte inverted.
extern "C" void RTC_CAT(rtc_invert_, RTC_ISA_SUFFIX)(const uint8_t* src, uint8_t* dst, size_t bytes, int channels) {
  const V mask = splat32(channels == 4 ? 0x00ffffffu : 0xffffffffu);
  size_t i = 0;
  for (; i + 4 * kBytes <= bytes; i += 4 * kBytes) {
    const V a = loadu(src + i), b = loadu(src + i + kBytes), c = loadu(src + i + 2 * kBytes), d = loadu(src + i + 3 * kBytes);
    storeu(dst + i, xorv(a, mask));
    storeu(dst + i + kBytes, xorv(b, mask));
    storeu(dst + i + 2 * kBytes, xorv(c, mask));
    storeu(dst + i + 3 * kBytes, xorv(d, mask));
  }
  for (; i + kBytes <= bytes; i += kBytes) storeu(dst + i, xorv(loadu(src + i), mask));
  for (; i < bytes; i++) dst[i] = channels == 4 && (i & 3) == 3 ? src[i] : static_cast<uint8_t>(255 - src[i]);
}
