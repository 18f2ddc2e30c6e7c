//! The quick outcome of every experiment as an insta snapshot, plus the harness's checks: the
//! same bytes at 1 and 2 threads, and every stochastic table moved by another seed.

/// candle allocates a fresh buffer per tensor operation; the system allocator turns that into
/// page faults.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

repro::snapshot_tests!(salaad::experiments::paper());
