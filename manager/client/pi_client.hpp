// `warmpool pi N [--out FILE]`: submits a pi job, shows its progress with the
// elapsed time, downloads the digits and checks them ("3." and exactly N
// digits, and the SHA-256 the server sends in Repr-Digest) before the file
// takes its name. Ctrl-C cancels the job.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace httplib {
class Client;
}

namespace warmpool::jobs {

struct PiCommand {
  std::int64_t digits = 0;
  std::string out;  // empty: pi_<job id>.txt
  std::chrono::milliseconds poll{200};
  bool redraw = false;  // one progress line redrawn in place (a terminal); else a line per change
};

// Runs the command against `client`; progress and errors go to `log`, the
// summary to `out`. Returns the exit status: 0 done, 1 refused or failed,
// 2 unreachable, 130 cancelled by Ctrl-C.
int run_pi_command(httplib::Client& client, const PiCommand& command, std::ostream& out,
                   std::ostream& log);

// "[#########...........]  45%  In-progress  4.2 s" (width: bar characters).
std::string progress_line(const std::string& status, double progress, double elapsed_s, int width);

}  // namespace warmpool::jobs
