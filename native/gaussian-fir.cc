// The gaussian FIR of assembly/gaussian.ts (below sigma 5) in AVX-512BW or AVX2, compiled once per
// instruction set by scripts/build-native.mjs (-mavx512bw -mavx512vl, or -mavx2, with
// RTC_FIR_NAME naming the entry): the same fixed-point weights and shifts, the same two-row
// vertical sweep into padded Q6 rows, the same horizontal dot products, only 32 or 64 bytes at a time
// instead of 16. Every instruction used works within 128-bit lanes (unpack, madd, pack) exactly as
// its WASM SIMD counterpart does on one 16-byte vector, and the lanes are put back in order where
// a row is written (storeRows, orderBytes), so the output is bit-identical to the WASM kernels
// (test/unit/native-kernels.test.ts holds it to them).
// GCC 12 warns of its own AVX-512 headers (`__m512i __Y = __Y;` in _mm512_undefined_epi32) at each use.
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

#if defined(__AVX512BW__)
typedef __m512i V;
constexpr int kBytes = 64;
inline V loadu(const void* p) { return _mm512_loadu_si512(p); }
inline void storeu(void* p, V v) { _mm512_storeu_si512(p, v); }
inline V zero() { return _mm512_setzero_si512(); }
inline V unlo8(V a, V b) { return _mm512_unpacklo_epi8(a, b); }
inline V unhi8(V a, V b) { return _mm512_unpackhi_epi8(a, b); }
inline V unlo16(V a, V b) { return _mm512_unpacklo_epi16(a, b); }
inline V unhi16(V a, V b) { return _mm512_unpackhi_epi16(a, b); }
inline V add16(V a, V b) { return _mm512_add_epi16(a, b); }
inline V add32(V a, V b) { return _mm512_add_epi32(a, b); }
inline V splat32(int32_t x) { return _mm512_set1_epi32(x); }
inline V srl32(V a, __m128i n) { return _mm512_srl_epi32(a, n); }
inline V packs32(V a, V b) { return _mm512_packs_epi32(a, b); }
inline V packus16(V a, V b) { return _mm512_packus_epi16(a, b); }
inline V dotAdd(V acc, V a, V b) { return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b)); }
// x holds 16-bit lanes 0-7 of each 16-byte group, y lanes 8-15: written as 64 bytes' worth, in order.
inline void storeRows(int16_t* p, V x, V y) {
  storeu(p, _mm512_permutex2var_epi64(x, _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), y));
  storeu(p + 32, _mm512_permutex2var_epi64(x, _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15), y));
}
// packus of two 32-lane halves interleaves their 128-bit lanes' 8-byte groups: back in order.
inline V orderBytes(V x) { return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), x); }
#elif defined(__AVX2__)
typedef __m256i V;
constexpr int kBytes = 32;
inline V loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline void storeu(void* p, V v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }
inline V zero() { return _mm256_setzero_si256(); }
inline V unlo8(V a, V b) { return _mm256_unpacklo_epi8(a, b); }
inline V unhi8(V a, V b) { return _mm256_unpackhi_epi8(a, b); }
inline V unlo16(V a, V b) { return _mm256_unpacklo_epi16(a, b); }
inline V unhi16(V a, V b) { return _mm256_unpackhi_epi16(a, b); }
inline V add16(V a, V b) { return _mm256_add_epi16(a, b); }
inline V add32(V a, V b) { return _mm256_add_epi32(a, b); }
inline V splat32(int32_t x) { return _mm256_set1_epi32(x); }
inline V srl32(V a, __m128i n) { return _mm256_srl_epi32(a, n); }
inline V packs32(V a, V b) { return _mm256_packs_epi32(a, b); }
inline V packus16(V a, V b) { return _mm256_packus_epi16(a, b); }
inline V dotAdd(V acc, V a, V b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
inline void storeRows(int16_t* p, V x, V y) {
  storeu(p, _mm256_permute2x128_si256(x, y, 0x20));
  storeu(p + 16, _mm256_permute2x128_si256(x, y, 0x31));
}
inline V orderBytes(V x) { return _mm256_permute4x64_epi64(x, 0xD8); }
#else
#error "compile with -mavx512bw -mavx512vl or -mavx2"
#endif

constexpr int kVerticalMaxShift = 22;
constexpr int kHorizontalMaxShift = 17;
constexpr int kQ6 = 6;

inline int clampIndex(int v, int n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }
// Math.round of the WASM kernels for the non-negative values rounded here.
inline int16_t roundQ(double x) { return static_cast<int16_t>(std::floor(x + 0.5)); }

double weightTotal(double sigma, int r) {
  const double denom = 2 * sigma * sigma;
  double total = 1;
  for (int k = 1; k <= r; k++) total += 2 * std::exp(-static_cast<double>(k * k) / denom);
  return total;
}

// As quantiseWeights: q[0] the halved centre, q[1..r], q[r + 1] = 0; returns the shift.
int quantiseWeights(double sigma, int r, int16_t* q, int maxShift) {
  const double denom = 2 * sigma * sigma;
  const double total = weightTotal(sigma, r);
  const double wMax = std::max(0.5 / total, std::exp(-1 / denom) / total);
  int s = 0;
  while (s < maxShift && wMax * static_cast<double>(1 << (s + 1)) <= 32767) s++;
  const double scale = static_cast<double>(1 << s);
  q[0] = roundQ((0.5 / total) * scale);
  for (int k = 1; k <= r; k++) q[k] = roundQ((std::exp(-static_cast<double>(k * k) / denom) / total) * scale);
  q[r + 1] = 0;
  return s;
}

inline uint16_t tapWeight(int k, int r, double denom, double scale) {
  return std::abs(k) > r ? 0 : static_cast<uint16_t>(roundQ(std::exp(-static_cast<double>(k * k) / denom) * scale));
}
inline int32_t pair(uint16_t lo, uint16_t hi) { return static_cast<int32_t>(static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16)); }

// As pairWeights: the two rows' weights per pair of input rows, each pair as one i32; returns the shift.
int pairWeights(double sigma, int r, int32_t* qa, int32_t* qb) {
  const double denom = 2 * sigma * sigma;
  const double total = weightTotal(sigma, r);
  int s = 0;
  while (s < kVerticalMaxShift && (1 / total) * static_cast<double>(1 << (s + 1)) <= 32767) s++;
  const double scale = static_cast<double>(1 << s) / total;
  for (int m = 0; m <= r; m++) {
    const int k0 = 2 * m - r;
    qa[m] = pair(tapWeight(k0, r, denom, scale), tapWeight(k0 + 1, r, denom, scale));
    qb[m] = pair(tapWeight(k0 - 1, r, denom, scale), tapWeight(k0, r, denom, scale));
  }
  return s;
}

inline V roundShift(V acc, V rnd, __m128i sh) { return srl32(add32(acc, rnd), sh); }

// Two output rows' vertical pass for kBytes bytes at i (verticalChunk2).
inline void vertical2(const uint8_t* src, const int32_t* offs, const int32_t* qa, const int32_t* qb, int r, int shift,
                      int16_t* rowA, int16_t* rowB, int i) {
  V a0 = zero(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  const V z = zero();
  const uint8_t* base = src + i;
  for (int m = 0; m <= r; m++) {
    const V u = loadu(base + offs[2 * m]);
    const V v = loadu(base + offs[2 * m + 1]);
    const V lo = unlo8(u, v), hi = unhi8(u, v);
    const V p0 = unlo8(lo, z), p1 = unhi8(lo, z), p2 = unlo8(hi, z), p3 = unhi8(hi, z);
    const V wa = splat32(qa[m]), wb = splat32(qb[m]);
    a0 = dotAdd(a0, p0, wa); a1 = dotAdd(a1, p1, wa); a2 = dotAdd(a2, p2, wa); a3 = dotAdd(a3, p3, wa);
    b0 = dotAdd(b0, p0, wb); b1 = dotAdd(b1, p1, wb); b2 = dotAdd(b2, p2, wb); b3 = dotAdd(b3, p3, wb);
  }
  const V rnd = splat32(1 << (shift - kQ6 - 1));
  const __m128i sh = _mm_cvtsi32_si128(shift - kQ6);
  storeRows(rowA + i, packs32(roundShift(a0, rnd, sh), roundShift(a1, rnd, sh)), packs32(roundShift(a2, rnd, sh), roundShift(a3, rnd, sh)));
  storeRows(rowB + i, packs32(roundShift(b0, rnd, sh), roundShift(b1, rnd, sh)), packs32(roundShift(b2, rnd, sh), roundShift(b3, rnd, sh)));
}

#if !defined(__AVX512BW__)
// AVX2: two output rows' vertical pass for 16 bytes at i, each pair of input rows interleaved in
// 128 bits and widened to 256 (vpmovzxbw): four accumulators where vertical2 needs eight, and with
// 16 registers its eight spilled (1080p RGBA sigma 2: 4.2 instead of 5.1 ms; 720p 1.80-1.86 vs
// 1.86-1.88). The sums are the same.
inline void vertical2Narrow(const uint8_t* src, const int32_t* offs, const int32_t* qa, const int32_t* qb, int r, int shift,
                            int16_t* rowA, int16_t* rowB, int i) {
  V a0 = zero(), a1 = a0, b0 = a0, b1 = a0;
  const uint8_t* base = src + i;
  for (int m = 0; m <= r; m++) {
    const __m128i u = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + offs[2 * m]));
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + offs[2 * m + 1]));
    const V p0 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(u, v));
    const V p1 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(u, v));
    const V wa = splat32(qa[m]), wb = splat32(qb[m]);
    a0 = dotAdd(a0, p0, wa); a1 = dotAdd(a1, p1, wa);
    b0 = dotAdd(b0, p0, wb); b1 = dotAdd(b1, p1, wb);
  }
  const V rnd = splat32(1 << (shift - kQ6 - 1));
  const __m128i sh = _mm_cvtsi32_si128(shift - kQ6);
  storeu(rowA + i, _mm256_permute4x64_epi64(packs32(roundShift(a0, rnd, sh), roundShift(a1, rnd, sh)), 0xD8));
  storeu(rowB + i, _mm256_permute4x64_epi64(packs32(roundShift(b0, rnd, sh), roundShift(b1, rnd, sh)), 0xD8));
}
#endif

// One output row's vertical pass (verticalChunk, the last row of an odd height): symmetric taps paired.
inline void vertical1(const uint8_t* src, const int32_t* offs, const int16_t* qv, int r, int shift, int16_t* row, int i) {
  V acc0 = zero(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  const V z = zero();
  const uint8_t* base = src + i;
  for (int k = 0; k <= r; k += 2) {
    const V a0 = loadu(base + offs[2 * k]), b0 = loadu(base + offs[2 * k + 1]);
    const V s0lo = add16(unlo8(a0, z), unlo8(b0, z)), s0hi = add16(unhi8(a0, z), unhi8(b0, z));
    V s1lo = z, s1hi = z;
    if (k < r) {
      const V a1 = loadu(base + offs[2 * k + 2]), b1 = loadu(base + offs[2 * k + 3]);
      s1lo = add16(unlo8(a1, z), unlo8(b1, z));
      s1hi = add16(unhi8(a1, z), unhi8(b1, z));
    }
    int32_t wv;
    std::memcpy(&wv, qv + k, 4);
    const V w = splat32(wv);
    acc0 = dotAdd(acc0, unlo16(s0lo, s1lo), w); acc1 = dotAdd(acc1, unhi16(s0lo, s1lo), w);
    acc2 = dotAdd(acc2, unlo16(s0hi, s1hi), w); acc3 = dotAdd(acc3, unhi16(s0hi, s1hi), w);
  }
  const V rnd = splat32(1 << (shift - kQ6 - 1));
  const __m128i sh = _mm_cvtsi32_si128(shift - kQ6);
  storeRows(row + i, packs32(roundShift(acc0, rnd, sh), roundShift(acc1, rnd, sh)), packs32(roundShift(acc2, rnd, sh), roundShift(acc3, rnd, sh)));
}

// kBytes output bytes at i from the padded Q6 row (horizontalChunk).
inline void horizontal(const int16_t* row, const int16_t* qw, int r, int shift, int c, uint8_t* out, int i) {
  V acc0 = zero(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  const V z = zero();
  constexpr int half = kBytes / 2;
  const int16_t* l = row + i;
  const int16_t* rr = row + i;
  for (int k = 0; k <= r; k += 2) {
    const V t0lo = add16(loadu(l), loadu(rr)), t0hi = add16(loadu(l + half), loadu(rr + half));
    l -= c;
    rr += c;
    V t1lo = z, t1hi = z;
    if (k < r) {
      t1lo = add16(loadu(l), loadu(rr));
      t1hi = add16(loadu(l + half), loadu(rr + half));
      l -= c;
      rr += c;
    }
    int32_t wv;
    std::memcpy(&wv, qw + k, 4);
    const V w = splat32(wv);
    acc0 = dotAdd(acc0, unlo16(t0lo, t1lo), w); acc1 = dotAdd(acc1, unhi16(t0lo, t1lo), w);
    acc2 = dotAdd(acc2, unlo16(t0hi, t1hi), w); acc3 = dotAdd(acc3, unhi16(t0hi, t1hi), w);
  }
  const int s = shift + kQ6;
  const V rnd = splat32(1 << (s - 1));
  const __m128i sh = _mm_cvtsi32_si128(s);
  const V lo = packs32(roundShift(acc0, rnd, sh), roundShift(acc1, rnd, sh));
  const V hi = packs32(roundShift(acc2, rnd, sh), roundShift(acc3, rnd, sh));
  storeu(out + i, orderBytes(packus16(lo, hi)));
}

// Clamp-to-edge padding of a Q6 row: r + 1 copies of the first pixel before, of the last after.
void padRow(int16_t* row, int n, int c, int r) {
  for (int ch = 0; ch < c; ch++) {
    const int16_t first = row[ch], last = row[n - c + ch];
    for (int k = 1; k <= r + 1; k++) {
      row[ch - k * c] = first;
      row[n - c + ch + k * c] = last;
    }
  }
}

void horizontalRow(const int16_t* row, const int16_t* qh, int r, int shift, int c, int n, uint8_t* out) {
  const int last = n - kBytes;
  for (int i = 0; i < last; i += kBytes) horizontal(row, qh, r, shift, c, out, i);
  horizontal(row, qh, r, shift, c, out, last);
}

// Per-thread rows, grown to the widest plane seen (at most two rows of the largest frame allowed).
thread_local Scratch<int16_t> rowsScratch;

}  // namespace

extern "C" int RTC_FIR_NAME(const uint8_t* src, uint8_t* dst, int w, int h, int c, double sigma) {
  const int n = w * c;
  if (n < kBytes || h < 1 || (c != 1 && c != 4) || !(sigma > 0) || sigma >= kRtcFirMaxSigma) return 0;
  const int r = static_cast<int>(std::ceil(3 * sigma));
  const int pad = (r + 1) * c + kBytes;
  const size_t rowLanes = static_cast<size_t>(n) + 2 * static_cast<size_t>(pad);
  int16_t* rows = rowsScratch.get(2 * rowLanes);
  if (rows == nullptr) return 0;
  int16_t* rowA = rows + pad;
  int16_t* rowB = rowA + rowLanes;
  int16_t qh[kRtcFirMaxRadius + 2], qv[kRtcFirMaxRadius + 2];
  int32_t qa[kRtcFirMaxRadius + 1], qb[kRtcFirMaxRadius + 1], offs[2 * (kRtcFirMaxRadius + 2)];
  const int shh = quantiseWeights(sigma, r, qh, kHorizontalMaxShift);
  const int s2 = pairWeights(sigma, r, qa, qb);
  const int last = n - kBytes;
  int y = 0;
  for (; y + 2 <= h; y += 2) {
    for (int m = 0; m <= r; m++) {
      offs[2 * m] = clampIndex(y - r + 2 * m, h) * n;
      offs[2 * m + 1] = clampIndex(y - r + 2 * m + 1, h) * n;
    }
#if defined(__AVX512BW__)
    for (int i = 0; i < last; i += kBytes) vertical2(src, offs, qa, qb, r, s2, rowA, rowB, i);
    vertical2(src, offs, qa, qb, r, s2, rowA, rowB, last);
#else
    for (int i = 0; i < n - 16; i += 16) vertical2Narrow(src, offs, qa, qb, r, s2, rowA, rowB, i);
    vertical2Narrow(src, offs, qa, qb, r, s2, rowA, rowB, n - 16);
#endif
    padRow(rowA, n, c, r);
    padRow(rowB, n, c, r);
    uint8_t* out = dst + static_cast<size_t>(y) * n;
    horizontalRow(rowA, qh, r, shh, c, n, out);
    horizontalRow(rowB, qh, r, shh, c, n, out + n);
  }
  if (y < h) {
    const int sv = quantiseWeights(sigma, r, qv, kVerticalMaxShift);
    for (int k = 0; k <= r + 1; k++) {
      offs[2 * k] = clampIndex(y - k, h) * n;
      offs[2 * k + 1] = clampIndex(y + k, h) * n;
    }
    for (int i = 0; i < last; i += kBytes) vertical1(src, offs, qv, r, sv, rowA, i);
    vertical1(src, offs, qv, r, sv, rowA, last);
    padRow(rowA, n, c, r);
    horizontalRow(rowA, qh, r, shh, c, n, dst + static_cast<size_t>(y) * n);
  }
  return 1;
}
