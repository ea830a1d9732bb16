// A growable array in fixed-size chunks: the per-sample columns of a pass.
//
// Why chunks: the issuing thread appends samples while SUT threads complete
// earlier ones, so storage must never move (no reallocation). Chunk pointers
// are published through an atomic directory sized once for the pass's
// largest possible sample count, so growing takes no lock and readers on
// other threads find a slot with one acquire load.
//
// After the pass the same storage is handed to the results as is (no copy):
// the array then behaves as a random-access sequence (begin/end, sort,
// upper_bound), which keeps the peak memory per sample at the columns alone
// (docs/decisions.md, "LoadGen: per-sample memory").
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace mlg {

template <typename T>
class ChunkedArray {
 public:
  static constexpr unsigned kBits = 15;
  static constexpr uint64_t kChunk = uint64_t{1} << kBits;
  static constexpr uint64_t kMask = kChunk - 1;

  ChunkedArray() = default;
  // Room for `capacity` elements; chunks are allocated (zeroed) on first use.
  explicit ChunkedArray(uint64_t capacity)
      : dir_size_((capacity + kMask) >> kBits), dir_(std::make_unique<std::atomic<T*>[]>(dir_size_)) {
    for (uint64_t i = 0; i < dir_size_; ++i) dir_[i].store(nullptr, std::memory_order_relaxed);
  }
  ChunkedArray(ChunkedArray&&) noexcept = default;
  ChunkedArray& operator=(ChunkedArray&&) noexcept = default;
  // Deep copy (results only: FindPeakPerformance keeps the best pass so far).
  ChunkedArray(const ChunkedArray& other) : ChunkedArray(other.size_) {
    Resize(other.size_);
    for (uint64_t c = 0; c < owned_.size(); ++c) {
      const uint64_t n = c + 1 < owned_.size() ? kChunk : size_ - (c << kBits);
      std::copy(other.owned_[c].get(), other.owned_[c].get() + n, owned_[c].get());
    }
  }
  ChunkedArray& operator=(const ChunkedArray& other) {
    if (this != &other) *this = ChunkedArray(other);
    return *this;
  }

  // Owning thread only, in increasing order of i (i <= size()): makes
  // element i addressable, publishes its chunk to other threads and returns it.
  T& Ensure(uint64_t i) {
    const uint64_t c = i >> kBits;
    if (c == owned_.size()) {
      if (c >= dir_size_) throw std::length_error("ChunkedArray: capacity exceeded");
      owned_.push_back(std::make_unique<T[]>(kChunk));
      dir_[c].store(owned_.back().get(), std::memory_order_release);
    }
    if (i >= size_) size_ = i + 1;
    return owned_[c][i & kMask];
  }
  // Owning thread only: exactly n elements (new ones zeroed); capacity must allow n.
  void Resize(uint64_t n) {
    while ((owned_.size() << kBits) < n) Ensure(owned_.size() << kBits);
    size_ = n;
  }

  // Any thread, for an element made addressable earlier (and published to
  // this thread through some other acquire, e.g. the pass's issued count).
  T& At(uint64_t i) const { return dir_[i >> kBits].load(std::memory_order_acquire)[i & kMask]; }

  // Owning thread (or any thread once the pass has ended).
  T& operator[](uint64_t i) { return owned_[i >> kBits][i & kMask]; }
  const T& operator[](uint64_t i) const { return owned_[i >> kBits][i & kMask]; }
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& front() const { return (*this)[0]; }
  const T& back() const { return (*this)[size_ - 1]; }

  template <typename Value, typename Owner>
  class Iter {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = std::remove_const_t<Value>;
    using difference_type = std::ptrdiff_t;
    using pointer = Value*;
    using reference = Value&;

    Iter() = default;
    Iter(Owner* a, uint64_t i) : a_(a), i_(static_cast<difference_type>(i)) {}
    reference operator*() const { return (*a_)[static_cast<uint64_t>(i_)]; }
    pointer operator->() const { return &**this; }
    reference operator[](difference_type n) const { return *(*this + n); }
    Iter& operator++() { return ++i_, *this; }
    Iter operator++(int) { Iter t = *this; ++i_; return t; }
    Iter& operator--() { return --i_, *this; }
    Iter operator--(int) { Iter t = *this; --i_; return t; }
    Iter& operator+=(difference_type n) { return i_ += n, *this; }
    Iter& operator-=(difference_type n) { return i_ -= n, *this; }
    friend Iter operator+(Iter it, difference_type n) { return it += n; }
    friend Iter operator+(difference_type n, Iter it) { return it += n; }
    friend Iter operator-(Iter it, difference_type n) { return it -= n; }
    friend difference_type operator-(const Iter& a, const Iter& b) { return a.i_ - b.i_; }
    friend bool operator==(const Iter& a, const Iter& b) { return a.i_ == b.i_; }
    friend bool operator!=(const Iter& a, const Iter& b) { return a.i_ != b.i_; }
    friend bool operator<(const Iter& a, const Iter& b) { return a.i_ < b.i_; }
    friend bool operator>(const Iter& a, const Iter& b) { return a.i_ > b.i_; }
    friend bool operator<=(const Iter& a, const Iter& b) { return a.i_ <= b.i_; }
    friend bool operator>=(const Iter& a, const Iter& b) { return a.i_ >= b.i_; }

   private:
    Owner* a_ = nullptr;
    difference_type i_ = 0;
  };
  using iterator = Iter<T, ChunkedArray>;
  using const_iterator = Iter<const T, const ChunkedArray>;
  iterator begin() { return iterator(this, 0); }
  iterator end() { return iterator(this, size_); }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size_); }

 private:
  uint64_t size_ = 0;
  uint64_t dir_size_ = 0;
  std::unique_ptr<std::atomic<T*>[]> dir_;   // chunk pointers for other threads
  std::vector<std::unique_ptr<T[]>> owned_;  // the chunks, in order
};

}  // namespace mlg
