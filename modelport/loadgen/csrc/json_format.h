// Value formatting shared by the detail log and the summary: the same
// spellings the official LoadGen emits (ostream doubles, true/false, ...).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace mlg {

// ostream's default: 6 significant digits, exponent when needed.
std::string FormatDouble(double v);
// Fixed notation with `decimals` digits (the official DoubleToString).
std::string FixedDouble(double v, int decimals = 2);
// A fraction as a percentage, the way percentile names are spelled: 0.9 -> "90.00".
inline std::string Percent(double p, int decimals = 2) { return FixedDouble(p * 100, decimals); }

std::string JsonString(const std::string& s);
inline std::string JsonBool(bool b) { return b ? "true" : "false"; }
inline std::string JsonDouble(double v) { return FormatDouble(v); }
template <typename T>
std::string JsonInt(T v) {
  static_assert(std::is_integral<T>::value, "integer expected");
  return std::to_string(v);
}
std::string JsonIndexList(const std::vector<uint64_t>& v);

}  // namespace mlg
