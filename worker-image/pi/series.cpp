#include "pi/series.hpp"

#include <bit>
#include <cstdint>
#include <future>
#include <map>

#include "pi/factors.hpp"

namespace warmpool::pi {
namespace {

// 640320^3 / 24 = 2^15 3^2 5^3 23^3 29^3
constexpr unsigned long kC3Over24 = 10939058860032000UL;
constexpr PrimePower kC3Over24Factors[] = {{2, 15}, {3, 2}, {5, 3}, {23, 3}, {29, 3}};
constexpr unsigned long kA = 13591409UL;
constexpr unsigned long kB = 545140134UL;

// Ranges up to this many terms are summed directly; above, each merge
// cancels the common factors of p (left) and q (right) first, which keeps
// the numbers nearly half as large (at 10^7 digits, q ends with 41M bits
// instead of 76M).
constexpr std::uint64_t kBlockTerms = 8;

// Ranges this short are summed on one thread even when more are allowed.
constexpr std::uint64_t kMinParallelTerms = 512;

// For the terms in [a, b): the prefix ratio p / q and the partial sum t / q,
// both relative to term a - 1, with pf, qf the factorisations of p and q.
// q is kept as odd * 2^q_twos: about a third of its bits are factors of two
// (p is odd, so they never cancel), and multiplying by the odd part and
// shifting is cheaper. q and qf hold the odd part. p and pf are left empty
// where the caller does not need them.
struct Node {
  BigInt p;
  BigInt q;
  BigInt t;
  std::uint64_t q_twos = 0;
  FactorList pf;
  FactorList qf;
};

std::uint64_t node_units(std::uint64_t len) { return len * static_cast<std::uint64_t>(std::bit_width(len)); }

// p(k) = (6k-5)(2k-1)(6k-1), q(k) = k^3 640320^3 / 24,
// t(k) = (-1)^k p(k) (13591409 + 545140134 k); term 0 is p = q = 1.
void term(std::uint64_t k, Node& out) {
  if (k == 0) {
    mpz_set_ui(out.p.get(), 1);
    mpz_set_ui(out.q.get(), 1);
    mpz_set_ui(out.t.get(), kA);
    return;
  }
  mpz_set_ui(out.p.get(), 6 * k - 5);
  mpz_mul_ui(out.p.get(), out.p.get(), 2 * k - 1);
  mpz_mul_ui(out.p.get(), out.p.get(), 6 * k - 1);
  mpz_set_ui(out.q.get(), k);
  mpz_mul_ui(out.q.get(), out.q.get(), k);
  mpz_mul_ui(out.q.get(), out.q.get(), k);
  mpz_mul_ui(out.q.get(), out.q.get(), kC3Over24);
  mpz_mul_ui(out.t.get(), out.p.get(), kA + kB * k);
  if (k % 2 == 1) mpz_neg(out.t.get(), out.t.get());
}

// left = left (+) right without factor cancellation, on one thread.
void merge_plain(Node& left, Node& right, bool need_p) {
  mpz_mul(left.t.get(), left.t.get(), right.q.get());
  mpz_mul(right.t.get(), right.t.get(), left.p.get());
  mpz_add(left.t.get(), left.t.get(), right.t.get());
  mpz_mul(left.q.get(), left.q.get(), right.q.get());
  if (need_p) mpz_mul(left.p.get(), left.p.get(), right.p.get());
}

void sum_plain(std::uint64_t a, std::uint64_t b, bool need_p, Node& out) {
  if (b - a == 1) {
    term(a, out);
    return;
  }
  std::uint64_t m = a + (b - a) / 2;
  Node right;
  sum_plain(a, m, true, out);
  sum_plain(m, b, need_p, right);
  merge_plain(out, right, need_p);
}

void block(std::uint64_t a, std::uint64_t b, bool need_p, const Sieve& sieve, Node& out) {
  sum_plain(a, b, need_p, out);
  std::uint64_t counted = 0;
  for (std::uint64_t k = a; k < b; ++k) {
    if (k == 0) continue;
    ++counted;
    sieve.factor(k, 3, out.qf);
    if (need_p) {
      sieve.factor(6 * k - 5, 1, out.pf);
      sieve.factor(2 * k - 1, 1, out.pf);
      sieve.factor(6 * k - 1, 1, out.pf);
    }
  }
  for (PrimePower pp : kC3Over24Factors) {
    if (counted != 0) out.qf.push_back({pp.prime, pp.exp * static_cast<std::uint32_t>(counted)});
  }
  normalize(out.qf);
  normalize(out.pf);
  if (!out.qf.empty() && out.qf.front().prime == 2) {
    out.q_twos = out.qf.front().exp;
    out.qf.erase(out.qf.begin());
    mpz_tdiv_q_2exp(out.q.get(), out.q.get(), out.q_twos);
  }
}

// Runs f and g, concurrently when threads > 1.
template <typename F, typename G>
void both(unsigned threads, F&& f, G&& g) {
  if (threads <= 1) {
    f();
    g();
    return;
  }
  auto task = std::async(std::launch::async, std::forward<G>(g));
  f();
  task.get();
}

// The merge's products t1 q2, q1 q2, p1 t2 and p1 p2 (when need_p), on one
// thread. (Packing two products that share a factor into one multiplication
// does not pay with GMP: the packed operand needs a gap as wide as a product.)
void merge_products(Node& left, Node& right, bool need_p, BigInt& t1q2, BigInt& p) {
  mpz_mul(t1q2.get(), left.t.get(), right.q.get());
  mpz_mul_2exp(t1q2.get(), t1q2.get(), right.q_twos);
  mpz_mul(left.q.get(), left.q.get(), right.q.get());
  mpz_mul(right.t.get(), right.t.get(), left.p.get());
  if (need_p) mpz_mul(p.get(), left.p.get(), right.p.get());
}

// The same products on two threads, split into halves of similar cost:
// t1 q2 (+ the low half of p1 t2) on one, q1 q2, p1 p2 (+ the high half of
// p1 t2) on the other.
void merge_products_parallel(Node& left, Node& right, bool need_p, BigInt& t1q2, BigInt& p) {
  const std::size_t half = right.t.bits() / 2 / GMP_NUMB_BITS * GMP_NUMB_BITS;
  BigInt t2_high;
  BigInt t2_low;
  mpz_tdiv_q_2exp(t2_high.get(), right.t.get(), half);
  mpz_tdiv_r_2exp(t2_low.get(), right.t.get(), half);
  BigInt low_part;
  auto task = std::async(std::launch::async, [&] {
    mpz_mul(t1q2.get(), left.t.get(), right.q.get());
    mpz_mul_2exp(t1q2.get(), t1q2.get(), right.q_twos);
    mpz_mul(low_part.get(), t2_low.get(), left.p.get());
  });
  {
    // If this throws, the future's destructor waits for the task.
    BigInt q;
    mpz_mul(q.get(), left.q.get(), right.q.get());
    mpz_mul(t2_high.get(), t2_high.get(), left.p.get());
    if (need_p) mpz_mul(p.get(), left.p.get(), right.p.get());
    task.get();
    left.q = std::move(q);
  }
  mpz_mul_2exp(t2_high.get(), t2_high.get(), half);
  mpz_add(right.t.get(), t2_high.get(), low_part.get());
}

// Combines left = [a, m) and right = [m, b) into left. With c the common
// factor of p1 and q2 (p1 = c p1', q2 = c q2'):
//   p = p1' p2, q = q1 q2', t = t1 q2' + p1' t2,
// the same ratios as p1 p2 / q1 q2 and (t1 q2 + p1 t2) / q1 q2.
void merge(Node& left, Node& right, bool need_p, bool need_lists, unsigned threads) {
  FactorList c = common(left.pf, right.qf);
  if (!c.empty()) {
    BigInt divisor;
    to_integer(c, divisor);
    both(
        threads, [&] { mpz_divexact(left.p.get(), left.p.get(), divisor.get()); },
        [&] { mpz_divexact(right.q.get(), right.q.get(), divisor.get()); });
    divide(left.pf, c);
    divide(right.qf, c);
  }
  BigInt t1q2;
  BigInt p;
  if (threads > 1) {
    merge_products_parallel(left, right, need_p, t1q2, p);
  } else {
    merge_products(left, right, need_p, t1q2, p);
  }
  mpz_add(left.t.get(), t1q2.get(), right.t.get());
  left.q_twos += right.q_twos;
  left.p = std::move(p);
  right.t.release();
  right.q.release();
  right.p.release();
  if (need_lists) {
    left.qf = multiply(left.qf, right.qf);
    left.pf = need_p ? multiply(left.pf, right.pf) : FactorList();
  } else {
    left.qf = FactorList();
    left.pf = FactorList();
  }
}

struct Job {
  const Sieve& sieve;
  Context& ctx;
};

void split(std::uint64_t a, std::uint64_t b, bool need_p, bool need_lists, unsigned threads, const Job& job,
           Node& out) {
  job.ctx.check_cancel();
  if (b - a <= kBlockTerms) {
    block(a, b, need_p, job.sieve, out);
    job.ctx.add_units(node_units(b - a));
    return;
  }
  std::uint64_t m = a + (b - a) / 2;
  Node right;
  if (threads > 1 && b - a >= kMinParallelTerms) {
    unsigned right_threads = threads / 2;
    auto task = std::async(std::launch::async, [&] { split(m, b, need_p, true, right_threads, job, right); });
    // If the left half throws, the future's destructor still waits for the
    // right half, which notices the same cancel flag soon.
    split(a, m, true, true, threads - right_threads, job, out);
    task.get();
  } else {
    split(a, m, true, true, 1, job, out);
    split(m, b, need_p, true, 1, job, right);
  }
  job.ctx.check_cancel();
  merge(out, right, need_p, need_lists, b - a >= kMinParallelTerms ? threads : 1);
  job.ctx.add_units(node_units(b - a));
}

std::uint64_t units_for(std::uint64_t len, std::map<std::uint64_t, std::uint64_t>& memo) {
  if (len <= kBlockTerms) return node_units(len);
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
  Sieve sieve(6 * static_cast<std::uint64_t>(terms));
  Node root;
  split(0, terms, false, false, threads, Job{sieve, ctx}, root);
  SeriesSum sum;
  mpz_mul_2exp(root.q.get(), root.q.get(), root.q_twos);
  sum.q = std::move(root.q);
  sum.t = std::move(root.t);
  return sum;
}

}  // namespace warmpool::pi
