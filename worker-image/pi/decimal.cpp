#include "pi/decimal.hpp"

#include <cstring>
#include <future>
#include <stdexcept>

namespace warmpool::pi {
namespace {

// Pieces at most this long go to mpz_get_str, which is itself subquadratic;
// above it, our own splits let several threads share the work.
constexpr std::size_t kLeafDigits = 1 << 16;

void write_leaf(const BigInt& x, std::size_t width, char* out) {
  std::size_t room = mpz_sizeinbase(x.get(), 10) + 2;
  std::vector<char> buf(room);
  mpz_get_str(buf.data(), 10, x.get());
  std::size_t len = mpz_sgn(x.get()) == 0 ? 0 : std::strlen(buf.data());
  if (len > width) throw std::logic_error("pi: decimal piece wider than its slot");
  std::memset(out, '0', width - len);
  std::memcpy(out + (width - len), buf.data(), len);
}

}  // namespace

DecimalPlan::DecimalPlan(std::size_t width, Context& ctx) {
  std::size_t levels = 0;
  while ((width >> levels) > kLeafDigits) ++levels;
  chunk_ = (width + (std::size_t{1} << levels) - 1) >> levels;
  powers_.resize(levels);
  for (std::size_t j = 0; j < levels; ++j) {
    ctx.check_cancel();
    if (j == 0) {
      mpz_ui_pow_ui(powers_[0].get(), 10, chunk_);
    } else {
      mpz_mul(powers_[j].get(), powers_[j - 1].get(), powers_[j - 1].get());
    }
  }
}

void DecimalPlan::write(BigInt x, char* out, unsigned threads, Context& ctx) const {
  convert(std::move(x), powers_.size(), out, threads, ctx);
}

void DecimalPlan::write_split(BigInt high, BigInt low, char* out, unsigned threads, Context& ctx) const {
  convert_halves(std::move(high), std::move(low), powers_.size(), out, threads, ctx);
}

void DecimalPlan::convert(BigInt x, std::size_t level, char* out, unsigned threads, Context& ctx) const {
  ctx.check_cancel();
  if (level == 0) {
    write_leaf(x, chunk_, out);
    ctx.add_units(chunk_);
    return;
  }
  BigInt high;
  BigInt low;
  mpz_tdiv_qr(high.get(), low.get(), x.get(), powers_[level - 1].get());
  x.release();
  convert_halves(std::move(high), std::move(low), level, out, threads, ctx);
}

void DecimalPlan::convert_halves(BigInt high, BigInt low, std::size_t level, char* out, unsigned threads,
                                 Context& ctx) const {
  const std::size_t half = chunk_ << (level - 1);
  if (threads > 1) {
    const unsigned low_threads = threads / 2;
    auto task = std::async(std::launch::async, [&, low_threads] {
      convert(std::move(low), level - 1, out + half, low_threads, ctx);
    });
    // If this throws, the future's destructor waits for the task.
    convert(std::move(high), level - 1, out, threads - low_threads, ctx);
    task.get();
  } else {
    convert(std::move(high), level - 1, out, 1, ctx);
    convert(std::move(low), level - 1, out + half, 1, ctx);
  }
}

}  // namespace warmpool::pi
