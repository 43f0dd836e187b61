// A kernel's per-thread scratch: grows to the largest size asked for and is kept for the next call
// (the planes' sides are bounded by kernels.cc, so is this). An allocation that fails gives nullptr:
// the kernel then declines and the WASM kernel serves, where std::vector would end the process
// (the library is built without exceptions).
#pragma once
#include <cstddef>
#include <cstdlib>

template <typename T>
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(data_); }

  // At least `count` elements (contents unspecified), or nullptr.
  T* get(size_t count) {
    if (count > count_) {
      void* grown = std::realloc(data_, count * sizeof(T));
      if (grown == nullptr) return nullptr;
      data_ = static_cast<T*>(grown);
      count_ = count;
    }
    return data_;
  }

 private:
  T* data_ = nullptr;
  size_t count_ = 0;
};
