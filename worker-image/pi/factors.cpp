#include "pi/factors.hpp"

#include <algorithm>
#include <stdexcept>

namespace warmpool::pi {

Sieve::Sieve(std::uint64_t limit) : limit_(limit), smallest_(limit / 2 + 1, 0) {
  if (limit >= (std::uint64_t{1} << 32)) throw std::length_error("pi: sieve limit too large");
  for (std::uint64_t p = 3; p * p <= limit; p += 2) {
    if (smallest_[p / 2] != 0) continue;
    for (std::uint64_t m = p * p; m <= limit; m += 2 * p) {
      if (smallest_[m / 2] == 0) smallest_[m / 2] = static_cast<std::uint16_t>(p);
    }
  }
}

void Sieve::factor(std::uint64_t x, std::uint32_t power, std::vector<PrimePower>& out) const {
  std::uint32_t twos = 0;
  while (x % 2 == 0) {
    x /= 2;
    ++twos;
  }
  if (twos != 0) out.push_back({2, twos * power});
  while (x > 1) {
    std::uint64_t p = smallest_[x / 2];
    if (p == 0) p = x;  // x is prime
    std::uint32_t e = 0;
    do {
      x /= p;
      ++e;
    } while (x % p == 0);
    out.push_back({static_cast<std::uint32_t>(p), e * power});
  }
}

void normalize(std::vector<PrimePower>& list) {
  std::sort(list.begin(), list.end(), [](const PrimePower& a, const PrimePower& b) { return a.prime < b.prime; });
  std::size_t w = 0;
  for (std::size_t r = 0; r < list.size(); ++r) {
    if (w > 0 && list[w - 1].prime == list[r].prime) {
      list[w - 1].exp += list[r].exp;
    } else {
      list[w++] = list[r];
    }
  }
  list.resize(w);
}

FactorList multiply(const FactorList& a, const FactorList& b) {
  FactorList out;
  out.reserve(a.size() + b.size());
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].prime < b[j].prime) {
      out.push_back(a[i++]);
    } else if (b[j].prime < a[i].prime) {
      out.push_back(b[j++]);
    } else {
      out.push_back({a[i].prime, a[i].exp + b[j].exp});
      ++i;
      ++j;
    }
  }
  out.insert(out.end(), a.begin() + static_cast<std::ptrdiff_t>(i), a.end());
  out.insert(out.end(), b.begin() + static_cast<std::ptrdiff_t>(j), b.end());
  return out;
}

FactorList common(const FactorList& a, const FactorList& b) {
  FactorList out;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].prime < b[j].prime) {
      ++i;
    } else if (b[j].prime < a[i].prime) {
      ++j;
    } else {
      out.push_back({a[i].prime, std::min(a[i].exp, b[j].exp)});
      ++i;
      ++j;
    }
  }
  return out;
}

void divide(FactorList& a, const FactorList& g) {
  std::size_t w = 0;
  std::size_t j = 0;
  for (std::size_t r = 0; r < a.size(); ++r) {
    PrimePower pp = a[r];
    if (j < g.size() && g[j].prime == pp.prime) {
      pp.exp -= g[j].exp;
      ++j;
    }
    if (pp.exp != 0) a[w++] = pp;
  }
  if (j != g.size()) throw std::logic_error("pi: factor list division is not exact");
  a.resize(w);
}

namespace {

// Product of list[begin, end) by a balanced tree, so large lists cost a few
// big multiplications rather than many unbalanced ones.
void product(const FactorList& list, std::size_t begin, std::size_t end, BigInt& out) {
  if (end - begin <= 16) {
    mpz_set_ui(out.get(), 1);
    BigInt power;
    for (std::size_t i = begin; i < end; ++i) {
      if (list[i].exp == 1) {
        mpz_mul_ui(out.get(), out.get(), list[i].prime);
      } else {
        mpz_ui_pow_ui(power.get(), list[i].prime, list[i].exp);
        mpz_mul(out.get(), out.get(), power.get());
      }
    }
    return;
  }
  std::size_t mid = begin + (end - begin) / 2;
  BigInt right;
  product(list, begin, mid, out);
  product(list, mid, end, right);
  mpz_mul(out.get(), out.get(), right.get());
}

}  // namespace

void to_integer(const FactorList& list, BigInt& out) {
  if (list.empty()) {
    mpz_set_ui(out.get(), 1);
    return;
  }
  product(list, 0, list.size(), out);
}

}  // namespace warmpool::pi
