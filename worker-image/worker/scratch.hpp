// The worker's scratch directory (a tmpfs in the container): the one place
// it may write, emptied on every reset so a reused instance starts clean.
#ifndef WARMPOOL_WORKER_SCRATCH_HPP_
#define WARMPOOL_WORKER_SCRATCH_HPP_

#include <filesystem>
#include <string>

namespace warmpool::worker {

// Removes every entry inside `dir`, keeping `dir` itself. A missing `dir`
// or an entry that vanishes meanwhile is not an error. Returns an empty
// string on success, else "wipe <path>: <reason>" for the first failure
// (it still tries the other entries).
std::string wipe_scratch(const std::filesystem::path& dir);

}  // namespace warmpool::worker

#endif  // WARMPOOL_WORKER_SCRATCH_HPP_
