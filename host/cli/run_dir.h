// Output directories that are never overwritten by accident. `train --out`
// and `eval --out` refuse a directory holding an earlier run of theirs unless
// asked (--resume, --overwrite); --overwrite removes exactly the files the
// command writes (and, for a training run, the evaluations inside it, which
// describe the old model) before anything new is written. Other files in
// the directory are the user's and stay.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace piade {

enum class RunKind { train, eval };

/// The names `kind` writes into its directory (files and folders).
const std::vector<std::string>& run_outputs(RunKind kind);

/// Whether `dir` holds an output of an earlier run of `kind`.
bool holds_run(const std::filesystem::path& dir, RunKind kind);

/// Makes `dir` ready for a run of `kind`: creates it; if it holds an earlier
/// run, removes that run's outputs with `overwrite`, keeps them with
/// `resume` (train only), and otherwise throws piade::Error saying what to
/// pass. Leftover temporary files (".NAME.tmp-PID") of processes that no
/// longer run are removed in every case, also when the run is refused.
/// Returns the number of paths removed.
std::size_t prepare_out_dir(const std::filesystem::path& dir, RunKind kind, bool overwrite, bool resume);

/// Removes the leftover temporary files (".NAME.tmp-PID" of processes that
/// no longer run) of a `piade compare --out` directory: those of the files
/// compare writes at its top, and any under runs/ and slurm/ (the runs' own folders,
/// their train/ and eval/ included). Call it holding the directory's lock.
/// Returns the number of files removed.
std::size_t remove_compare_leftovers(const std::filesystem::path& dir);

}  // namespace piade
