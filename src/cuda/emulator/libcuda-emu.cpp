/*
 * An emulated CUDA driver: the subset of libcuda.so.1 that src/cuda/driver.ts binds, implemented
 * on the CPU, with the kernels of src/cuda/kernels.cu compiled in as host code. Tests load it in
 * place of libcuda.so.1 so that the FFI declarations, the backend's memory and launch logic and
 * the kernels' own code all run on machines without a GPU (it proves nothing about nvcc's device
 * code generation or GPU timing; the parity tests on a real GPU do that).
 *
 * It is stricter than a GPU where that finds bugs early:
 * - device allocations end at a PROT_NONE page, so a kernel that reads or writes past the end
 *   of a buffer crashes at once;
 * - copies, memsets and kernel arguments are checked against the live allocations (a bad range
 *   is CUDA_ERROR_ILLEGAL_ADDRESS, sticky as on a GPU);
 * - a block whose threads do not all reach the same __syncthreads() fails the launch;
 * - calls that need a context fail with CUDA_ERROR_INVALID_CONTEXT on a thread without one.
 *
 * Streams are synchronous: every operation completes before its call returns.
 *
 * Test hooks: cuEmuControl("fault <call> <code> <skip> <times>") makes <call> fail with <code>
 * after <skip> more successful calls, <times> times (-1: for ever); sticky codes then poison
 * every later call, as a corrupted context does. Also "devices <n>", "reset",
 * "count <call>" (calls made), "live device-bytes" and "live host-bytes". A process started with
 * CUDA_EMU_FAULT="<call> <code> <skip> <times>" begins with that fault set.
 *
 * Build (build.ts does it for the tests): g++ -std=c++17 -O2 -shared -fPIC libcuda-emu.cpp -o libcuda-emu.so
 */
#include "cuda-emu.h"

#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "../kernels.cu"
#include "../segment.cu"

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local uint3 blockDim;
thread_local uint3 gridDim;

namespace {

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum : CUresult {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_INVALID_PTX = 218,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_ILLEGAL_ADDRESS = 700,
  CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
  CUDA_ERROR_LAUNCH_FAILED = 719,
};

struct ErrorText {
  CUresult code;
  const char *name;
  const char *text;
};
const ErrorText kErrors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "the provided PTX was compiled with an unsupported toolchain."},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

// Errors after which a real context is unusable until the process restarts (cuda.h says so).
bool isSticky(CUresult code) {
  switch (code) {
    case 214: case 226: case 700: case 702: case 714: case 715: case 716: case 717: case 718: case 719:
    case 721: case 810: case 911:
      return true;
    default:
      return false;
  }
}

enum class ArgKind { Plane, GaussRows, GaussColumns, GaussRecursiveColumns, Seg, SegFrame };

struct KernelEntry {
  const char *name;
  void (*run)(void **params);
  bool usesBarrier;
  ArgKind kind;
  int channels;
  size_t argBytes;
};

template <typename A, void (*K)(A)> void trampoline(void **params) {
  A args;
  std::memcpy(&args, params[0], sizeof(A));
  K(args);
}

#define PLANE(name, barrier, channels) {#name, trampoline<PlaneArgs, name>, barrier, ArgKind::Plane, channels, sizeof(PlaneArgs)}
#define GAUSS(name, barrier, kind, channels) {#name, trampoline<GaussArgs, name>, barrier, kind, channels, sizeof(GaussArgs)}
#define SEG(name) {#name, trampoline<SegArgs, name>, false, ArgKind::Seg, 0, sizeof(SegArgs)}
#define SEG_FRAME(name) {#name, trampoline<SegFrameArgs, name>, false, ArgKind::SegFrame, 0, sizeof(SegFrameArgs)}

const KernelEntry kKernels[] = {
    PLANE(rtc_blur_c4, false, 4),
    PLANE(rtc_blur_c1, false, 1),
    PLANE(rtc_sharpen_c4, false, 4),
    PLANE(rtc_sharpen_c1, false, 1),
    PLANE(rtc_edge_c4, false, 4),
    PLANE(rtc_edge_c1, false, 1),
    GAUSS(rtc_gaussian_rows_c4, true, ArgKind::GaussRows, 4),
    GAUSS(rtc_gaussian_rows_c1, true, ArgKind::GaussRows, 1),
    GAUSS(rtc_gaussian_columns_c4, false, ArgKind::GaussColumns, 4),
    GAUSS(rtc_gaussian_columns_c1, false, ArgKind::GaussColumns, 1),
    GAUSS(rtc_gaussian_recursive_rows_c4, false, ArgKind::GaussRows, 4),
    GAUSS(rtc_gaussian_recursive_rows_c1, false, ArgKind::GaussRows, 1),
    GAUSS(rtc_gaussian_recursive_columns_c4, false, ArgKind::GaussRecursiveColumns, 4),
    GAUSS(rtc_gaussian_recursive_columns_c1, false, ArgKind::GaussRecursiveColumns, 1),
    PLANE(rtc_pixelate_c4, true, 4),
    PLANE(rtc_pixelate_c1, true, 1),
    PLANE(rtc_pixelate_small_c4, false, 4),
    PLANE(rtc_pixelate_small_c1, false, 1),
    PLANE(rtc_grayscale_rgba, false, 4),
    PLANE(rtc_invert_rgba, false, 4),
    PLANE(rtc_invert_bytes, false, 1),
    SEG(rtc_seg_conv2d),
    SEG(rtc_seg_depthwise),
    SEG(rtc_seg_deconv),
    SEG(rtc_seg_avgpool),
    SEG(rtc_seg_resize),
    SEG(rtc_seg_activation),
    SEG(rtc_seg_add),
    SEG(rtc_seg_mul),
    SEG_FRAME(rtc_seg_rgba_to_input),
    SEG_FRAME(rtc_seg_i420_to_input),
    SEG_FRAME(rtc_seg_mask_update),
    SEG_FRAME(rtc_seg_down4_c4),
    SEG_FRAME(rtc_seg_down4_c1),
    SEG_FRAME(rtc_seg_blur_rows_c4),
    SEG_FRAME(rtc_seg_blur_rows_c1),
    SEG_FRAME(rtc_seg_blur_columns_c4),
    SEG_FRAME(rtc_seg_blur_columns_c1),
    SEG_FRAME(rtc_seg_edge_quarter),
    SEG_FRAME(rtc_seg_edge_box),
    SEG_FRAME(rtc_seg_edge_half),
    SEG_FRAME(rtc_seg_edge_full),
    SEG_FRAME(rtc_seg_blend_c4),
    SEG_FRAME(rtc_seg_blend_c1),
};

struct Allocation {
  void *base;
  size_t mappedBytes;
  size_t bytes;
};

struct Module {
  std::string image;
};

struct Stream {
  int magic;
};

struct Event {
  int magic;
  bool recorded;
  std::chrono::steady_clock::time_point at;
};

const int kStreamMagic = 0x5354524d;
const int kEventMagic = 0x45564e54;

struct Fault {
  std::string call;
  CUresult code = 0;
  long long skip = 0;
  long long times = 0;
};

struct State {
  std::mutex mutex;
  bool initialised = false;
  int devices = 1;
  int contextRefs = 0;
  CUresult sticky = CUDA_SUCCESS;
  Fault fault;
  std::map<uintptr_t, Allocation> device;
  std::map<uintptr_t, size_t> host;
  std::map<std::string, long long> calls;
  long long liveDeviceBytes = 0;
  long long liveHostBytes = 0;
};

/* One test-hook command (see the file comment); the caller holds the mutex or owns `s`. */
long long control(State &s, const std::string &command) {
  std::istringstream in(command);
  std::string verb;
  in >> verb;
  if (verb == "reset") {
    s.fault = Fault{};
    s.sticky = CUDA_SUCCESS;
    s.calls.clear();
    s.devices = 1;
    return 0;
  }
  if (verb == "fault") {
    Fault f;
    in >> f.call >> f.code >> f.skip >> f.times;
    if (!in) return -1;
    s.fault = f;
    return 0;
  }
  if (verb == "devices") {
    int n = -1;
    in >> n;
    if (!in || n < 0) return -1;
    s.devices = n;
    if (n == 0) s.initialised = false;
    return 0;
  }
  if (verb == "count") {
    std::string call;
    in >> call;
    return s.calls[call];
  }
  if (verb == "live") {
    std::string what;
    in >> what;
    if (what == "device-bytes") return s.liveDeviceBytes;
    if (what == "host-bytes") return s.liveHostBytes;
    return -1;
  }
  return -1;
}

/* A process that cannot call cuEmuControl (a server under test) takes its fault from the environment. */
State &state() {
  static State *s = [] {
    State *fresh = new State();
    if (const char *fault = std::getenv("CUDA_EMU_FAULT")) control(*fresh, std::string("fault ") + fault);
    return fresh;
  }();
  return *s;
}

int contextToken;  // the address is the one primary context's handle
thread_local void *currentContext = nullptr;
const size_t kPage = 4096;

/* Counts the call and returns the error an injected fault or a poisoned context makes it return. */
CUresult enter(const char *call, bool needsContext) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.calls[call]++;
  if (!s.initialised && std::strcmp(call, "cuInit") != 0 && std::strcmp(call, "cuDriverGetVersion") != 0 &&
      std::strncmp(call, "cuGetError", 10) != 0) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  if (needsContext && s.sticky != CUDA_SUCCESS) return s.sticky;
  if (needsContext && currentContext == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  if (s.fault.times != 0 && s.fault.call == call) {
    if (s.fault.skip > 0) {
      s.fault.skip--;
    } else {
      if (s.fault.times > 0) s.fault.times--;
      if (isSticky(s.fault.code)) s.sticky = s.fault.code;
      return s.fault.code;
    }
  }
  return CUDA_SUCCESS;
}

/* True when [p, p + bytes) lies inside one live device allocation. Caller holds the mutex. */
bool deviceRangeOk(State &s, uintptr_t p, size_t bytes) {
  auto it = s.device.upper_bound(p);
  if (it == s.device.begin()) return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second.bytes && p + bytes >= p;
}

bool checkDevice(uintptr_t p, size_t bytes) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (deviceRangeOk(s, p, bytes)) return true;
  s.sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
  std::fprintf(stderr, "cuda-emu: illegal address %#lx (+%zu bytes)\n", (unsigned long)p, bytes);
  return false;
}

/* The buffers a segmentation layer reads and writes lie in live allocations (sizes from segment.cu). */
bool checkSegArgs(const KernelEntry &k, void **params) {
  SegArgs a;
  std::memcpy(&a, params[0], sizeof a);
  const std::string name = k.name;
  const long long dims[] = {a.inH, a.inW, a.inC, a.outH, a.outW, a.outC};
  for (long long d : dims)
    if (d < 1 || d > (1 << 20)) return false;
  const size_t f = sizeof(float);
  const size_t in = (size_t)a.inH * a.inW * a.inC, out = (size_t)a.outH * a.outW * a.outC;
  const size_t taps = (size_t)a.kh * a.kw;
  if (name == "rtc_seg_conv2d" || name == "rtc_seg_depthwise" || name == "rtc_seg_deconv" || name == "rtc_seg_avgpool") {
    if (a.kh < 1 || a.kw < 1 || a.strideH < 1 || a.strideW < 1 || a.padTop < 0 || a.padLeft < 0) return false;
  }
  if (name == "rtc_seg_avgpool" && ((size_t)(a.outH - 1) * a.strideH + a.kh > (size_t)a.inH || (size_t)(a.outW - 1) * a.strideW + a.kw > (size_t)a.inW || a.inC != a.outC)) return false;
  if ((name == "rtc_seg_activation" || name == "rtc_seg_add" || name == "rtc_seg_mul") && in != out) return false;
  if (name == "rtc_seg_depthwise" && a.inC != a.outC) return false;
  size_t filter = 0;
  if (name == "rtc_seg_conv2d" || name == "rtc_seg_deconv") filter = taps * a.inC * a.outC;
  if (name == "rtc_seg_depthwise") filter = taps * a.inC;
  bool ok = checkDevice((uintptr_t)a.in, in * f) && checkDevice((uintptr_t)a.out, out * f);
  if (ok && filter > 0) ok = checkDevice((uintptr_t)a.filter, filter * f) && checkDevice((uintptr_t)a.bias, (size_t)a.outC * f);
  if (ok && name == "rtc_seg_add") ok = checkDevice((uintptr_t)a.in2, out * f);
  if (ok && name == "rtc_seg_mul") ok = checkDevice((uintptr_t)a.in2, ((a.flags & RTC_SEG_FLAG_BROADCAST) ? (size_t)a.outC : out) * f);
  return ok;
}

bool checkSegFrameArgs(const KernelEntry &k, void **params) {
  SegFrameArgs a;
  std::memcpy(&a, params[0], sizeof a);
  const std::string name = k.name;
  // Radius -1: the blur passes' recursive filter (its coefficients in weights).
  if (a.width < 1 || a.height < 1 || a.maskH < 1 || a.maskW < 1 || a.maskC < 1 || a.radius < -1 || a.radius > RTC_SEG_MAX_RADIUS) return false;
  const size_t pixels = (size_t)a.width * a.height;
  const size_t maskPixels = (size_t)a.maskH * a.maskW;
  if (name == "rtc_seg_mask_update") return checkDevice((uintptr_t)a.prob, maskPixels * a.maskC * sizeof(float)) && checkDevice((uintptr_t)a.mask, maskPixels);
  if (name == "rtc_seg_rgba_to_input") return checkDevice((uintptr_t)a.src, pixels * 4) && checkDevice((uintptr_t)a.work, maskPixels * 3 * sizeof(float));
  if (name == "rtc_seg_i420_to_input") {
    const size_t chroma = (size_t)((a.width + 1) >> 1) * ((a.height + 1) >> 1);
    return checkDevice((uintptr_t)a.src, pixels + 2 * chroma) && checkDevice((uintptr_t)a.work, maskPixels * 3 * sizeof(float));
  }
  // The plane's edge bytes: quarter grid, its 3x3 mean, half and full grids (segment.cu).
  const size_t edgeBytes = 22 * (size_t)((a.width + 3) >> 2) * ((a.height + 3) >> 2);
  if (name.rfind("rtc_seg_edge_", 0) == 0) return checkDevice((uintptr_t)a.edge, edgeBytes) && (name != "rtc_seg_edge_quarter" || checkDevice((uintptr_t)a.mask, maskPixels));
  const size_t c = name.back() == '4' ? 4 : 1;
  bool ok = checkDevice((uintptr_t)a.src, pixels * c);
  // The blur's three quarter-grid planes of floats.
  const size_t quarter = 3 * (size_t)((a.width + 3) >> 2) * ((a.height + 3) >> 2) * c * sizeof(float);
  if (name.rfind("rtc_seg_blur_", 0) == 0 || name.rfind("rtc_seg_down4", 0) == 0) return ok && checkDevice((uintptr_t)a.work, quarter);
  ok = ok && checkDevice((uintptr_t)a.dst, pixels * c) && checkDevice((uintptr_t)a.edge, edgeBytes);
  if (a.mode == RTC_SEG_BACKDROP_BLUR) ok = ok && checkDevice((uintptr_t)a.work, quarter);
  else if (a.mode == RTC_SEG_BACKDROP_IMAGE) ok = ok && checkDevice((uintptr_t)a.bg, pixels * c);
  else if (a.mode != RTC_SEG_BACKDROP_COLOUR) return false;
  return ok;
}

bool checkArgs(const KernelEntry &k, void **params) {
  if (k.kind == ArgKind::Seg) return checkSegArgs(k, params);
  if (k.kind == ArgKind::SegFrame) return checkSegFrameArgs(k, params);
  const size_t c = (size_t)k.channels;
  if (k.kind == ArgKind::Plane) {
    PlaneArgs a;
    std::memcpy(&a, params[0], sizeof a);
    if (a.width < 1 || a.height < 1) return false;
    const size_t bytes = (size_t)a.width * (size_t)a.height * c;
    if (std::strncmp(k.name, "rtc_pixelate", 12) == 0 && (a.block < 1 || a.block > 256)) return false;
    return checkDevice((uintptr_t)a.src, bytes) && checkDevice((uintptr_t)a.dst, bytes);
  }
  GaussArgs a;
  std::memcpy(&a, params[0], sizeof a);
  if (a.width < 1 || a.height < 1 || a.radius < 0 || a.radius > RTC_MAX_RADIUS) return false;
  const size_t samples = (size_t)a.width * (size_t)a.height * c;
  // The recursive column pass keeps its causal sums in a second float plane after its input.
  const size_t inBytes = k.kind == ArgKind::GaussRows ? samples : samples * sizeof(float) * (k.kind == ArgKind::GaussRecursiveColumns ? 2 : 1);
  const size_t outBytes = k.kind == ArgKind::GaussRows ? samples * sizeof(float) : samples;
  return checkDevice((uintptr_t)a.in, inBytes) && checkDevice((uintptr_t)a.out, outBytes);
}

/* ---- the grid executor ---- */

/*
 * One fiber per thread of a block, for kernels with barriers. A fiber is started once (makecontext)
 * and then lives on: it runs the kernel for its thread, parks, and runs it again for the next block
 * or grid it is resumed for. Switches are _setjmp/_longjmp, which save no signal mask: swapcontext
 * makes a system call on every switch (two per thread per barrier), which dominated the emulator's
 * time.
 */
struct Fiber {
  ucontext_t context;  // its first start only
  jmp_buf resume;      // where it is parked: at a barrier, or after its kernel
  std::vector<char> stack;
  uint3 thread;
  bool started = false;
  bool done = false;
  bool waiting = false;
};

const size_t kFiberStackBytes = 64 * 1024;

thread_local jmp_buf schedulerResume;
thread_local Fiber *currentFiber = nullptr;
thread_local const KernelEntry *currentKernel = nullptr;
thread_local void **currentParams = nullptr;
// A deque: growing it never moves a fiber (their stacks hold pointers into it).
thread_local std::deque<Fiber> fibers;

/* Parks the running fiber and returns to the scheduler; returns when the fiber is resumed. */
__attribute__((noinline)) void parkFiber() {
  if (_setjmp(currentFiber->resume) == 0) _longjmp(schedulerResume, 1);
}

[[noreturn]] void fiberMain() {
  for (;;) {
    currentKernel->run(currentParams);
    currentFiber->done = true;
    parkFiber();
  }
}

/* Runs `f` until it parks (at a barrier or at its kernel's end). */
__attribute__((noinline)) void resumeFiber(Fiber &f) {
  currentFiber = &f;
  threadIdx = f.thread;
  if (_setjmp(schedulerResume) != 0) return;
  if (!f.started) {
    f.started = true;
    setcontext(&f.context);
  }
  _longjmp(f.resume, 1);
}

/* Sets a fiber up to start at fiberMain on its own stack (getcontext returns twice: kept apart). */
__attribute__((noinline)) void prepareFiber(Fiber &f) {
  if (f.stack.size() < kFiberStackBytes) f.stack.resize(kFiberStackBytes);
  getcontext(&f.context);
  f.context.uc_stack.ss_sp = f.stack.data();
  f.context.uc_stack.ss_size = f.stack.size();
  f.context.uc_link = nullptr;
  makecontext(&f.context, fiberMain, 0);
}

/* Runs the grid on this OS thread; kernels without barriers run thread after thread. */
CUresult runGrid(const KernelEntry &k, uint3 grid, uint3 block, void **params) {
  gridDim = grid;
  blockDim = block;
  const unsigned threads = block.x * block.y * block.z;
  currentKernel = &k;
  currentParams = params;
  if (!k.usesBarrier) {
    currentFiber = nullptr;
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          blockIdx = uint3{bx, by, bz};
          for (unsigned tz = 0; tz < block.z; ++tz)
            for (unsigned ty = 0; ty < block.y; ++ty)
              for (unsigned tx = 0; tx < block.x; ++tx) {
                threadIdx = uint3{tx, ty, tz};
                k.run(params);
              }
        }
    return CUDA_SUCCESS;
  }
  if (fibers.size() < threads) fibers.resize(threads);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = uint3{bx, by, bz};
        for (unsigned i = 0; i < threads; ++i) {
          Fiber &f = fibers[i];
          if (!f.started) prepareFiber(f);
          f.thread = uint3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
          f.done = false;
          f.waiting = false;
        }
        for (;;) {
          for (unsigned i = 0; i < threads; ++i) {
            Fiber &f = fibers[i];
            if (f.done) continue;
            f.waiting = false;
            resumeFiber(f);
          }
          unsigned done = 0, waiting = 0;
          for (unsigned i = 0; i < threads; ++i) {
            done += fibers[i].done ? 1 : 0;
            waiting += fibers[i].waiting ? 1 : 0;
          }
          if (done == threads) break;
          if (done > 0 || waiting != threads) {
            std::fprintf(stderr, "cuda-emu: %s: threads of block (%u,%u,%u) diverged at __syncthreads()\n", k.name, bx, by, bz);
            // Some fibers are parked inside the kernel: start every one afresh next time.
            for (Fiber &f : fibers) f.started = false;
            currentFiber = nullptr;
            return CUDA_ERROR_LAUNCH_FAILED;
          }
        }
      }
  currentFiber = nullptr;
  return CUDA_SUCCESS;
}

}  // namespace

void __syncthreads() {
  if (currentFiber == nullptr) {
    std::fprintf(stderr, "cuda-emu: %s calls __syncthreads() but is registered without barriers\n",
                 currentKernel ? currentKernel->name : "?");
    std::abort();
  }
  currentFiber->waiting = true;
  parkFiber();
}

extern "C" {

CUresult cuGetErrorName(CUresult error, const char **pStr) {
  for (const ErrorText &e : kErrors) {
    if (e.code == error) {
      *pStr = e.name;
      return CUDA_SUCCESS;
    }
  }
  *pStr = nullptr;
  return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char **pStr) {
  for (const ErrorText &e : kErrors) {
    if (e.code == error) {
      *pStr = e.text;
      return CUDA_SUCCESS;
    }
  }
  *pStr = nullptr;
  return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuInit(unsigned int flags) {
  if (CUresult r = enter("cuInit", false)) return r;
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.devices == 0) return CUDA_ERROR_NO_DEVICE;
  s.initialised = true;
  return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int *version) {
  if (CUresult r = enter("cuDriverGetVersion", false)) return r;
  *version = 13000;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count) {
  if (CUresult r = enter("cuDeviceGetCount", false)) return r;
  *count = state().devices;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(int *device, int ordinal) {
  if (CUresult r = enter("cuDeviceGet", false)) return r;
  if (ordinal < 0 || ordinal >= state().devices) return CUDA_ERROR_INVALID_DEVICE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int len, int device) {
  if (CUresult r = enter("cuDeviceGetName", false)) return r;
  if (device < 0 || device >= state().devices) return CUDA_ERROR_INVALID_DEVICE;
  std::snprintf(name, (size_t)len, "Emulated CUDA device (CPU)");
  return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, int device) {
  if (CUresult r = enter("cuDeviceTotalMem_v2", false)) return r;
  if (device < 0 || device >= state().devices) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = (size_t)1 << 30;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  if (CUresult r = enter("cuDeviceGetAttribute", false)) return r;
  if (device < 0 || device >= state().devices) return CUDA_ERROR_INVALID_DEVICE;
  switch (attribute) {
    case 75: *value = 7; return CUDA_SUCCESS;   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    case 76: *value = 5; return CUDA_SUCCESS;   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
    case 16: *value = 1; return CUDA_SUCCESS;   // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    default: return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuDevicePrimaryCtxRetain(void **context, int device) {
  if (CUresult r = enter("cuDevicePrimaryCtxRetain", false)) return r;
  if (device < 0 || device >= state().devices) return CUDA_ERROR_INVALID_DEVICE;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.contextRefs++;
  *context = &contextToken;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(int device) {
  if (CUresult r = enter("cuDevicePrimaryCtxRelease_v2", false)) return r;
  if (device < 0 || device >= state().devices) return CUDA_ERROR_INVALID_DEVICE;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.contextRefs == 0) return CUDA_ERROR_INVALID_CONTEXT;
  s.contextRefs--;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(void *context) {
  if (CUresult r = enter("cuCtxSetCurrent", false)) return r;
  if (context != nullptr && context != &contextToken) return CUDA_ERROR_INVALID_CONTEXT;
  currentContext = context;
  return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(void **module, const void *image) {
  if (CUresult r = enter("cuModuleLoadData", true)) return r;
  const char *text = static_cast<const char *>(image);
  if (text == nullptr || std::strncmp(text, "//", 2) != 0 || std::strstr(text, ".entry") == nullptr) return CUDA_ERROR_INVALID_IMAGE;
  *module = new Module{text};
  return CUDA_SUCCESS;
}

CUresult cuModuleUnload(void *module) {
  if (CUresult r = enter("cuModuleUnload", true)) return r;
  delete static_cast<Module *>(module);
  return CUDA_SUCCESS;
}

/* A function handle is the kernel's table entry, found only if the loaded PTX declares it. */
CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  if (CUresult r = enter("cuModuleGetFunction", true)) return r;
  const Module *m = static_cast<const Module *>(module);
  if (m == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  const std::string entry = std::string(".entry ") + name + "(";
  if (m->image.find(entry) == std::string::npos) return CUDA_ERROR_NOT_FOUND;
  for (const KernelEntry &k : kKernels) {
    if (std::strcmp(k.name, name) == 0) {
      *function = const_cast<KernelEntry *>(&k);
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_NOT_FOUND;
}

/* The buffer ends where a PROT_NONE page begins; its start keeps the alignment its size allows. */
CUresult cuMemAlloc_v2(CUdeviceptr *pointer, size_t bytes) {
  if (CUresult r = enter("cuMemAlloc_v2", true)) return r;
  if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  const size_t dataPages = (bytes + kPage - 1) / kPage;
  const size_t mapped = (dataPages + 2) * kPage;
  void *base = mmap(nullptr, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
  char *data = static_cast<char *>(base) + kPage;
  if (mprotect(data, dataPages * kPage, PROT_READ | PROT_WRITE) != 0) {
    munmap(base, mapped);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  size_t align = 256;
  while (align > 1 && bytes % align != 0) align >>= 1;
  uintptr_t start = reinterpret_cast<uintptr_t>(data) + dataPages * kPage - bytes;
  start &= ~(uintptr_t)(align - 1);
  std::memset(reinterpret_cast<void *>(start), 0xcd, bytes);
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.device[start] = Allocation{base, mapped, bytes};
  s.liveDeviceBytes += (long long)bytes;
  *pointer = start;
  return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr pointer) {
  if (CUresult r = enter("cuMemFree_v2", true)) return r;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.device.find((uintptr_t)pointer);
  if (it == s.device.end()) return CUDA_ERROR_INVALID_VALUE;
  munmap(it->second.base, it->second.mappedBytes);
  s.liveDeviceBytes -= (long long)it->second.bytes;
  s.device.erase(it);
  return CUDA_SUCCESS;
}

CUresult cuMemHostAlloc(void **pointer, size_t bytes, unsigned int flags) {
  if (CUresult r = enter("cuMemHostAlloc", true)) return r;
  if (bytes == 0 || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  void *p = std::aligned_alloc(kPage, (bytes + kPage - 1) / kPage * kPage);
  if (p == nullptr) return CUDA_ERROR_OUT_OF_MEMORY;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.host[reinterpret_cast<uintptr_t>(p)] = bytes;
  s.liveHostBytes += (long long)bytes;
  *pointer = p;
  return CUDA_SUCCESS;
}

CUresult cuMemFreeHost(void *pointer) {
  if (CUresult r = enter("cuMemFreeHost", true)) return r;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.host.find(reinterpret_cast<uintptr_t>(pointer));
  if (it == s.host.end()) return CUDA_ERROR_INVALID_VALUE;
  s.liveHostBytes -= (long long)it->second;
  s.host.erase(it);
  std::free(pointer);
  return CUDA_SUCCESS;
}

bool validStream(void *stream) { return stream != nullptr && static_cast<Stream *>(stream)->magic == kStreamMagic; }
bool validEvent(void *event) { return event != nullptr && static_cast<Event *>(event)->magic == kEventMagic; }

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *stream) {
  if (CUresult r = enter("cuMemcpyHtoDAsync_v2", true)) return r;
  if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (!checkDevice((uintptr_t)dst, bytes)) return CUDA_ERROR_ILLEGAL_ADDRESS;
  std::memcpy(reinterpret_cast<void *>(dst), src, bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *stream) {
  if (CUresult r = enter("cuMemcpyDtoHAsync_v2", true)) return r;
  if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (!checkDevice((uintptr_t)src, bytes)) return CUDA_ERROR_ILLEGAL_ADDRESS;
  std::memcpy(dst, reinterpret_cast<const void *>(src), bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void *stream) {
  if (CUresult r = enter("cuMemcpyDtoDAsync_v2", true)) return r;
  if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (!checkDevice((uintptr_t)dst, bytes) || !checkDevice((uintptr_t)src, bytes)) return CUDA_ERROR_ILLEGAL_ADDRESS;
  std::memmove(reinterpret_cast<void *>(dst), reinterpret_cast<const void *>(src), bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t count, void *stream) {
  if (CUresult r = enter("cuMemsetD8Async", true)) return r;
  if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (!checkDevice((uintptr_t)dst, count)) return CUDA_ERROR_ILLEGAL_ADDRESS;
  std::memset(reinterpret_cast<void *>(dst), value, count);
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(void *function, unsigned int gridX, unsigned int gridY, unsigned int gridZ, unsigned int blockX,
                        unsigned int blockY, unsigned int blockZ, unsigned int sharedBytes, void *stream, void **params,
                        void **extra) {
  if (CUresult r = enter("cuLaunchKernel", true)) return r;
  const KernelEntry *k = static_cast<const KernelEntry *>(function);
  bool known = false;
  for (const KernelEntry &e : kKernels) known = known || k == &e;
  if (!known || !validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (params == nullptr || params[0] == nullptr || extra != nullptr || sharedBytes != 0) return CUDA_ERROR_INVALID_VALUE;
  if (gridX == 0 || gridY == 0 || gridZ == 0 || gridY > 65535 || gridZ > 65535 || gridX > 0x7fffffffu) return CUDA_ERROR_INVALID_VALUE;
  if (blockX == 0 || blockY == 0 || blockZ == 0 || blockX > 1024 || blockY > 1024 || blockZ > 64 ||
      (unsigned long long)blockX * blockY * blockZ > 1024) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!checkArgs(*k, params)) {
    State &s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  }
  const CUresult r = runGrid(*k, uint3{gridX, gridY, gridZ}, uint3{blockX, blockY, blockZ}, params);
  if (r != CUDA_SUCCESS) {
    State &s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.sticky = r;
  }
  return r;
}

CUresult cuStreamCreate(void **stream, unsigned int flags) {
  if (CUresult r = enter("cuStreamCreate", true)) return r;
  if (flags > 1) return CUDA_ERROR_INVALID_VALUE;
  *stream = new Stream{kStreamMagic};
  return CUDA_SUCCESS;
}

CUresult cuStreamDestroy_v2(void *stream) {
  if (CUresult r = enter("cuStreamDestroy_v2", true)) return r;
  if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
  static_cast<Stream *>(stream)->magic = 0;
  delete static_cast<Stream *>(stream);
  return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(void *stream) {
  if (CUresult r = enter("cuStreamSynchronize", true)) return r;
  return validStream(stream) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuEventCreate(void **event, unsigned int flags) {
  if (CUresult r = enter("cuEventCreate", true)) return r;
  if (flags > 0xf) return CUDA_ERROR_INVALID_VALUE;
  *event = new Event{kEventMagic, false, {}};
  return CUDA_SUCCESS;
}

CUresult cuEventRecord(void *event, void *stream) {
  if (CUresult r = enter("cuEventRecord", true)) return r;
  if (!validEvent(event) || !validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
  Event *e = static_cast<Event *>(event);
  e->recorded = true;
  e->at = std::chrono::steady_clock::now();
  return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(void *event) {
  if (CUresult r = enter("cuEventSynchronize", true)) return r;
  return validEvent(event) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

static CUresult elapsed(const char *call, float *ms, void *start, void *end) {
  if (CUresult r = enter(call, true)) return r;
  if (!validEvent(start) || !validEvent(end)) return CUDA_ERROR_INVALID_HANDLE;
  const Event *a = static_cast<Event *>(start);
  const Event *b = static_cast<Event *>(end);
  if (!a->recorded || !b->recorded) return CUDA_ERROR_INVALID_HANDLE;
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return CUDA_SUCCESS;
}

CUresult cuEventElapsedTime_v2(float *ms, void *start, void *end) { return elapsed("cuEventElapsedTime_v2", ms, start, end); }
CUresult cuEventElapsedTime(float *ms, void *start, void *end) { return elapsed("cuEventElapsedTime", ms, start, end); }

CUresult cuEventDestroy_v2(void *event) {
  if (CUresult r = enter("cuEventDestroy_v2", true)) return r;
  if (!validEvent(event)) return CUDA_ERROR_INVALID_HANDLE;
  static_cast<Event *>(event)->magic = 0;
  delete static_cast<Event *>(event);
  return CUDA_SUCCESS;
}

long long cuEmuControl(const char *command) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return control(s, command);
}

}  // extern "C"
