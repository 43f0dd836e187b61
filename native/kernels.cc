// Entry points of build/kernels-native.so: which instruction set this CPU runs, and the gaussian
// FIR on frames inside a caller's memory (the WASM kernels' linear memory), bounds-checked here so
// that no argument can make it read or write outside that memory.
#include <cstddef>
#include <cstdint>

#include "kernels.h"

extern "C" {

// 512: AVX-512BW/VL; 256: AVX2; 0: neither (the WASM kernels serve).
__attribute__((visibility("default"))) int rtc_native_isa(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) return 512;
  if (__builtin_cpu_supports("avx2")) return 256;
  return 0;
}

// Gaussian of one plane (w x h, c channels) from mem[src..] to mem[dst..] with the `isa` build
// (512 or 256, at most rtc_native_isa()). Returns 1 when done, 0 when this call is not one the FIR
// serves (sigma >= 5, a plane narrower than one vector, an isa this CPU lacks, a plane outside mem):
// the caller then runs the WASM kernel.
__attribute__((visibility("default"))) int rtc_gaussian_fir(int isa, uint8_t* mem, double memBytes, double src, double dst, int w,
                                                            int h, int c, double sigma) {
  if (w < 1 || h < 1 || c < 1 || c > 4 || !(src >= 0) || !(dst >= 0) || !(memBytes >= 0)) return 0;
  const double planeBytes = static_cast<double>(w) * h * c;
  if (src + planeBytes > memBytes || dst + planeBytes > memBytes) return 0;
  const uint8_t* from = mem + static_cast<size_t>(src);
  uint8_t* to = mem + static_cast<size_t>(dst);
  if (from != to && from < to + static_cast<size_t>(planeBytes) && to < from + static_cast<size_t>(planeBytes)) return 0;
  if (from == to) return 0;
  if (isa == 512 && rtc_native_isa() == 512) return rtc_gaussian_fir_avx512(from, to, w, h, c, sigma);
  if (isa == 256 && rtc_native_isa() >= 256) return rtc_gaussian_fir_avx2(from, to, w, h, c, sigma);
  return 0;
}

}  // extern "C"
