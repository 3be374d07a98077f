#include "pi/decimal.hpp"

#include <cstring>
#include <future>
#include <stdexcept>
#include <vector>

namespace warmpool::pi {
namespace {

// Pieces at most this long go to mpz_get_str, which is itself subquadratic;
// above it, our own splits let several threads share the work.
constexpr std::size_t kLeafDigits = 1 << 16;

// The tree splits a number of chunk * 2^level digits into two halves of
// chunk * 2^(level-1) digits, dividing by powers[level - 1].
struct Plan {
  std::size_t chunk = 0;
  std::vector<BigInt> powers;  // powers[j] = 10^(chunk * 2^j)
};

void write_leaf(const BigInt& x, std::size_t width, char* out) {
  std::size_t room = mpz_sizeinbase(x.get(), 10) + 2;
  std::vector<char> buf(room);
  mpz_get_str(buf.data(), 10, x.get());
  std::size_t len = std::strlen(buf.data());
  if (mpz_sgn(x.get()) == 0) len = 0;  // write all zeros
  if (len > width) throw std::logic_error("pi: decimal piece wider than its slot");
  std::memset(out, '0', width - len);
  std::memcpy(out + (width - len), buf.data(), len);
}

void convert(BigInt x, unsigned level, char* out, unsigned threads, const Plan& plan, Context& ctx) {
  ctx.check_cancel();
  std::size_t width = plan.chunk << level;
  if (level == 0) {
    write_leaf(x, width, out);
    ctx.add_units(width);
    return;
  }
  BigInt hi;
  BigInt lo;
  mpz_tdiv_qr(hi.get(), lo.get(), x.get(), plan.powers[level - 1].get());
  x.release();
  std::size_t half = width / 2;
  if (threads > 1) {
    unsigned lo_threads = threads / 2;
    auto task = std::async(std::launch::async, [&, lo_threads] {
      convert(std::move(lo), level - 1, out + half, lo_threads, plan, ctx);
    });
    convert(std::move(hi), level - 1, out, threads - lo_threads, plan, ctx);
    task.get();
  } else {
    convert(std::move(hi), level - 1, out, 1, plan, ctx);
    convert(std::move(lo), level - 1, out + half, 1, plan, ctx);
  }
}

}  // namespace

void write_decimal(BigInt x, std::size_t width, char* out, unsigned threads, Context& ctx) {
  // Choose the number of levels so that leaves are at most kLeafDigits, then
  // pad the width up to chunk * 2^levels; the padding is written as zeros
  // into a scratch prefix and dropped.
  unsigned levels = 0;
  while ((width >> levels) > kLeafDigits) ++levels;
  Plan plan;
  plan.chunk = (width + (std::size_t{1} << levels) - 1) >> levels;
  std::size_t padded = plan.chunk << levels;
  plan.powers.resize(levels);
  for (unsigned j = 0; j < levels; ++j) {
    ctx.check_cancel();
    if (j == 0) {
      mpz_ui_pow_ui(plan.powers[0].get(), 10, plan.chunk);
    } else {
      mpz_mul(plan.powers[j].get(), plan.powers[j - 1].get(), plan.powers[j - 1].get());
    }
  }
  std::size_t pad = padded - width;
  if (pad == 0) {
    convert(std::move(x), levels, out, threads, plan, ctx);
    return;
  }
  std::vector<char> buf(padded);
  convert(std::move(x), levels, buf.data(), threads, plan, ctx);
  for (std::size_t i = 0; i < pad; ++i) {
    if (buf[i] != '0') throw std::logic_error("pi: number wider than its decimal width");
  }
  std::memcpy(out, buf.data() + pad, width);
}

}  // namespace warmpool::pi
