// Entry points of build/kernels-native.so: which instruction set this CPU runs, and the gaussian
// on planes inside a caller's memory (the WASM kernels' linear memory), bounds-checked here so that
// no argument can make a kernel read or write outside that memory.
#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace {

// [at, at + bytes) lies inside mem[0, memBytes); all in doubles, as JavaScript hands them over.
bool inside(double at, double bytes, double memBytes) { return at >= 0 && bytes >= 0 && at + bytes <= memBytes; }
// [a, a + aBytes) and [b, b + bBytes) share no byte.
bool apart(double a, double aBytes, double b, double bBytes) { return a + aBytes <= b || b + bBytes <= a; }
// Planes up to 65536 pixels a side: the kernels' offsets are 32-bit and their per-thread scratch grows
// with the longer side (the service's frames are at most MAX_PIXELS, 3840x2160 by default).
constexpr int kMaxSide = 65536;

bool planeArgs(double memBytes, double src, double dst, int w, int h, int c) {
  if (w < 1 || h < 1 || w > kMaxSide || h > kMaxSide || c < 1 || c > 4 || !(memBytes >= 0)) return false;
  if (static_cast<double>(w) * h * c > 2147483647.0) return false;
  const double bytes = static_cast<double>(w) * h * c;
  return inside(src, bytes, memBytes) && inside(dst, bytes, memBytes);
}

}  // namespace

extern "C" {

// 512: AVX-512F/BW/VL; 256: AVX2 with FMA; 0: neither (the WASM kernels serve).
__attribute__((visibility("default"))) int rtc_native_isa(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) return 512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 256;
  return 0;
}

// Gaussian FIR (sigma < 5) of one plane (w x h, c channels) from mem[src..] to mem[dst..] with the
// `isa` build (512 or 256, at most rtc_native_isa()). Returns 1 when done, 0 when this call is not
// one it serves (sigma >= 5, a plane narrower than one vector, an isa this CPU lacks, planes outside
// mem or overlapping): the caller then runs the WASM kernel.
__attribute__((visibility("default"))) int rtc_gaussian_fir(int isa, uint8_t* mem, double memBytes, double src, double dst, int w,
                                                            int h, int c, double sigma) {
  if (!planeArgs(memBytes, src, dst, w, h, c) || !apart(src, static_cast<double>(w) * h * c, dst, static_cast<double>(w) * h * c)) return 0;
  const uint8_t* from = mem + static_cast<size_t>(src);
  uint8_t* to = mem + static_cast<size_t>(dst);
  if (isa == 512 && rtc_native_isa() == 512) return rtc_gaussian_fir_avx512(from, to, w, h, c, sigma);
  if (isa == 256 && rtc_native_isa() >= 256) return rtc_gaussian_fir_avx2(from, to, w, h, c, sigma);
  return 0;
}

// Recursive gaussian (sigma >= 5) of one plane (c = 4 or 1), as rtc_gaussian_fir, through the
// 16-bit plane scratch mem[plane .. plane + planeBytes) (at least w * ceil(h / 4) * 32 bytes for
// RGBA, w * ceil(h / 16) * 32 for one channel, apart from src and dst); src may be dst. `fused`:
// the arithmetic of build/effects-relaxed.wasm, else of build/effects.wasm.
__attribute__((visibility("default"))) int rtc_gaussian_iir(int isa, uint8_t* mem, double memBytes, double src, double dst, int w,
                                                            int h, int c, double sigma, int fused, double plane, double planeBytes) {
  if ((c != 4 && c != 1) || !planeArgs(memBytes, src, dst, w, h, c)) return 0;
  const double bytes = static_cast<double>(w) * h * c;
  if (src != dst && !apart(src, bytes, dst, bytes)) return 0;
  const double need = static_cast<double>(w) * (c == 4 ? (h + 3) / 4 : (h + 15) / 16) * 32;
  if (planeBytes < need || !inside(plane, need, memBytes) || !apart(plane, need, src, bytes) || !apart(plane, need, dst, bytes) ||
      static_cast<size_t>(plane) % 2 != 0) {
    return 0;
  }
  const uint8_t* from = mem + static_cast<size_t>(src);
  uint8_t* to = mem + static_cast<size_t>(dst);
  uint16_t* scratch = reinterpret_cast<uint16_t*>(mem + static_cast<size_t>(plane));
  if (isa == 512 && rtc_native_isa() == 512) return rtc_gaussian_iir_avx512(from, to, w, h, c, sigma, fused, scratch);
  if (isa == 256 && rtc_native_isa() >= 256) return rtc_gaussian_iir_avx2(from, to, w, h, c, sigma, fused, scratch);
  return 0;
}

// RGBA -> gray of `pixels` pixels from mem[src..] to mem[dst..] (src may be dst); 0 when not done.
__attribute__((visibility("default"))) int rtc_grayscale_rgba(int isa, uint8_t* mem, double memBytes, double src, double dst, double pixels) {
  if (!(pixels >= 0) || pixels > 1e12) return 0;
  const double bytes = pixels * 4;
  if (!inside(src, bytes, memBytes) || !inside(dst, bytes, memBytes) || (src != dst && !apart(src, bytes, dst, bytes))) return 0;
  const uint8_t* from = mem + static_cast<size_t>(src);
  uint8_t* to = mem + static_cast<size_t>(dst);
  if (isa == 512 && rtc_native_isa() == 512) rtc_grayscale_rgba_avx512(from, to, static_cast<size_t>(pixels));
  else if (isa == 256 && rtc_native_isa() >= 256) rtc_grayscale_rgba_avx2(from, to, static_cast<size_t>(pixels));
  else return 0;
  return 1;
}

// Invert of `bytes` bytes (channels 4: alpha kept) from mem[src..] to mem[dst..] (src may be dst); 0 when not done.
__attribute__((visibility("default"))) int rtc_invert(int isa, uint8_t* mem, double memBytes, double src, double dst, double bytes, int channels) {
  if (!(bytes >= 0) || bytes > 1e12 || channels < 1 || channels > 4) return 0;
  if (!inside(src, bytes, memBytes) || !inside(dst, bytes, memBytes) || (src != dst && !apart(src, bytes, dst, bytes))) return 0;
  const uint8_t* from = mem + static_cast<size_t>(src);
  uint8_t* to = mem + static_cast<size_t>(dst);
  if (isa == 512 && rtc_native_isa() == 512) rtc_invert_avx512(from, to, static_cast<size_t>(bytes), channels);
  else if (isa == 256 && rtc_native_isa() >= 256) rtc_invert_avx2(from, to, static_cast<size_t>(bytes), channels);
  else return 0;
  return 1;
}

}  // extern "C"
