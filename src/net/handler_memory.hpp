// Memory for a connection's one outstanding read, reused from one read to the next.
//
// Asio allocates each asynchronous operation (with its handler) anew unless the handler names an
// allocator. Its own recycling of that memory lasts only as long as one run_one() call, and the
// network loop runs one handler per call, so without this every read of every message would cost
// an allocation and a free. Bound to a handler or a completion token with
// boost::asio::bind_allocator(HandlerAllocator<void>(memory), ...). Used on the network thread
// only; a second allocation while the first is in use, or one too large, goes to operator new.
#pragma once

#include <cstddef>
#include <new>

namespace tno::mpc::communication::net {

class HandlerMemory {
 public:
  HandlerMemory() = default;
  HandlerMemory(const HandlerMemory&) = delete;
  HandlerMemory& operator=(const HandlerMemory&) = delete;

  void* allocate(std::size_t size) {
    if (!in_use_ && size <= sizeof storage_) {
      in_use_ = true;
      return storage_;
    }
    return ::operator new(size);
  }

  /// Whether an operation holds the memory now.
  bool in_use() const noexcept { return in_use_; }

  void deallocate(void* p) noexcept {
    if (p == storage_) {
      in_use_ = false;
    } else {
      ::operator delete(p);
    }
  }

 private:
  // Room for a socket read with its handler: a coroutine's, or Client::await_answer's, which
  // holds the message it awaits the answer to (328 bytes with g++ 12 and Boost 1.81).
  alignas(std::max_align_t) std::byte storage_[384];
  bool in_use_ = false;
};

/// The allocator that hands out a HandlerMemory (a standard allocator, as Asio rebinds it).
template <class T>
class HandlerAllocator {
 public:
  using value_type = T;

  explicit HandlerAllocator(HandlerMemory& memory) noexcept : memory_(&memory) {}
  template <class U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept  // NOLINT: rebinding converts
      : memory_(other.memory()) {}

  T* allocate(std::size_t n) {
    if constexpr (alignof(T) > alignof(std::max_align_t)) {
      return static_cast<T*>(::operator new (sizeof(T) * n, std::align_val_t{alignof(T)}));
    } else {
      return static_cast<T*>(memory_->allocate(sizeof(T) * n));
    }
  }

  void deallocate(T* p, std::size_t) noexcept {
    if constexpr (alignof(T) > alignof(std::max_align_t)) {
      ::operator delete (p, std::align_val_t{alignof(T)});
    } else {
      memory_->deallocate(p);
    }
  }

  HandlerMemory* memory() const noexcept { return memory_; }

  friend bool operator==(const HandlerAllocator& a, const HandlerAllocator& b) noexcept {
    return a.memory_ == b.memory_;
  }

 private:
  HandlerMemory* memory_;
};

}  // namespace tno::mpc::communication::net
