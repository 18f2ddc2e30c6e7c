//! Test support shared by the papercraft library crates' robustness suites: seeded generators
//! of hostile input and a runner that tries every public entry point with it.
//!
//! A suite calls [`Suite::run`] once per entry point with a closure that draws its arguments
//! from a [`Gen`] and returns an [`Out`]: a typed error, or the output values together with
//! whether every input was finite and whether a cheap independent check of the answer held.
//! The runner counts, per entry point:
//!
//! - **panics** (caught with `catch_unwind`; the panic message is not printed),
//! - **slow** calls (over [`SLOW`]; a call still running after [`HANG`] aborts the process,
//!   naming the entry point, so a hang fails the test instead of stalling it),
//! - **non-finite** outputs from finite input (a suite leaves out values whose non-finiteness
//!   is documented, and says why in a comment),
//! - **wrong** answers (the independent check failed).
//!
//! [`Suite::finish`] prints the table and fails the test if any count is non-zero.
//! `ROBUSTNESS_CASES` sets the cases per entry point (default [`DEFAULT_CASES`], for CI; 10⁴
//! for a deep run; `ROBUSTNESS_SHOW=1` prints each panic's message). Every entry point draws from its own stream, seeded from its name, so a
//! failing case is reproduced by running the suite again.
//!
//! ```
//! use bad_input::{res, ok, Suite};
//! let mut suite = Suite::with_cases(50);
//! suite.run("f64::sqrt of a non-negative value", |g| {
//!     let x = g.f().abs();
//!     let _ = res!(if x.is_nan() { Err(()) } else { Ok(()) });
//!     ok(x.is_finite(), vec![x.sqrt()])
//! });
//! suite.finish();
//! ```

use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cases per entry point when `ROBUSTNESS_CASES` is not set.
pub const DEFAULT_CASES: usize = 300;
/// A call slower than this is counted as slow.
pub const SLOW: Duration = Duration::from_secs(2);
/// A call still running after this aborts the suite (a hang).
pub const HANG: Duration = Duration::from_secs(60);

/// The floats a hostile caller tries first.
pub const SPECIAL: [f64; 18] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    1e-300,
    -1e-300,
    1e300,
    -1e300,
    f64::MAX,
    -f64::MAX,
    f64::MIN_POSITIVE,
    5e-324,
    0.5,
    1.0,
    -1.0,
    1e-9,
    1.0 - 1e-12,
];

/// The sizes a hostile caller tries: small, large, and at the edge of `usize`.
pub const SIZES: [usize; 9] = [0, 1, 2, 5, 100, 10_000, 1 << 40, usize::MAX - 1, usize::MAX];

/// A seeded generator of hostile arguments.
pub struct Gen {
    /// The underlying stream (ChaCha8, seeded from the entry point's name).
    pub rng: rand_chacha::ChaCha8Rng,
}

impl Gen {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        }
    }
    /// `true` with probability `p`.
    pub fn coin(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }
    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }
    /// One of `xs` (non-empty), uniformly.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    /// Any float: a [`SPECIAL`] value, a uniform in `[0, 1)`, a value of random magnitude
    /// `10^(−30..30)`, or a small integer, each a quarter of the time.
    pub fn f(&mut self) -> f64 {
        match self.rng.random_range(0..4u32) {
            0 => self.pick(&SPECIAL),
            1 => self.rng.random::<f64>(),
            2 => (self.rng.random::<f64>() - 0.5) * 10f64.powi(self.rng.random_range(-30..30)),
            _ => self.rng.random_range(-5..5) as f64,
        }
    }
    /// A clean uniform value in `[0, 1)` (never hostile).
    pub fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }
    /// Usually a value in `[0, 1)`, a third of the time any float ([`Gen::f`]): for levels,
    /// probabilities and α/δ/ε parameters.
    pub fn unit(&mut self) -> f64 {
        if self.coin(1.0 / 3.0) {
            self.f()
        } else {
            self.rng.random::<f64>()
        }
    }
    /// A length from `{0, 1, 2, 3, 7, 16, 64}`.
    #[allow(clippy::len_without_is_empty)] // a generator of lengths, not a collection
    pub fn len(&mut self) -> usize {
        self.pick(&[0usize, 1, 2, 3, 7, 16, 64])
    }
    /// A vector of [`Gen::len`] entries; a third of the time all clean (uniform in `[0, 1)`),
    /// else each drawn by [`Gen::f`].
    pub fn vec(&mut self) -> Vec<f64> {
        let n = self.len();
        self.vec_of(n)
    }
    /// A vector of exactly `n` entries, clean a third of the time (as [`Gen::vec`]).
    pub fn vec_of(&mut self, n: usize) -> Vec<f64> {
        let clean = self.coin(1.0 / 3.0);
        (0..n)
            .map(|_| {
                if clean {
                    self.rng.random::<f64>()
                } else {
                    self.f()
                }
            })
            .collect()
    }
    /// A vector of [`Gen::len`] entries, half the time normalised to a probability vector.
    pub fn prob(&mut self) -> Vec<f64> {
        let n = self.len();
        self.prob_of(n)
    }
    /// A vector of `n` entries, half the time normalised to a probability vector, else
    /// [`Gen::vec_of`] (usually not summing to one, sometimes negative or NaN).
    pub fn prob_of(&mut self, n: usize) -> Vec<f64> {
        let mut v = self.vec_of(n);
        if self.coin(0.5) {
            normalise(&mut v);
        }
        v
    }
    /// `n` nine times in ten, else a length in `0..5` (a shape mismatch, most of the time).
    pub fn len_near(&mut self, n: usize) -> usize {
        if self.coin(0.9) {
            n
        } else {
            self.below(5)
        }
    }
    /// A size from [`SIZES`].
    pub fn size(&mut self) -> usize {
        self.pick(&SIZES)
    }
    /// A small count from `{0, 1, 2, 5, 30, 1000, 100000}`.
    pub fn small(&mut self) -> u64 {
        self.pick(&[0u64, 1, 2, 5, 30, 1000, 100_000])
    }
    /// An index for a collection of `n` items: usually in range, a quarter of the time `n`,
    /// `n + 1` or `usize::MAX`.
    pub fn index(&mut self, n: usize) -> usize {
        if n == 0 || self.coin(0.25) {
            self.pick(&[n, n.saturating_add(1), usize::MAX])
        } else {
            self.below(n)
        }
    }
    /// A matrix of up to 8 × 8 entries drawn by [`Gen::f`].
    pub fn matrix(&mut self) -> DMatrix<f64> {
        let (r, c) = (self.len().min(8), self.len().min(8));
        DMatrix::from_fn(r, c, |_, _| self.f())
    }
    /// A `rows × cols` matrix whose columns are, half the time, probability vectors (clean or
    /// [`Gen::f`] entries normalised); otherwise raw [`Gen::vec_of`] columns.
    pub fn column_stochastic(&mut self, rows: usize, cols: usize) -> DMatrix<f64> {
        let stochastic = self.coin(0.5);
        let mut m = DMatrix::zeros(rows, cols);
        for j in 0..cols {
            let mut c = self.vec_of(rows);
            if stochastic {
                normalise(&mut c);
            }
            for (i, v) in c.into_iter().enumerate() {
                m[(i, j)] = v;
            }
        }
        m
    }
    /// A valid `rows × cols` column-stochastic matrix: uniform entries, some set to exactly
    /// zero or to 1e-300 before the columns are normalised (a column left all zero gets a 1).
    pub fn clean_stochastic(&mut self, rows: usize, cols: usize) -> DMatrix<f64> {
        let mut m = DMatrix::zeros(rows, cols);
        for j in 0..cols {
            let mut c: Vec<f64> = (0..rows)
                .map(|_| match self.below(8) {
                    0 => 0.0,
                    1 => 1e-300,
                    _ => self.rng.random::<f64>(),
                })
                .collect();
            if rows > 0 && c.iter().all(|&x| x == 0.0) {
                let i = self.below(rows);
                c[i] = 1.0;
            }
            normalise(&mut c);
            for (i, v) in c.into_iter().enumerate() {
                m[(i, j)] = v;
            }
        }
        m
    }
    /// A column-stochastic `n × n` matrix near a functional graph: each column puts `1 − ε`
    /// on a random successor and spreads `ε` (drawn from `{0, 1e-12, 1e-3, 0.1, 0.4}`) over
    /// the states; sometimes a column is left exactly deterministic or made uniform.
    pub fn near_deterministic(&mut self, n: usize) -> DMatrix<f64> {
        let eps = self.pick(&[0.0, 1e-12, 1e-3, 0.1, 0.4]);
        let mut m = DMatrix::zeros(n, n);
        for j in 0..n {
            let s = self.below(n.max(1));
            if self.coin(0.05) {
                for i in 0..n {
                    m[(i, j)] = 1.0 / n as f64;
                }
                continue;
            }
            for i in 0..n {
                m[(i, j)] = eps / n as f64;
            }
            m[(s, j)] += 1.0 - eps;
        }
        m
    }
}

/// Scales `v` to sum to one (by absolute values) when that sum is finite and positive.
pub fn normalise(v: &mut [f64]) {
    let s: f64 = v.iter().map(|x| x.abs()).sum();
    if s.is_finite() && s > 0.0 {
        v.iter_mut().for_each(|x| *x = x.abs() / s);
    }
}

/// Whether every entry is finite.
pub fn all_finite(xs: &[f64]) -> bool {
    xs.iter().all(|x| x.is_finite())
}

/// Whether `f` panics (for accessors whose documentation promises a panic on an index out of
/// range: the suite checks they panic exactly then, and never read another entry).
pub fn panics(f: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

/// What one call produced.
pub enum Out {
    /// A typed error (expected for bad input).
    Error,
    /// Output values.
    Values {
        /// Whether every input was finite (then a non-finite value counts against the call).
        finite_in: bool,
        /// The values to check for finiteness.
        values: Vec<f64>,
        /// Whether the independent check of the answer held.
        right: bool,
    },
}

/// Output values whose correctness is not checked here.
pub fn ok(finite_in: bool, values: Vec<f64>) -> Out {
    Out::Values {
        finite_in,
        values,
        right: true,
    }
}

/// Output values and the outcome of an independent check.
pub fn checked(finite_in: bool, values: Vec<f64>, right: bool) -> Out {
    Out::Values {
        finite_in,
        values,
        right,
    }
}

/// Unwraps a `Result` inside a suite closure, returning [`Out::Error`] on `Err`.
#[macro_export]
macro_rules! res {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(_) => return $crate::Out::Error,
        }
    };
}

/// The counts for one entry point.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Calls made.
    pub calls: usize,
    /// Typed errors returned.
    pub errors: usize,
    /// Panics caught.
    pub panics: usize,
    /// Calls over [`SLOW`].
    pub slow: usize,
    /// Calls with a non-finite output from finite input.
    pub non_finite: usize,
    /// Calls whose independent check failed.
    pub wrong: usize,
    /// The slowest call.
    pub max_time: Duration,
}

/// Runs entry points with generated input and keeps the table.
pub struct Suite {
    cases: usize,
    table: Vec<(String, Tally)>,
    current: Arc<Mutex<Option<(String, Instant)>>>,
}

impl Suite {
    /// A suite with `ROBUSTNESS_CASES` cases per entry point (default [`DEFAULT_CASES`]).
    /// Panic messages are silenced for the life of the test process (run each suite as its
    /// own integration-test binary).
    pub fn from_env() -> Self {
        let cases = std::env::var("ROBUSTNESS_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_CASES);
        Self::with_cases(cases)
    }

    /// A suite with `cases` cases per entry point.
    pub fn with_cases(cases: usize) -> Self {
        // ROBUSTNESS_SHOW=1 keeps the default hook: every panic's message and location.
        if std::env::var_os("ROBUSTNESS_SHOW").is_none() {
            std::panic::set_hook(Box::new(|_| {}));
        }
        let current: Arc<Mutex<Option<(String, Instant)>>> = Arc::new(Mutex::new(None));
        let watch = Arc::downgrade(&current);
        std::thread::spawn(move || {
            while let Some(cur) = watch.upgrade() {
                if let Some((name, start)) = cur.lock().map(|g| g.clone()).unwrap_or(None) {
                    if start.elapsed() > HANG {
                        // Straight to the process's stderr: the test harness's capture of
                        // `eprintln!` would be lost with the abort.
                        let _ = writeln!(
                            std::io::stderr(),
                            "robustness: a call of `{name}` ran over {HANG:?} (a hang)"
                        );
                        std::process::abort();
                    }
                }
                drop(cur);
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Self {
            cases,
            table: Vec::new(),
            current,
        }
    }

    /// The number of cases per entry point.
    pub fn cases(&self) -> usize {
        self.cases
    }

    /// Calls `f` [`Suite::cases`] times with a generator seeded from `name`, and records the
    /// counts under `name`.
    pub fn run(&mut self, name: &str, mut f: impl FnMut(&mut Gen) -> Out) {
        let mut t = Tally::default();
        let seed = name
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut g = Gen::new(seed);
        for _ in 0..self.cases {
            t.calls += 1;
            let start = Instant::now();
            if let Ok(mut cur) = self.current.lock() {
                *cur = Some((name.to_string(), start));
            }
            let r = catch_unwind(AssertUnwindSafe(|| f(&mut g)));
            let took = start.elapsed();
            if let Ok(mut cur) = self.current.lock() {
                *cur = None;
            }
            t.max_time = t.max_time.max(took);
            if took > SLOW {
                t.slow += 1;
            }
            match r {
                Err(_) => t.panics += 1,
                Ok(Out::Error) => t.errors += 1,
                Ok(Out::Values {
                    finite_in,
                    values,
                    right,
                }) => {
                    if finite_in && !all_finite(&values) {
                        t.non_finite += 1;
                    }
                    if !right {
                        t.wrong += 1;
                    }
                }
            }
        }
        self.table.push((name.to_string(), t));
    }

    /// The table so far.
    pub fn table(&self) -> &[(String, Tally)] {
        &self.table
    }

    /// Prints the table (to stderr) and panics, naming them, if any entry point had a panic,
    /// a slow call, a non-finite output from finite input or a wrong answer.
    pub fn finish(self) {
        let _ = std::panic::take_hook();
        let w = self
            .table
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(10)
            .max(11);
        eprintln!(
            "\n{:<w$} {:>7} {:>7} {:>7} {:>5} {:>10} {:>6} {:>9}",
            "entry point", "calls", "errors", "panics", "slow", "non-finite", "wrong", "max ms"
        );
        let mut bad = Vec::new();
        for (name, t) in &self.table {
            eprintln!(
                "{:<w$} {:>7} {:>7} {:>7} {:>5} {:>10} {:>6} {:>9.1}",
                name,
                t.calls,
                t.errors,
                t.panics,
                t.slow,
                t.non_finite,
                t.wrong,
                t.max_time.as_secs_f64() * 1e3
            );
            if t.panics + t.slow + t.non_finite + t.wrong > 0 {
                bad.push(name.clone());
            }
        }
        assert!(bad.is_empty(), "entry points that failed: {bad:?}");
    }
}
