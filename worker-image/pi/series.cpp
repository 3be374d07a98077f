#include "pi/series.hpp"

#include <bit>
#include <cstdint>
#include <future>
#include <map>

namespace warmpool::pi {
namespace {

// 640320^3 / 24
constexpr unsigned long kC3Over24 = 10939058860032000UL;
constexpr unsigned long kA = 13591409UL;
constexpr unsigned long kB = 545140134UL;

// Ranges this short are summed on one thread even when more are allowed.
constexpr std::uint64_t kMinParallelTerms = 512;

// For the terms in [a, b):
//   p = prod p(k), q = prod q(k), t = sum over k of (prefix products) such
// that the sum of terms a..b-1, relative to term a-1, is t / q.
struct Node {
  BigInt p;
  BigInt q;
  BigInt t;
};

std::uint64_t node_units(std::uint64_t len) { return len * static_cast<std::uint64_t>(std::bit_width(len)); }

void leaf(std::uint64_t k, bool need_p, Node& out) {
  if (k == 0) {
    mpz_set_ui(out.p.get(), 1);
    mpz_set_ui(out.q.get(), 1);
    mpz_set_ui(out.t.get(), kA);
    return;
  }
  // p(k) = (6k-5)(2k-1)(6k-1), q(k) = k^3 640320^3 / 24,
  // t(k) = (-1)^k p(k) (13591409 + 545140134 k).
  BigInt p;
  mpz_set_ui(p.get(), 6 * k - 5);
  mpz_mul_ui(p.get(), p.get(), 2 * k - 1);
  mpz_mul_ui(p.get(), p.get(), 6 * k - 1);
  mpz_set_ui(out.q.get(), k);
  mpz_mul_ui(out.q.get(), out.q.get(), k);
  mpz_mul_ui(out.q.get(), out.q.get(), k);
  mpz_mul_ui(out.q.get(), out.q.get(), kC3Over24);
  mpz_mul_ui(out.t.get(), p.get(), kA + kB * k);
  if (k % 2 == 1) mpz_neg(out.t.get(), out.t.get());
  if (need_p) out.p = std::move(p);
}

// Combines left = [a, m) and right = [m, b) into left:
//   p = p1 p2, q = q1 q2, t = t1 q2 + p1 t2.
// With threads > 1, the products run concurrently (GMP allows concurrent
// reads of one operand).
void merge(Node& left, Node& right, bool need_p, unsigned threads) {
  if (threads <= 1) {
    mpz_mul(left.t.get(), left.t.get(), right.q.get());
    mpz_mul(right.t.get(), right.t.get(), left.p.get());
    mpz_add(left.t.get(), left.t.get(), right.t.get());
    right.t.release();
    mpz_mul(left.q.get(), left.q.get(), right.q.get());
    right.q.release();
    if (need_p) {
      mpz_mul(left.p.get(), left.p.get(), right.p.get());
    } else {
      left.p.release();
    }
    right.p.release();
    return;
  }
  // q1 q2 and t1 q2 are the two large products; p1 t2 and p1 p2 are smaller.
  BigInt t1q2;
  auto other = std::async(std::launch::async, [&] {
    mpz_mul(t1q2.get(), left.t.get(), right.q.get());
    if (need_p) {
      BigInt p;
      mpz_mul(p.get(), left.p.get(), right.p.get());
      return p;
    }
    return BigInt();
  });
  BigInt q;
  mpz_mul(q.get(), left.q.get(), right.q.get());
  mpz_mul(right.t.get(), right.t.get(), left.p.get());
  BigInt p = other.get();
  mpz_add(t1q2.get(), t1q2.get(), right.t.get());
  left.t = std::move(t1q2);
  left.q = std::move(q);
  left.p = std::move(p);
  right.t.release();
  right.q.release();
  right.p.release();
}

void split(std::uint64_t a, std::uint64_t b, bool need_p, unsigned threads, Context& ctx, Node& out) {
  ctx.check_cancel();
  if (b - a == 1) {
    leaf(a, need_p, out);
    ctx.add_units(1);
    return;
  }
  std::uint64_t m = a + (b - a) / 2;
  Node right;
  if (threads > 1 && b - a >= kMinParallelTerms) {
    unsigned right_threads = threads / 2;
    auto task = std::async(std::launch::async, [&] { split(m, b, need_p, right_threads, ctx, right); });
    // If the left half throws, the future's destructor still waits for the
    // right half, which notices the same cancel flag soon.
    split(a, m, true, threads - right_threads, ctx, out);
    task.get();
  } else {
    split(a, m, true, 1, ctx, out);
    split(m, b, need_p, 1, ctx, right);
  }
  ctx.check_cancel();
  merge(out, right, need_p, b - a >= kMinParallelTerms ? threads : 1);
  ctx.add_units(node_units(b - a));
}

std::uint64_t units_for(std::uint64_t len, std::map<std::uint64_t, std::uint64_t>& memo) {
  if (len == 1) return 1;
  if (auto it = memo.find(len); it != memo.end()) return it->second;
  std::uint64_t half = len / 2;
  std::uint64_t units = node_units(len) + units_for(half, memo) + units_for(len - half, memo);
  memo[len] = units;
  return units;
}

}  // namespace

std::uint64_t series_work_units(std::size_t terms) {
  std::map<std::uint64_t, std::uint64_t> memo;
  return units_for(terms, memo);
}

SeriesSum sum_series(std::size_t terms, unsigned threads, Context& ctx) {
  Node root;
  split(0, terms, false, threads, ctx, root);
  SeriesSum sum;
  sum.q = std::move(root.q);
  sum.t = std::move(root.t);
  return sum;
}

}  // namespace warmpool::pi
