//! Fused CPU kernels, forward and backward, for the operations that dominate a small
//! transformer's training step once the GEMMs are fast: layer normalisation, the scaled causal
//! softmax of attention, GELU and the cross-entropy of logits against class indices.
//!
//! The fused kernels: [`layer_norm`], [`causal_softmax`], [`gelu`], [`add_bias`] (a linear
//! layer's bias, whose gradient is a sum over rows), [`bias_gelu`] and [`cross_entropy`].
//!
//! Built from candle's tensor operations, layer norm is nine single-threaded passes, a masked
//! softmax three more, GELU's backward about fourteen and every pass allocates. Each kernel
//! here is one [`CustomOp`](candle_core::CustomOp1) whose forward and backward each read and
//! write their tensors once, parallel over rows with rayon. Rows are split into blocks of a
//! fixed size and partial sums over rows (the layer norm's γ and β gradients, the mean of the
//! cross-entropy) are added in block order, so the numbers are the same at any thread count.
//!
//! Every kernel has its composite twin ([`Kernels::Composite`]): the same function written
//! with candle's differentiable operations. The tests compare the two on values and
//! gradients, in f32 and f64. The fused backward passes are themselves not differentiable: a
//! second derivative through them (a Hessian-vector product by double back-propagation, see
//! [`hvp`](crate::hvp)) fails with candle's `BackwardNotSupported` error instead of silently
//! treating them as constants, and the composite kernels serve that case. Off the CPU (the
//! `cuda` feature) the composite kernels run.
//!
//! Choices the fused kernels make:
//! - GELU is the tanh approximation candle's `gelu` computes (whose own backward pass rounds
//!   its constants to six digits; the composite twin here is built from primitives instead), written as `x·σ(2u)` with
//!   `u = √(2/π)(x + 0.044715x³)` (the same function: `½(1 + tanh u) = σ(2u)`), which has no
//!   cancellation for negative `x`;
//! - the causal softmax takes raw scores `[…, t, t]` and a scale and returns exact zeros above
//!   the diagonal (no `−∞` mask tensor is built);
//! - the cross-entropy's mean over rows is accumulated in f64.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};
use candle_core::{Result, WithDType, D};
use num_traits::Float;
use rayon::prelude::*;

/// Which implementation of the fused operations a model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// The fused CPU kernels of this module (composite off the CPU). The default.
    #[default]
    Fused,
    /// candle's differentiable operations: slower, but twice differentiable (for exact
    /// Hessian-vector products through the model).
    Composite,
}

impl Kernels {
    /// The fused kernels run on CPU tensors with at least one element (their row blocks need
    /// a non-empty row); everything else goes through the composite twins.
    fn fused_on(self, t: &Tensor) -> bool {
        self == Kernels::Fused && t.device().is_cpu() && t.elem_count() > 0
    }
}

/// The floating-point types the kernels run in (f32, f64).
trait Real: WithDType + Float {}
impl Real for f32 {}
impl Real for f64 {}

/// Rows per rayon task: enough work per task to hide scheduling, and a fixed block size so
/// that reductions over rows do not depend on the thread count.
const ROW_BLOCK: usize = 16;

/// The elements of a contiguous CPU tensor as a slice of `T`, for custom ops' `cpu_fwd` (an
/// error naming `what` when the layout is not contiguous or the dtype is not `T`).
pub fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [T]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{what}: the input is not contiguous")))?;
    Ok(&T::cpu_storage_as_slice(s)?[a..b])
}

fn float_dtype(dtype: DType, what: &str) -> Result<()> {
    match dtype {
        DType::F32 | DType::F64 => Ok(()),
        other => candle_core::bail!("{what}: fused kernels run in f32 or f64, not {other:?}"),
    }
}

macro_rules! dispatch {
    ($dtype:expr, $what:expr, $f:ident ( $($arg:expr),* )) => {
        match $dtype {
            DType::F32 => $f::<f32>($($arg),*),
            DType::F64 => $f::<f64>($($arg),*),
            other => candle_core::bail!("{}: fused kernels run in f32 or f64, not {other:?}", $what),
        }
    };
}

/// Implements a custom op that is only ever run forward (the backward kernels: a second
/// derivative through them is refused): its name, and a `cpu_fwd` that dispatches `$f::<T>` on
/// the dtype with the inputs and the op itself.
macro_rules! forward_only_op {
    (CustomOp1, $ty:ident, $name:literal, $f:ident) => {
        impl CustomOp1 for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
                dispatch!(s.dtype(), $name, $f((s, l), self))
            }
        }
    };
    (CustomOp2, $ty:ident, $name:literal, $f:ident) => {
        impl CustomOp2 for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn cpu_fwd(
                &self,
                s1: &CpuStorage,
                l1: &Layout,
                s2: &CpuStorage,
                l2: &Layout,
            ) -> Result<(CpuStorage, Shape)> {
                dispatch!(s1.dtype(), $name, $f((s1, l1), (s2, l2), self))
            }
        }
    };
    (CustomOp3, $ty:ident, $name:literal, $f:ident) => {
        impl CustomOp3 for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn cpu_fwd(
                &self,
                s1: &CpuStorage,
                l1: &Layout,
                s2: &CpuStorage,
                l2: &Layout,
                s3: &CpuStorage,
                l3: &Layout,
            ) -> Result<(CpuStorage, Shape)> {
                dispatch!(s1.dtype(), $name, $f((s1, l1), (s2, l2), (s3, l3), self))
            }
        }
    };
}

fn c<T: Real>(v: f64) -> T {
    T::from_f64(v)
}

// ---------------------------------------------------------------------------------------
// Layer norm

/// Layer normalisation over the last dimension, `(x − mean)/√(var + ε)·γ + β` (biased
/// variance, as PyTorch). `gamma` and `beta` have the size of the last dimension.
pub fn layer_norm(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    kernels: Kernels,
) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    if gamma.dims() != [d] || beta.dims() != [d] {
        candle_core::bail!(
            "layer norm: γ {:?} and β {:?} must have the last dimension {d} of x {:?}",
            gamma.dims(),
            beta.dims(),
            x.dims()
        );
    }
    if !(eps > 0.0 && eps.is_finite()) {
        candle_core::bail!("layer norm: ε must be positive and finite, not {eps}");
    }
    if !kernels.fused_on(x) {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
        return normed.broadcast_mul(gamma)?.broadcast_add(beta);
    }
    x.contiguous()?.apply_op3(
        &gamma.contiguous()?,
        &beta.contiguous()?,
        LayerNormOp { eps },
    )
}

struct LayerNormOp {
    eps: f64,
}

fn row_moments<T: Real>(row: &[T], eps: f64) -> (T, T) {
    let n = c::<T>(row.len() as f64);
    let mean = row.iter().fold(T::zero(), |s, &v| s + v) / n;
    let var = row
        .iter()
        .fold(T::zero(), |s, &v| s + (v - mean) * (v - mean))
        / n;
    (mean, T::one() / (var + c(eps)).sqrt())
}

fn ln_fwd<T: Real>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    (s3, l3): (&CpuStorage, &Layout),
    eps: f64,
) -> Result<(CpuStorage, Shape)> {
    let x = slice::<T>(s1, l1, "layer norm")?;
    let g = slice::<T>(s2, l2, "layer norm")?;
    let b = slice::<T>(s3, l3, "layer norm")?;
    let d = g.len();
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(d * ROW_BLOCK)
        .zip(x.par_chunks(d * ROW_BLOCK))
        .for_each(|(o, xs)| {
            for (orow, xrow) in o.chunks_mut(d).zip(xs.chunks(d)) {
                let (mean, rstd) = row_moments(xrow, eps);
                for j in 0..d {
                    orow[j] = (xrow[j] - mean) * rstd * g[j] + b[j];
                }
            }
        });
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        dispatch!(
            s1.dtype(),
            self.name(),
            ln_fwd((s1, l1), (s2, l2), (s3, l3), self.eps)
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // One pass gives the three gradients, packed as [dx (n·d), dγ (d), dβ (d)].
        let packed = x.apply_op3(
            gamma,
            &grad.contiguous()?,
            LayerNormBackward { eps: self.eps },
        )?;
        let (n, d) = (x.elem_count(), gamma.elem_count());
        Ok((
            Some(packed.narrow(0, 0, n)?.reshape(x.shape())?),
            Some(packed.narrow(0, n, d)?),
            Some(packed.narrow(0, n + d, d)?),
        ))
    }
}

struct LayerNormBackward {
    eps: f64,
}

fn ln_bwd<T: Real>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    (s3, l3): (&CpuStorage, &Layout),
    op: &LayerNormBackward,
) -> Result<(CpuStorage, Shape)> {
    let eps = op.eps;
    let x = slice::<T>(s1, l1, "layer norm backward")?;
    let gamma = slice::<T>(s2, l2, "layer norm backward")?;
    let gy = slice::<T>(s3, l3, "layer norm backward")?;
    let d = gamma.len();
    let n = x.len();
    let mut packed = vec![T::zero(); n + 2 * d];
    let (dx, _) = packed.split_at_mut(n);
    // dx_j = rstd·(ĝ_j − mean(ĝ) − x̂_j·mean(ĝ·x̂)) with ĝ = g·γ; per block, the partial sums
    // Σ g·x̂ (dγ) and Σ g (dβ).
    let partials: Vec<Vec<T>> = dx
        .par_chunks_mut(d * ROW_BLOCK)
        .zip(x.par_chunks(d * ROW_BLOCK))
        .zip(gy.par_chunks(d * ROW_BLOCK))
        .map(|((dxs, xs), gs)| {
            let mut part = vec![T::zero(); 2 * d];
            let dn = c::<T>(d as f64);
            for ((dxrow, xrow), grow) in dxs.chunks_mut(d).zip(xs.chunks(d)).zip(gs.chunks(d)) {
                let (mean, rstd) = row_moments(xrow, eps);
                let (mut sum_g, mut sum_gx) = (T::zero(), T::zero());
                for j in 0..d {
                    let xhat = (xrow[j] - mean) * rstd;
                    let gh = grow[j] * gamma[j];
                    sum_g += gh;
                    sum_gx += gh * xhat;
                    part[j] += grow[j] * xhat;
                    part[d + j] += grow[j];
                }
                let (mg, mgx) = (sum_g / dn, sum_gx / dn);
                for j in 0..d {
                    let xhat = (xrow[j] - mean) * rstd;
                    dxrow[j] = rstd * (grow[j] * gamma[j] - mg - xhat * mgx);
                }
            }
            part
        })
        .collect();
    let tail = &mut packed[n..];
    for part in partials {
        for (t, p) in tail.iter_mut().zip(part) {
            *t += p;
        }
    }
    Ok((T::to_cpu_storage_owned(packed), Shape::from(n + 2 * d)))
}

forward_only_op!(
    CustomOp3,
    LayerNormBackward,
    "fused-layer-norm-backward",
    ln_bwd
);

// ---------------------------------------------------------------------------------------
// Scaled causal softmax

/// The attention probabilities of raw scores `[…, t, t]`: row `i` is the softmax of
/// `scale · scores[i, 0..=i]`, with exact zeros above the diagonal.
pub fn causal_softmax(scores: &Tensor, scale: f64, kernels: Kernels) -> Result<Tensor> {
    let dims = scores.dims();
    let r = dims.len();
    if r < 2 || dims[r - 1] != dims[r - 2] {
        candle_core::bail!("causal softmax needs square [.., t, t] scores, not {dims:?}");
    }
    if !scale.is_finite() {
        candle_core::bail!("causal softmax: the scale must be finite, not {scale}");
    }
    if !kernels.fused_on(scores) {
        let t = dims[r - 1];
        let mask = crate::models::causal_mask(t, scores.dtype(), scores.device())?;
        return candle_nn::ops::softmax(&(scores * scale)?.broadcast_add(&mask)?, D::Minus1);
    }
    scores.contiguous()?.apply_op1(CausalSoftmax { scale })
}

/// Row `i` of a causal softmax, in place: `row[j] ← softmax(scale · row[0..=i])_j` for `j ≤ i`
/// and 0 after (shared by [`causal_softmax`] and the attention kernel).
fn causal_softmax_row<T: Real>(row: &mut [T], i: usize, scale: T) {
    let m = row[..=i]
        .iter()
        .fold(T::neg_infinity(), |m, &v| Float::max(m, v * scale));
    let mut sum = T::zero();
    for v in &mut row[..=i] {
        *v = (*v * scale - m).exp();
        sum += *v;
    }
    let inv = T::one() / sum;
    for v in &mut row[..=i] {
        *v *= inv;
    }
    for v in &mut row[i + 1..] {
        *v = T::zero();
    }
}

/// Its backward, in place: with `p` the row's probabilities and `g` the gradient of the
/// output, `g[j] ← scale · p_j (g_j − Σ_k p_k g_k)` for `j ≤ i` and 0 after.
fn causal_softmax_row_backward<T: Real>(p: &[T], g: &mut [T], i: usize, scale: T) {
    let dot = (0..=i).fold(T::zero(), |acc, j| acc + p[j] * g[j]);
    for j in 0..=i {
        g[j] = scale * p[j] * (g[j] - dot);
    }
    for v in &mut g[i + 1..] {
        *v = T::zero();
    }
}

struct CausalSoftmax {
    scale: f64,
}

fn softmax_fwd<T: Real>(s: &CpuStorage, l: &Layout, scale: f64) -> Result<(CpuStorage, Shape)> {
    let x = slice::<T>(s, l, "causal softmax")?;
    let t = l.dims()[l.dims().len() - 1];
    let scale = c::<T>(scale);
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(t * ROW_BLOCK)
        .zip(x.par_chunks(t * ROW_BLOCK))
        .enumerate()
        .for_each(|(blk, (o, xs))| {
            for (k, (orow, xrow)) in o.chunks_mut(t).zip(xs.chunks(t)).enumerate() {
                orow.copy_from_slice(xrow);
                causal_softmax_row(orow, (blk * ROW_BLOCK + k) % t, scale);
            }
        });
    Ok((T::to_cpu_storage_owned(out), l.shape().clone()))
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "fused-causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        dispatch!(s.dtype(), self.name(), softmax_fwd(s, l, self.scale))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2(
            &grad.contiguous()?,
            CausalSoftmaxBackward { scale: self.scale },
        )?))
    }
}

struct CausalSoftmaxBackward {
    scale: f64,
}

fn softmax_bwd<T: Real>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    op: &CausalSoftmaxBackward,
) -> Result<(CpuStorage, Shape)> {
    let scale = op.scale;
    let p = slice::<T>(s1, l1, "causal softmax backward")?;
    let g = slice::<T>(s2, l2, "causal softmax backward")?;
    let t = l1.dims()[l1.dims().len() - 1];
    let scale = c::<T>(scale);
    let mut out = vec![T::zero(); p.len()];
    out.par_chunks_mut(t * ROW_BLOCK)
        .zip(p.par_chunks(t * ROW_BLOCK))
        .zip(g.par_chunks(t * ROW_BLOCK))
        .enumerate()
        .for_each(|(blk, ((o, ps), gs))| {
            for (k, ((orow, prow), grow)) in o
                .chunks_mut(t)
                .zip(ps.chunks(t))
                .zip(gs.chunks(t))
                .enumerate()
            {
                orow.copy_from_slice(grow);
                causal_softmax_row_backward(prow, orow, (blk * ROW_BLOCK + k) % t, scale);
            }
        });
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

forward_only_op!(
    CustomOp2,
    CausalSoftmaxBackward,
    "fused-causal-softmax-backward",
    softmax_bwd
);

// ---------------------------------------------------------------------------------------
// Causal self-attention

/// Causal multi-head self-attention from packed projections: `qkv` is `[batch, t, 3·d]` (the
/// queries, keys and values side by side, each `d = heads·d_h` wide, head `h` in columns
/// `h·d_h..(h+1)·d_h` of each), the result `[batch, t, d]` with the heads side by side:
/// `softmax(Q_h K_hᵀ/√d_h + causal mask) V_h` per head.
///
/// The fused kernel never materialises the `[batch, heads, t, t]` scores as a tensor: per
/// sequence (in parallel) and head it forms them with one GEMM, applies the causal softmax and
/// mixes the values with a second; the backward pass recomputes them (two extra GEMMs of the
/// five) instead of storing them. The GEMMs are nalgebra's (the `matrixmultiply` kernels) on
/// strided views of the packed buffer, so no head is copied out.
pub fn causal_attention(qkv: &Tensor, heads: usize, kernels: Kernels) -> Result<Tensor> {
    let (b, t, d3) = qkv.dims3()?;
    if heads == 0 || !d3.is_multiple_of(3 * heads) {
        candle_core::bail!("attention: packed width {d3} is not 3 × heads ({heads}) × head width");
    }
    let d = d3 / 3;
    let dh = d / heads;
    let scale = 1.0 / (dh as f64).sqrt();
    if !kernels.fused_on(qkv) {
        let qkv = qkv
            .reshape((b, t, 3, heads, dh))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let att = causal_softmax(&q.matmul(&k.t()?)?, scale, kernels)?;
        return att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d));
    }
    float_dtype(qkv.dtype(), "attention")?;
    qkv.contiguous()?.apply_op1(Attention { heads })
}

struct Attention {
    heads: usize,
}

/// The numbers every attention pass needs.
#[derive(Clone, Copy)]
struct AttnShape {
    t: usize,
    d: usize,
    dh: usize,
    heads: usize,
}

impl AttnShape {
    fn of(l: &Layout, heads: usize) -> Self {
        let dims = l.dims();
        let (t, d) = (dims[1], dims[2] / 3);
        Self {
            t,
            d,
            dh: d / heads,
            heads,
        }
    }
}

trait AttnReal: Real + nalgebra::RealField {}
impl AttnReal for f32 {}
impl AttnReal for f64 {}

type View<'a, T> = nalgebra::DMatrixView<'a, T, nalgebra::Dyn, nalgebra::Dyn>;
type ViewMut<'a, T> = nalgebra::DMatrixViewMut<'a, T, nalgebra::Dyn, nalgebra::Dyn>;

/// A `rows × cols` view of `data` from `offset`, with the given strides between rows and
/// between columns (nalgebra's matrices are column-major; the buffers here row-major).
fn view<T: AttnReal>(
    data: &[T],
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
) -> View<'_, T> {
    View::from_slice_with_strides(&data[offset..], rows, cols, rs, cs)
}

/// All of a square scratch matrix as a mutable view.
fn full_view_mut<T: AttnReal>(m: &mut nalgebra::DMatrix<T>) -> ViewMut<'_, T> {
    let n = m.nrows();
    ViewMut::from_slice_with_strides_mut(m.as_mut_slice(), n, n, 1, n)
}

fn view_mut<T: AttnReal>(
    data: &mut [T],
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
) -> ViewMut<'_, T> {
    ViewMut::from_slice_with_strides_mut(&mut data[offset..], rows, cols, rs, cs)
}

/// `c ← a·b` on strided views. nalgebra sends matrices with every dimension above 5 to the
/// matrixmultiply kernels, which take any strides; its own small-matrix path mishandles strided
/// views (it wrote out of bounds in our tests), so small products are done here by index.
fn gemm_into<T: AttnReal>(c: &mut ViewMut<'_, T>, a: &View<'_, T>, b: &View<'_, T>) {
    const NALGEBRA_SMALL_DIM: usize = 5;
    let (m, k) = a.shape();
    let n = b.ncols();
    if m.min(k).min(n) > NALGEBRA_SMALL_DIM {
        c.gemm(T::one(), a, b, T::zero());
        return;
    }
    for i in 0..m {
        for j in 0..n {
            c[(i, j)] = (0..k).fold(T::zero(), |acc, l| acc + a[(i, l)] * b[(l, j)]);
        }
    }
}

/// `Pᵀ` of one head of one sequence into `pt` (column `i` = row `i` of the attention
/// probabilities, zero below the diagonal of `pt`): `Sᵀ = K Qᵀ`, then a causal softmax of each
/// column.
fn head_probabilities<T: AttnReal>(
    xb: &[T],
    s: AttnShape,
    h: usize,
    pt: &mut nalgebra::DMatrix<T>,
) {
    let (t, d3, dh) = (s.t, 3 * s.d, s.dh);
    let k = view(xb, s.d + h * dh, t, dh, d3, 1);
    let qt = view(xb, h * dh, dh, t, 1, d3);
    gemm_into(&mut full_view_mut(pt), &k, &qt);
    let scale = c::<T>(1.0 / (dh as f64).sqrt());
    for i in 0..t {
        causal_softmax_row(&mut pt.as_mut_slice()[i * t..(i + 1) * t], i, scale);
    }
}

fn attention_fwd<T: AttnReal>(
    st: &CpuStorage,
    l: &Layout,
    heads: usize,
) -> Result<(CpuStorage, Shape)> {
    let x = slice::<T>(st, l, "attention")?;
    let s = AttnShape::of(l, heads);
    let (t, d, dh) = (s.t, s.d, s.dh);
    let b = l.dims()[0];
    let mut out = vec![T::zero(); b * t * d];
    out.par_chunks_mut(t * d)
        .zip(x.par_chunks(t * 3 * d))
        .for_each(|(o, xb)| {
            let mut pt = nalgebra::DMatrix::<T>::zeros(t, t);
            for h in 0..s.heads {
                head_probabilities(xb, s, h, &mut pt);
                let v = view(xb, 2 * d + h * dh, t, dh, 3 * d, 1);
                // O_h = P V, P read through `pt` with its strides swapped (nalgebra's
                // `gemm_tr` does not use the matrixmultiply kernels).
                let p = view(pt.as_slice(), 0, t, t, t, 1);
                gemm_into(&mut view_mut(o, h * dh, t, dh, d, 1), &p, &v);
            }
        });
    Ok((T::to_cpu_storage_owned(out), Shape::from((b, t, d))))
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        match s.dtype() {
            DType::F32 => attention_fwd::<f32>(s, l, self.heads),
            DType::F64 => attention_fwd::<f64>(s, l, self.heads),
            other => {
                candle_core::bail!("attention: fused kernels run in f32 or f64, not {other:?}")
            }
        }
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2(
            &grad.contiguous()?,
            AttentionBackward { heads: self.heads },
        )?))
    }
}

struct AttentionBackward {
    heads: usize,
}

fn attention_bwd<T: AttnReal>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    op: &AttentionBackward,
) -> Result<(CpuStorage, Shape)> {
    let heads = op.heads;
    let x = slice::<T>(s1, l1, "attention backward")?;
    let g = slice::<T>(s2, l2, "attention backward")?;
    let s = AttnShape::of(l1, heads);
    let (t, d, dh) = (s.t, s.d, s.dh);
    let d3 = 3 * d;
    let scale = c::<T>(1.0 / (dh as f64).sqrt());
    let mut dx = vec![T::zero(); x.len()];
    dx.par_chunks_mut(t * d3)
        .zip(x.par_chunks(t * d3))
        .zip(g.par_chunks(t * d))
        .for_each(|((dxb, xb), gb)| {
            let mut pt = nalgebra::DMatrix::<T>::zeros(t, t);
            let mut dpt = nalgebra::DMatrix::<T>::zeros(t, t);
            for h in 0..s.heads {
                head_probabilities(xb, s, h, &mut pt);
                let q = view(xb, h * dh, t, dh, d3, 1);
                let k = view(xb, d + h * dh, t, dh, d3, 1);
                let v = view(xb, 2 * d + h * dh, t, dh, d3, 1);
                let dout = view(gb, h * dh, t, dh, d, 1);
                let dout_t = view(gb, h * dh, dh, t, 1, d);
                // dV = Pᵀ dO.
                let p_t = view(pt.as_slice(), 0, t, t, 1, t);
                gemm_into(
                    &mut view_mut(dxb, 2 * d + h * dh, t, dh, d3, 1),
                    &p_t,
                    &dout,
                );
                // dPᵀ = V dOᵀ (column i = row i of dP).
                gemm_into(&mut full_view_mut(&mut dpt), &v, &dout_t);
                // dS = scale · P ⊙ (dP − rowsum(P ⊙ dP)), kept transposed.
                for i in 0..t {
                    causal_softmax_row_backward(
                        &pt.as_slice()[i * t..(i + 1) * t],
                        &mut dpt.as_mut_slice()[i * t..(i + 1) * t],
                        i,
                        scale,
                    );
                }
                // dQ = dS K (dS read through `dpt` transposed);  dK = dSᵀ Q.
                let ds = view(dpt.as_slice(), 0, t, t, t, 1);
                gemm_into(&mut view_mut(dxb, h * dh, t, dh, d3, 1), &ds, &k);
                let ds_t = view(dpt.as_slice(), 0, t, t, 1, t);
                gemm_into(&mut view_mut(dxb, d + h * dh, t, dh, d3, 1), &ds_t, &q);
            }
        });
    Ok((T::to_cpu_storage_owned(dx), l1.shape().clone()))
}

forward_only_op!(
    CustomOp2,
    AttentionBackward,
    "fused-causal-attention-backward",
    attention_bwd
);

// ---------------------------------------------------------------------------------------
// GELU

const GELU_C: f64 = 0.797_884_560_802_865_4; // √(2/π)
const GELU_A: f64 = 0.044715;

/// GELU, tanh approximation: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` (candle's `gelu`).
pub fn gelu(x: &Tensor, kernels: Kernels) -> Result<Tensor> {
    if !kernels.fused_on(x) {
        // From primitives rather than candle's `gelu`, whose backward pass rounds the
        // constants to six digits (a relative error of about 2e-7 in the gradient).
        let u = (((x.sqr()? * x)? * GELU_A)? + x)? * GELU_C;
        return ((u?.tanh()? + 1.0)? * x)? * 0.5;
    }
    float_dtype(x.dtype(), "gelu")?;
    x.contiguous()?.apply_op1(Gelu)
}

struct Gelu;

/// Elements per rayon task of the element-wise kernels.
const ELEM_BLOCK: usize = 4096;

/// `x·σ(k x (1 + a x²))`, `k = 2√(2/π)`, `a = 0.044715`.
#[inline]
fn gelu_value<T: Real>(v: T) -> T {
    let (k, a) = (c::<T>(2.0 * GELU_C), c::<T>(GELU_A));
    v * sigmoid(k * v * (T::one() + a * v * v))
}

fn sigmoid<T: Real>(z: T) -> T {
    T::one() / (T::one() + (-z).exp())
}

fn gelu_fwd<T: Real>(s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
    let x = slice::<T>(s, l, "gelu")?;
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(ELEM_BLOCK)
        .zip(x.par_chunks(ELEM_BLOCK))
        .for_each(|(o, xs)| {
            for (o, &v) in o.iter_mut().zip(xs) {
                *o = gelu_value(v);
            }
        });
    Ok((T::to_cpu_storage_owned(out), l.shape().clone()))
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "fused-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        dispatch!(s.dtype(), self.name(), gelu_fwd(s, l))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2(&grad.contiguous()?, GeluBackward)?))
    }
}

struct GeluBackward;

/// `y = x·σ(z)`, `z = k(x + a x³)`: `y' = σ(z) + x·σ(z)(1 − σ(z))·k(1 + 3a x²)`.
#[inline]
fn gelu_derivative<T: Real>(v: T) -> T {
    let (k, a, three) = (c::<T>(2.0 * GELU_C), c::<T>(GELU_A), c::<T>(3.0));
    let v2 = v * v;
    let s = sigmoid(k * v * (T::one() + a * v2));
    s + v * s * (T::one() - s) * k * (T::one() + three * a * v2)
}

fn gelu_bwd<T: Real>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    _: &GeluBackward,
) -> Result<(CpuStorage, Shape)> {
    let x = slice::<T>(s1, l1, "gelu backward")?;
    let g = slice::<T>(s2, l2, "gelu backward")?;
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(ELEM_BLOCK)
        .zip(x.par_chunks(ELEM_BLOCK))
        .zip(g.par_chunks(ELEM_BLOCK))
        .for_each(|((o, xs), gs)| {
            for ((o, &v), &gv) in o.iter_mut().zip(xs).zip(gs) {
                *o = gv * gelu_derivative(v);
            }
        });
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

forward_only_op!(CustomOp2, GeluBackward, "fused-gelu-backward", gelu_bwd);

// ---------------------------------------------------------------------------------------
// Bias rows (and bias + GELU)

/// `x + b` with `b` added to every row of the last dimension (a linear layer's bias). The
/// backward pass sums the gradient over rows in parallel (candle's reduction over a leading
/// dimension runs on one thread).
pub fn add_bias(x: &Tensor, b: &Tensor, kernels: Kernels) -> Result<Tensor> {
    check_bias(x, b, "bias")?;
    if !kernels.fused_on(x) {
        return x.broadcast_add(b);
    }
    x.contiguous()?
        .apply_op2(&b.contiguous()?, BiasOp { gelu: false })
}

/// `gelu(x + b)` in one pass (the FFN's first layer): [`add_bias`] then [`gelu`].
pub fn bias_gelu(x: &Tensor, b: &Tensor, kernels: Kernels) -> Result<Tensor> {
    check_bias(x, b, "bias + gelu")?;
    if !kernels.fused_on(x) {
        return gelu(&x.broadcast_add(b)?, kernels);
    }
    x.contiguous()?
        .apply_op2(&b.contiguous()?, BiasOp { gelu: true })
}

fn check_bias(x: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    let n = x.dim(D::Minus1)?;
    if b.dims() != [n] {
        candle_core::bail!(
            "{what}: a bias of shape {:?} for rows of {n} (x {:?})",
            b.dims(),
            x.dims()
        );
    }
    float_dtype(x.dtype(), what)
}

struct BiasOp {
    gelu: bool,
}

fn bias_fwd<T: Real>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    gelu: bool,
) -> Result<(CpuStorage, Shape)> {
    let x = slice::<T>(s1, l1, "bias")?;
    let b = slice::<T>(s2, l2, "bias")?;
    let n = b.len();
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(n * ROW_BLOCK)
        .zip(x.par_chunks(n * ROW_BLOCK))
        .for_each(|(o, xs)| {
            for (orow, xrow) in o.chunks_mut(n).zip(xs.chunks(n)) {
                for j in 0..n {
                    let z = xrow[j] + b[j];
                    orow[j] = if gelu { gelu_value(z) } else { z };
                }
            }
        });
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

impl CustomOp2 for BiasOp {
    fn name(&self) -> &'static str {
        if self.gelu {
            "fused-bias-gelu"
        } else {
            "fused-bias"
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        dispatch!(
            s1.dtype(),
            self.name(),
            bias_fwd((s1, l1), (s2, l2), self.gelu)
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dz = if self.gelu {
            x.apply_op3(b, &grad, BiasGeluBackward)?
        } else {
            grad
        };
        let db = dz.apply_op1(ColumnSum { n: b.elem_count() })?;
        Ok((Some(dz), Some(db)))
    }
}

struct BiasGeluBackward;

fn bias_gelu_bwd<T: Real>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    (s3, l3): (&CpuStorage, &Layout),
    _: &BiasGeluBackward,
) -> Result<(CpuStorage, Shape)> {
    let x = slice::<T>(s1, l1, "bias + gelu backward")?;
    let b = slice::<T>(s2, l2, "bias + gelu backward")?;
    let g = slice::<T>(s3, l3, "bias + gelu backward")?;
    let n = b.len();
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(n * ROW_BLOCK)
        .zip(x.par_chunks(n * ROW_BLOCK))
        .zip(g.par_chunks(n * ROW_BLOCK))
        .for_each(|((o, xs), gs)| {
            for ((orow, xrow), grow) in o.chunks_mut(n).zip(xs.chunks(n)).zip(gs.chunks(n)) {
                for j in 0..n {
                    orow[j] = grow[j] * gelu_derivative(xrow[j] + b[j]);
                }
            }
        });
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

forward_only_op!(
    CustomOp3,
    BiasGeluBackward,
    "fused-bias-gelu-backward",
    bias_gelu_bwd
);

/// Sums rows of `n` columns: `[…, n] → [n]`, parallel over fixed blocks of rows whose partial
/// sums are added in block order.
struct ColumnSum {
    n: usize,
}

fn column_sum<T: Real>(
    (s, l): (&CpuStorage, &Layout),
    op: &ColumnSum,
) -> Result<(CpuStorage, Shape)> {
    let n = op.n;
    let x = slice::<T>(s, l, "column sum")?;
    let partials: Vec<Vec<T>> = x
        .par_chunks(n * ROW_BLOCK * 4)
        .map(|xs| {
            let mut part = vec![T::zero(); n];
            for row in xs.chunks(n) {
                for (p, &v) in part.iter_mut().zip(row) {
                    *p += v;
                }
            }
            part
        })
        .collect();
    let mut out = vec![T::zero(); n];
    for part in partials {
        for (o, p) in out.iter_mut().zip(part) {
            *o += p;
        }
    }
    Ok((T::to_cpu_storage_owned(out), Shape::from(n)))
}

forward_only_op!(CustomOp1, ColumnSum, "fused-column-sum", column_sum);

// ---------------------------------------------------------------------------------------
// Cross-entropy

/// Mean cross-entropy (nats) of logits `[n, classes]` against class indices `[n]` (u32 or
/// i64), as `candle_nn::loss::cross_entropy`. An index outside `0..classes` is an error.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, kernels: Kernels) -> Result<Tensor> {
    let (n, _) = logits.dims2()?;
    if targets.dims() != [n] {
        candle_core::bail!(
            "cross-entropy: {} rows of logits but targets of shape {:?}",
            n,
            targets.dims()
        );
    }
    if n == 0 {
        candle_core::bail!("cross-entropy of zero rows");
    }
    if !kernels.fused_on(logits) {
        return candle_nn::loss::cross_entropy(logits, targets);
    }
    logits
        .contiguous()?
        .apply_op2(&targets.contiguous()?, CrossEntropy)
}

struct CrossEntropy;

fn class_indices(s: &CpuStorage, l: &Layout, classes: usize) -> Result<Vec<usize>> {
    let idx: Vec<usize> = match s {
        CpuStorage::U32(_) => slice::<u32>(s, l, "cross-entropy")?
            .iter()
            .map(|&v| v as usize)
            .collect(),
        CpuStorage::I64(_) => slice::<i64>(s, l, "cross-entropy")?
            .iter()
            .map(|&v| usize::try_from(v).unwrap_or(usize::MAX))
            .collect(),
        other => candle_core::bail!(
            "cross-entropy: class indices must be u32 or i64, not {:?}",
            other.dtype()
        ),
    };
    if let Some(bad) = idx.iter().position(|&v| v >= classes) {
        candle_core::bail!(
            "cross-entropy: target {bad} is outside 0..{classes} (there are {classes} classes)"
        );
    }
    Ok(idx)
}

fn row_log_sum_exp<T: Real>(row: &[T]) -> T {
    let m = row.iter().fold(T::neg_infinity(), |m, &v| Float::max(m, v));
    m + row.iter().fold(T::zero(), |s, &v| s + (v - m).exp()).ln()
}

fn ce_fwd<T: Real>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let x = slice::<T>(s1, l1, "cross-entropy")?;
    let v = l1.dims()[1];
    let idx = class_indices(s2, l2, v)?;
    let parts: Vec<f64> = x
        .par_chunks(v * ROW_BLOCK)
        .zip(idx.par_chunks(ROW_BLOCK))
        .map(|(xs, ts)| {
            xs.chunks(v)
                .zip(ts)
                .map(|(row, &t)| (row_log_sum_exp(row) - row[t]).to_f64())
                .sum::<f64>()
        })
        .collect();
    let mean = parts.iter().sum::<f64>() / idx.len() as f64;
    Ok((T::to_cpu_storage_owned(vec![c::<T>(mean)]), Shape::from(())))
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        dispatch!(s1.dtype(), self.name(), ce_fwd((s1, l1), (s2, l2)))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = logits.apply_op3(targets, &grad.contiguous()?, CrossEntropyBackward)?;
        Ok((Some(g), None))
    }
}

struct CrossEntropyBackward;

fn ce_bwd<T: Real>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    (s3, l3): (&CpuStorage, &Layout),
    _: &CrossEntropyBackward,
) -> Result<(CpuStorage, Shape)> {
    let x = slice::<T>(s1, l1, "cross-entropy backward")?;
    let v = l1.dims()[1];
    let idx = class_indices(s2, l2, v)?;
    let g = slice::<T>(s3, l3, "cross-entropy backward")?[0];
    let w = g / c::<T>(idx.len() as f64);
    let mut out = vec![T::zero(); x.len()];
    // d/dx_j = (softmax_j − [j = t])·g/n.
    out.par_chunks_mut(v * ROW_BLOCK)
        .zip(x.par_chunks(v * ROW_BLOCK))
        .zip(idx.par_chunks(ROW_BLOCK))
        .for_each(|((o, xs), ts)| {
            for ((orow, row), &t) in o.chunks_mut(v).zip(xs.chunks(v)).zip(ts) {
                let lse = row_log_sum_exp(row);
                for j in 0..v {
                    orow[j] = (row[j] - lse).exp() * w;
                }
                orow[t] -= w;
            }
        });
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

forward_only_op!(
    CustomOp3,
    CrossEntropyBackward,
    "fused-cross-entropy-backward",
    ce_bwd
);
