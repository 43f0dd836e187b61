// The native kernels' per-instruction-set entries, behind the checked ones of kernels.cc
// (build/kernels-native.so, loaded by src/effects/native.ts).
#pragma once
#include <stddef.h>
#include <stdint.h>

// The FIR serves sigma below this (assembly/gaussian-iir.ts RECURSIVE_MIN_SIGMA), so r <= 15; the
// recursive filter from it on.
#define kRtcFirMaxSigma 5.0
#define kRtcFirMaxRadius 15

#ifdef __cplusplus
extern "C" {
#endif
int rtc_gaussian_fir_avx512(const uint8_t* src, uint8_t* dst, int w, int h, int c, double sigma);
int rtc_gaussian_fir_avx2(const uint8_t* src, uint8_t* dst, int w, int h, int c, double sigma);
int rtc_gaussian_iir_avx512(const uint8_t* src, uint8_t* dst, int w, int h, int c, double sigma, int fused, uint16_t* plane);
int rtc_gaussian_iir_avx2(const uint8_t* src, uint8_t* dst, int w, int h, int c, double sigma, int fused, uint16_t* plane);
void rtc_grayscale_rgba_avx512(const uint8_t* src, uint8_t* dst, size_t pixels);
void rtc_grayscale_rgba_avx2(const uint8_t* src, uint8_t* dst, size_t pixels);
void rtc_invert_avx512(const uint8_t* src, uint8_t* dst, size_t bytes, int channels);
void rtc_invert_avx2(const uint8_t* src, uint8_t* dst, size_t bytes, int channels);
#ifdef __cplusplus
}
#endif
