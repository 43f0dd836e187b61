// Entry points of build/kernels-native.so: which instruction set this CPU runs, and the kernels on
// planes inside a caller's memory (the WASM kernels' linear memory), bounds-checked here so that
// no argument can make a kernel read or write outside that memory. Each returns 1 when done and 0
// when the call is not one it serves (an isa this CPU lacks, a plane outside mem or overlapping
// another, a shape the kernel does not take): the caller then runs the WASM kernel.
#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace {

// [at, at + bytes) lies inside mem[0, memBytes); all in doubles, as JavaScript hands them over.
bool inside(double at, double bytes, double memBytes) { return at >= 0 && bytes >= 0 && at + bytes <= memBytes; }
// [a, a + aBytes) and [b, b + bBytes) share no byte.
bool apart(double a, double aBytes, double b, double bBytes) { return a + aBytes <= b || b + bBytes <= a; }

// src and dst of `bytes` bytes each inside mem, the same or apart (a kernel that may run in place).
bool frames(double memBytes, double src, double dst, double bytes) {
  return inside(src, bytes, memBytes) && inside(dst, bytes, memBytes) && (src == dst || apart(src, bytes, dst, bytes));
}

// Planes up to 65536 pixels a side: the kernels' offsets are 32-bit and their per-thread scratch grows
// with the longer side (the service's frames are at most MAX_PIXELS, 3840x2160 by default).
constexpr int kMaxSide = 65536;

bool planeShape(int w, int h, int c) {
  return w >= 1 && h >= 1 && w <= kMaxSide && h <= kMaxSide && c >= 1 && c <= 4 && static_cast<double>(w) * h * c <= 2147483647.0;
}

int detectIsa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) return 512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 256;
  return 0;
}

int cpuIsa() {
  static const int isa = detectIsa();
  return isa;
}

// The build to run for an asked `isa`: 512 or 256 when this CPU runs it, else 0.
int runnable(int isa) { return (isa == 512 && cpuIsa() == 512) || (isa == 256 && cpuIsa() >= 256) ? isa : 0; }

template <typename T = uint8_t>
T* at(uint8_t* mem, double offset) {
  return reinterpret_cast<T*>(mem + static_cast<size_t>(offset));
}

}  // namespace

extern "C" {

// 512: AVX-512F/BW/VL; 256: AVX2 with FMA; 0: neither (the WASM kernels serve).
__attribute__((visibility("default"))) int rtc_native_isa(void) { return cpuIsa(); }

// Gaussian of one plane (w x h, c channels) from mem[src..] to mem[dst..] with the `isa` build, as
// the WASM kernels' gaussian export: below kRtcFirMaxSigma the FIR (src and dst apart, the plane at
// least one vector wide), from it on the recursive filter (c = 4 or 1; src may be dst) through the
// 16-bit plane scratch mem[plane .. plane + planeBytes) (at least w * ceil(h / 4) * 32 bytes for
// RGBA, w * ceil(h / 16) * 32 for one channel, apart from src and dst) with the arithmetic of
// build/effects-relaxed.wasm where `fused`, else of build/effects.wasm.
__attribute__((visibility("default"))) int rtc_gaussian(int isa, uint8_t* mem, double memBytes, double src, double dst, int w, int h,
                                                        int c, double sigma, int fused, double plane, double planeBytes) {
  const int build = runnable(isa);
  if (build == 0 || !planeShape(w, h, c) || !(memBytes >= 0)) return 0;
  const double bytes = static_cast<double>(w) * h * c;
  if (!frames(memBytes, src, dst, bytes)) return 0;
  if (sigma < kRtcFirMaxSigma) {
    if (src == dst) return 0;
    return build == 512 ? rtc_gaussian_fir_avx512(at(mem, src), at(mem, dst), w, h, c, sigma)
                        : rtc_gaussian_fir_avx2(at(mem, src), at(mem, dst), w, h, c, sigma);
  }
  if (c != 4 && c != 1) return 0;
  const double need = static_cast<double>(w) * (c == 4 ? (h + 3) / 4 : (h + 15) / 16) * 32;
  if (planeBytes < need || !inside(plane, need, memBytes) || !apart(plane, need, src, bytes) || !apart(plane, need, dst, bytes) ||
      static_cast<size_t>(plane) % 2 != 0) {
    return 0;
  }
  uint16_t* scratch = at<uint16_t>(mem, plane);
  return build == 512 ? rtc_gaussian_iir_avx512(at(mem, src), at(mem, dst), w, h, c, sigma, fused, scratch)
                      : rtc_gaussian_iir_avx2(at(mem, src), at(mem, dst), w, h, c, sigma, fused, scratch);
}

// RGBA -> gray of `pixels` pixels from mem[src..] to mem[dst..] (src may be dst).
__attribute__((visibility("default"))) int rtc_grayscale_rgba(int isa, uint8_t* mem, double memBytes, double src, double dst, double pixels) {
  const int build = runnable(isa);
  if (build == 0 || !(pixels >= 0) || !frames(memBytes, src, dst, pixels * 4)) return 0;
  if (build == 512) rtc_grayscale_rgba_avx512(at(mem, src), at(mem, dst), static_cast<size_t>(pixels));
  else rtc_grayscale_rgba_avx2(at(mem, src), at(mem, dst), static_cast<size_t>(pixels));
  return 1;
}

// Invert of `bytes` bytes (channels 4: alpha kept) from mem[src..] to mem[dst..] (src may be dst).
__attribute__((visibility("default"))) int rtc_invert(int isa, uint8_t* mem, double memBytes, double src, double dst, double bytes, int channels) {
  const int build = runnable(isa);
  if (build == 0 || channels < 1 || channels > 4 || !(bytes >= 0) || !frames(memBytes, src, dst, bytes)) return 0;
  if (build == 512) rtc_invert_avx512(at(mem, src), at(mem, dst), static_cast<size_t>(bytes), channels);
  else rtc_invert_avx2(at(mem, src), at(mem, dst), static_cast<size_t>(bytes), channels);
  return 1;
}

}  // extern "C"
