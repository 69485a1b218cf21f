// ByteBuffer: a growable byte buffer that does not zero what it grows into.
//
// Encoders append to it (a message is encoded once, straight into the buffer that goes on the
// wire), and it hands out a view of what was written:
//
//   ByteBuffer buf;
//   encode(buf, std::vector<double>{1.0, 2.0});
//   send_somewhere(buf.view());
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tno::mpc::communication {

using Bytes = std::vector<std::byte>;

class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(std::size_t capacity) { reserve(capacity); }
  ByteBuffer(const ByteBuffer& other) { append(other.view()); }
  ByteBuffer& operator=(const ByteBuffer& other) {
    if (this != &other) {
      clear();
      append(other.view());
    }
    return *this;
  }
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::move(other.data_)), size_(other.size_), capacity_(other.capacity_) {
    other.size_ = other.capacity_ = 0;
  }
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.size_ = other.capacity_ = 0;
    return *this;
  }

  std::byte* data() noexcept { return data_.get(); }
  const std::byte* data() const noexcept { return data_.get(); }
  static constexpr std::size_t kSlack = 256;
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::byte> view() const noexcept { return {data_.get(), size_}; }
  Bytes to_bytes() const { return Bytes(data_.get(), data_.get() + size_); }
  void clear() noexcept { size_ = 0; }

  void reserve(std::size_t capacity) {
    if (capacity <= capacity_) return;
    // Grown storage is left uninitialised on purpose: every byte is written before it is read.
    std::unique_ptr<std::byte[]> grown(new std::byte[capacity]);
    if (size_ != 0) std::memcpy(grown.get(), data_.get(), size_);
    data_ = std::move(grown);
    capacity_ = capacity;
  }

  /// Makes room for `n` more bytes and returns where they go; the size grows by `n`.
  std::byte* extend(std::size_t n) {
    // Doubling, plus a little room: a message's last small field (the id after a huge payload)
    // must not double a gigabyte buffer.
    if (capacity_ - size_ < n) reserve(std::max(size_ + n + kSlack, capacity_ * 2 + 64));
    std::byte* at = data_.get() + size_;
    size_ += n;
    return at;
  }
  /// Gives back bytes reserved by `extend` that were not used.
  void shrink_by(std::size_t n) noexcept { size_ -= n; }

  void append(std::span<const std::byte> bytes) {
    if (!bytes.empty()) std::memcpy(extend(bytes.size()), bytes.data(), bytes.size());
  }

 private:
  std::unique_ptr<std::byte[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

/// Views a string's characters as bytes.
inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// The body of a received message, as the server read it: immutable, shared between the pool and
/// its receiver (a `std::shared_ptr<const ReceivedBody>`), never copied. A large body lies in
/// memory of its own that was filled as its bytes arrived, held by `owner`.
class ReceivedBody {
 public:
  /// A body held in a string (a small one).
  explicit ReceivedBody(std::string bytes) noexcept
      : text_(std::move(bytes)), view_(text_), footprint_(text_.capacity()) {}
  /// A body that lies in memory kept alive by `owner`; `footprint` is the memory it holds.
  ReceivedBody(std::string_view bytes, std::shared_ptr<const void> owner,
               std::size_t footprint) noexcept
      : view_(bytes), owner_(std::move(owner)), footprint_(footprint) {}
  // Neither copied nor moved: `view_` (into `text_` for a small body) and `payload_` point into
  // the object's own bytes.
  ReceivedBody(const ReceivedBody&) = delete;
  ReceivedBody& operator=(const ReceivedBody&) = delete;

  const char* data() const noexcept { return view_.data(); }
  std::size_t size() const noexcept { return view_.size(); }
  std::string_view view() const noexcept { return view_; }
  std::span<const std::byte> bytes() const noexcept { return as_bytes(view_); }
  /// The memory the body holds (at least its size): what a receiver's room counts for it.
  std::size_t footprint() const noexcept { return footprint_; }
  /// Where the message's payload lies in it (in 5.x, the packed bytes the message wraps), as the
  /// receiver's check of the message found it, so that decoding need not read the envelope
  /// again; empty when nobody noted it (a payload is never empty).
  std::span<const std::byte> payload() const noexcept { return payload_; }
  /// Notes `payload()`, a part of these bytes; by whoever checked the message, before the body is
  /// shared.
  void note_payload(std::span<const std::byte> payload) noexcept {
    assert(payload.data() >= bytes().data() &&
           payload.data() + payload.size() <= bytes().data() + bytes().size());
    payload_ = payload;
  }
  friend bool operator==(const ReceivedBody& a, const ReceivedBody& b) noexcept {
    return a.view_ == b.view_;
  }

 private:
  std::string text_;
  std::string_view view_;
  std::shared_ptr<const void> owner_;
  std::size_t footprint_;
  std::span<const std::byte> payload_{};
};

inline std::span<const std::byte> as_bytes(const ReceivedBody& body) noexcept {
  return body.bytes();
}

}  // namespace tno::mpc::communication
