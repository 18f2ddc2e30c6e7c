//! Models on candle: an MLP and a byte-level causal transformer language model whose FFN block
//! is pluggable and whose linear layers are reachable by name.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{embedding, linear, Activation, Embedding, Linear, VarBuilder, VarMap};

use crate::kernels::{self, Kernels};

/// A linear layer applied to `[…, in]` as one GEMM over all leading rows (candle's `Linear`
/// broadcasts its weight over the batch and runs one small GEMM per sequence, whose weight
/// gradient then needs a reduction over the batch).
pub fn linear_rows(layer: &Linear, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
    affine_rows(x, layer.weight(), layer.bias(), kernels)
}

fn affine_rows(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    kernels: Kernels,
) -> Result<Tensor> {
    let dims = x.dims();
    let Some((&d_in, lead)) = dims.split_last() else {
        candle_core::bail!("a linear layer needs an input of rank ≥ 1");
    };
    let rows: usize = lead.iter().product();
    let y = x.reshape((rows, d_in))?.matmul(&weight.t()?)?;
    let y = match bias {
        Some(b) => kernels::add_bias(&y, b, kernels)?,
        None => y,
    };
    let mut out = lead.to_vec();
    out.push(weight.dim(0)?);
    y.reshape(out)
}

/// A multi-layer perceptron `widths[0] → widths[1] → … → widths[n]` with `act` between layers
/// (none after the last, which gives logits). Layers are named `layer{i}`.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    act: Activation,
}

impl Mlp {
    /// Builds the layers under `vb` (at least an input and an output width).
    pub fn new(vb: VarBuilder<'_>, widths: &[usize], act: Activation) -> Result<Self> {
        if widths.len() < 2 || widths.contains(&0) {
            candle_core::bail!("an MLP needs at least two positive widths, got {widths:?}");
        }
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(w[0], w[1], vb.pp(format!("layer{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self { layers, act })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut h = xs.clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            if i + 1 < self.layers.len() {
                h = self.act.forward(&h)?;
            }
        }
        Ok(h)
    }
}

/// A small convolutional image classifier: for each width in `channels`, a 3 × 3 convolution
/// (padding 1), ReLU and a 2 × 2 max-pool; then a hidden linear layer with ReLU and the output
/// layer (logits). Input `[batch, in_channels, height, width]`. The PENEX paper's vision model
/// has widths 32/64/128 and a 256-unit hidden layer with dropout 0.5; this one takes the widths
/// as given and has no dropout (a choice: dropout needs a train/eval mode and a seeded mask).
/// Layers are named `conv{i}`, `hidden`, `out`.
#[derive(Debug, Clone)]
pub struct ConvNet {
    convs: Vec<candle_nn::Conv2d>,
    hidden: Linear,
    out: Linear,
}

impl ConvNet {
    /// Builds the layers under `vb` for images of `in_channels × height × width`; errors when
    /// a size is zero or the pools would shrink the image to nothing.
    pub fn new(
        vb: VarBuilder<'_>,
        in_channels: usize,
        (height, width): (usize, usize),
        channels: &[usize],
        hidden: usize,
        classes: usize,
    ) -> Result<Self> {
        let (mut h, mut w) = (height, width);
        if in_channels == 0
            || channels.is_empty()
            || channels.contains(&0)
            || hidden == 0
            || classes == 0
        {
            candle_core::bail!(
                "a ConvNet needs positive sizes, got {in_channels} input channels, widths {channels:?}, hidden {hidden}, {classes} classes"
            );
        }
        let cfg = candle_nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let mut convs = Vec::with_capacity(channels.len());
        let mut c_in = in_channels;
        for (i, &c) in channels.iter().enumerate() {
            convs.push(candle_nn::conv2d(
                c_in,
                c,
                3,
                cfg,
                vb.pp(format!("conv{i}")),
            )?);
            c_in = c;
            (h, w) = (h / 2, w / 2);
        }
        if h == 0 || w == 0 {
            candle_core::bail!(
                "{} pools shrink a {height} × {width} image to nothing",
                channels.len()
            );
        }
        Ok(Self {
            convs,
            hidden: linear(c_in * h * w, hidden, vb.pp("hidden"))?,
            out: linear(hidden, classes, vb.pp("out"))?,
        })
    }
}

impl Module for ConvNet {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut h = xs.clone();
        for c in &self.convs {
            h = c.forward(&h)?.relu()?.max_pool2d(2)?;
        }
        let h = self.hidden.forward(&h.flatten_from(1)?)?.relu()?;
        self.out.forward(&h)
    }
}

/// What a feed-forward block returns: its output, and optionally an auxiliary loss (e.g. a
/// mixture of experts' balancing loss, added to the training loss by the caller) and named
/// statistics (routing recall, multiply-adds, …).
#[derive(Debug, Clone)]
pub struct FfnOutput {
    /// `[batch, time, d_model]`.
    pub out: Tensor,
    /// A scalar loss to add to the training loss, if any.
    pub aux_loss: Option<Tensor>,
    /// Named statistics of this forward pass.
    pub stats: Vec<(String, f64)>,
}

impl FfnOutput {
    /// An output with no auxiliary loss and no statistics.
    pub fn plain(out: Tensor) -> Self {
        Self {
            out,
            aux_loss: None,
            stats: Vec::new(),
        }
    }
}

/// The contract of a transformer block's feed-forward layer: `[batch, time, d_model]` to the
/// same shape, with an auxiliary loss and statistics beside the output (the plug for
/// mixture-of-experts or constrained layers).
pub trait FfnLayer: Send + Sync {
    /// The forward pass.
    fn forward_aux(&self, xs: &Tensor) -> Result<FfnOutput>;
}

/// A boxed feed-forward layer.
pub type Ffn = Box<dyn FfnLayer>;

/// Builds layer `layer`'s FFN under `vb` for width `d_model` (the plug for MoE layers or
/// constrained linear layers).
pub type FfnBuilder<'a> = &'a dyn Fn(VarBuilder<'_>, usize, usize) -> Result<Ffn>;

/// The default FFN: `Linear(d, 4d) → GELU → Linear(4d, d)`, named `up` and `down`.
#[derive(Debug, Clone)]
pub struct DenseFfn {
    up: Linear,
    down: Linear,
    kernels: Kernels,
}

impl DenseFfn {
    /// Builds the layers under `vb` for width `d_model`, GELU from `kernels`.
    pub fn new(vb: VarBuilder<'_>, d_model: usize, kernels: Kernels) -> Result<Self> {
        Ok(Self {
            up: linear(d_model, 4 * d_model, vb.pp("up"))?,
            down: linear(4 * d_model, d_model, vb.pp("down"))?,
            kernels,
        })
    }
}

impl Module for DenseFfn {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let h = match self.up.bias() {
            Some(b) => kernels::bias_gelu(
                &affine_rows(xs, self.up.weight(), None, self.kernels)?,
                b,
                self.kernels,
            )?,
            None => kernels::gelu(&linear_rows(&self.up, xs, self.kernels)?, self.kernels)?,
        };
        linear_rows(&self.down, &h, self.kernels)
    }
}

impl FfnLayer for DenseFfn {
    fn forward_aux(&self, xs: &Tensor) -> Result<FfnOutput> {
        Ok(FfnOutput::plain(Module::forward(self, xs)?))
    }
}

/// Builds a [`DenseFfn`] with the fused GELU (the default [`FfnBuilder`]).
pub fn dense_ffn(vb: VarBuilder<'_>, d_model: usize, _layer: usize) -> Result<Ffn> {
    Ok(Box::new(DenseFfn::new(vb, d_model, Kernels::Fused)?))
}

/// Builds a [`DenseFfn`] from composite operations (twice differentiable; see
/// [`Kernels::Composite`]).
pub fn dense_ffn_composite(vb: VarBuilder<'_>, d_model: usize, _layer: usize) -> Result<Ffn> {
    Ok(Box::new(DenseFfn::new(vb, d_model, Kernels::Composite)?))
}

/// Shape of a [`TransformerLm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LmConfig {
    /// Vocabulary size (256 for bytes).
    pub vocab: usize,
    /// Longest context.
    pub context: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads (must divide `d_model`).
    pub heads: usize,
    /// Transformer blocks.
    pub layers: usize,
}

impl LmConfig {
    /// The quick-profile byte LM: width 64, 4 heads, 2 blocks, context 64.
    pub const BYTE_SMALL: LmConfig = LmConfig {
        vocab: 256,
        context: 64,
        d_model: 64,
        heads: 4,
        layers: 2,
    };
    /// The full-profile byte LM: width 128, 4 heads, 4 blocks, context 128.
    pub const BYTE_MEDIUM: LmConfig = LmConfig {
        vocab: 256,
        context: 128,
        d_model: 128,
        heads: 4,
        layers: 4,
    };

    /// Approximate training FLOPs per token (forward + backward ≈ 3 × forward):
    /// `6·P_linear + 6·layers·context·d_model` (the attention scores and mixing).
    pub fn train_flops_per_token(&self) -> f64 {
        let d = self.d_model as f64;
        let per_block = 4.0 * d * d + 8.0 * d * d; // q, k, v, o + FFN up/down
        let linear = self.layers as f64 * per_block + d * self.vocab as f64;
        6.0 * linear + 6.0 * self.layers as f64 * self.context as f64 * d
    }
}

/// Layer normalisation over the last dimension, `(x − mean) / √(var + ε) · γ + β`, by the
/// fused kernel [`kernels::layer_norm`] with a backward pass (candle-nn 0.11's `LayerNorm`
/// sends contiguous inputs to a fused kernel *without* one, so no gradient would reach
/// anything below it). Parameters are named `weight` (γ, init 1) and `bias` (β, init 0).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    kernels: Kernels,
}

impl LayerNorm {
    /// Builds the parameters under `vb`.
    pub fn new(size: usize, eps: f64, vb: VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?,
            eps,
            kernels: Kernels::Fused,
        })
    }

    /// The same layer computed by `kernels`.
    pub fn with_kernels(mut self, kernels: Kernels) -> Self {
        self.kernels = kernels;
        self
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        kernels::layer_norm(x, &self.weight, &self.bias, self.eps, self.kernels)
    }
}

fn layer_norm(size: usize, eps: f64, vb: VarBuilder<'_>, kernels: Kernels) -> Result<LayerNorm> {
    Ok(LayerNorm::new(size, eps, vb)?.with_kernels(kernels))
}

struct Block {
    ln1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln2: LayerNorm,
    ffn: Ffn,
    heads: usize,
    kernels: Kernels,
}

impl Block {
    fn forward(&self, x: &Tensor) -> Result<(Tensor, FfnOutput)> {
        let h = self.ln1.forward(x)?;
        // One GEMM for q, k and v: the three weights side by side (their gradients come back
        // through the concatenation, so the parameters keep their names).
        let w = Tensor::cat(&[self.q.weight(), self.k.weight(), self.v.weight()], 0)?;
        let bias = match (self.q.bias(), self.k.bias(), self.v.bias()) {
            (Some(q), Some(k), Some(v)) => Some(Tensor::cat(&[q, k, v], 0)?),
            _ => candle_core::bail!("the attention projections need biases"),
        };
        let qkv = affine_rows(&h, &w, bias.as_ref(), self.kernels)?;
        let y = kernels::causal_attention(&qkv, self.heads, self.kernels)?;
        let x = (x + linear_rows(&self.o, &y, self.kernels)?)?;
        let h = self.ln2.forward(&x)?;
        let f = self.ffn.forward_aux(&h)?;
        Ok(((x + &f.out)?, f))
    }
}

/// What [`TransformerLm::forward_aux`] returns.
#[derive(Debug, Clone)]
pub struct LmOutput {
    /// `[batch, time, vocab]`.
    pub logits: Tensor,
    /// The sum of the blocks' auxiliary losses, if any block has one.
    pub aux_loss: Option<Tensor>,
    /// Every block's statistics, named `blocks.{i}.{name}`.
    pub stats: Vec<(String, f64)>,
}

/// A byte-level causal transformer LM (pre-norm GPT blocks, learned positions). Parameter
/// names: `tok`, `pos`, `blocks.{i}.{ln1,q,k,v,o,ln2,ffn.*}`, `ln_f`, `head`.
pub struct TransformerLm {
    cfg: LmConfig,
    tok: Embedding,
    pos: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    head: Linear,
    kernels: Kernels,
}

impl std::fmt::Debug for TransformerLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformerLm")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl TransformerLm {
    /// Builds the model under `vb`, each block's FFN from `ffn` ([`dense_ffn`] by default), with
    /// the fused kernels.
    pub fn new(vb: VarBuilder<'_>, cfg: LmConfig, ffn: FfnBuilder<'_>) -> Result<Self> {
        Self::with_kernels(vb, cfg, ffn, Kernels::Fused)
    }

    /// [`Self::new`] with layer norm and attention computed by `kernels` (the FFN is the
    /// builder's: [`dense_ffn_composite`] for a model that is twice differentiable).
    pub fn with_kernels(
        vb: VarBuilder<'_>,
        cfg: LmConfig,
        ffn: FfnBuilder<'_>,
        kernels: Kernels,
    ) -> Result<Self> {
        if cfg.heads == 0
            || !cfg.d_model.is_multiple_of(cfg.heads)
            || cfg.context == 0
            || cfg.vocab == 0
        {
            candle_core::bail!(
                "invalid LM config {cfg:?}: heads must divide d_model, sizes positive"
            );
        }
        let d = cfg.d_model;
        let blocks = (0..cfg.layers)
            .map(|i| {
                let b = vb.pp(format!("blocks.{i}"));
                Ok(Block {
                    ln1: layer_norm(d, 1e-5, b.pp("ln1"), kernels)?,
                    q: linear(d, d, b.pp("q"))?,
                    k: linear(d, d, b.pp("k"))?,
                    v: linear(d, d, b.pp("v"))?,
                    o: linear(d, d, b.pp("o"))?,
                    ln2: layer_norm(d, 1e-5, b.pp("ln2"), kernels)?,
                    ffn: ffn(b.pp("ffn"), d, i)?,
                    heads: cfg.heads,
                    kernels,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            cfg,
            tok: embedding(cfg.vocab, d, vb.pp("tok"))?,
            pos: embedding(cfg.context, d, vb.pp("pos"))?,
            blocks,
            ln_f: layer_norm(d, 1e-5, vb.pp("ln_f"), kernels)?,
            head: linear(d, cfg.vocab, vb.pp("head"))?,
            kernels,
        })
    }

    /// The configuration.
    pub fn config(&self) -> LmConfig {
        self.cfg
    }

    /// Logits `[batch, time, vocab]` for token ids `[batch, time]` (`time ≤ context`).
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.forward_aux(ids)?.logits)
    }

    /// Logits with the FFN layers' auxiliary losses (summed) and statistics.
    pub fn forward_aux(&self, ids: &Tensor) -> Result<LmOutput> {
        let (_, t) = ids.dims2()?;
        if t > self.cfg.context {
            candle_core::bail!(
                "sequence of {t} tokens exceeds the context {}",
                self.cfg.context
            );
        }
        let dev = ids.device();
        let positions = Tensor::arange(0u32, t as u32, dev)?;
        let (b, _) = ids.dims2()?;
        let d = self.cfg.d_model;
        // Positions added as one bias over the flattened [time·d] rows of each sequence.
        let mut x = kernels::add_bias(
            &self.tok.forward(ids)?.reshape((b, t * d))?,
            &self.pos.forward(&positions)?.reshape(t * d)?,
            self.kernels,
        )?
        .reshape((b, t, d))?;
        let (mut aux_loss, mut stats): (Option<Tensor>, Vec<(String, f64)>) = (None, Vec::new());
        for (i, b) in self.blocks.iter().enumerate() {
            let (next, f) = b.forward(&x)?;
            x = next;
            if let Some(a) = f.aux_loss {
                aux_loss = Some(match aux_loss {
                    Some(s) => (s + a)?,
                    None => a,
                });
            }
            stats.extend(
                f.stats
                    .into_iter()
                    .map(|(k, v)| (format!("blocks.{i}.{k}"), v)),
            );
        }
        Ok(LmOutput {
            logits: linear_rows(&self.head, &self.ln_f.forward(&x)?, self.kernels)?,
            aux_loss,
            stats,
        })
    }
}

/// Per-sequence mean next-token cross-entropy (nats) of LM logits `[batch, time, vocab]`
/// against targets `[batch, time]`: one value per row, for paired comparisons by window.
pub fn lm_cross_entropy_per_row(logits: &Tensor, targets: &Tensor) -> Result<Vec<f64>> {
    let logp = candle_nn::ops::log_softmax(&logits.to_dtype(DType::F64)?, candle_core::D::Minus1)?;
    let picked = logp.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)?;
    (picked.mean(1)? * -1.0)?.to_vec1::<f64>()
}

impl TransformerLm {
    /// Continues `prompt` by `n` bytes sampled from the model at `temperature` (0 takes the most
    /// likely byte), with randomness from `rng`; the context is the last `context` bytes. The
    /// LM must have a byte vocabulary (256).
    pub fn sample_bytes(
        &self,
        prompt: &[u8],
        n: usize,
        temperature: f64,
        rng: &mut core_linalg::Rng,
        device: &Device,
    ) -> Result<Vec<u8>> {
        if self.cfg.vocab != 256 {
            candle_core::bail!(
                "sampling bytes needs a vocabulary of 256, not {}",
                self.cfg.vocab
            );
        }
        if prompt.is_empty() {
            candle_core::bail!("sampling needs a non-empty prompt");
        }
        if !(temperature >= 0.0 && temperature.is_finite()) {
            candle_core::bail!("temperature must be finite and ≥ 0, not {temperature}");
        }
        let mut text = prompt.to_vec();
        for _ in 0..n {
            let start = text.len().saturating_sub(self.cfg.context);
            let ids: Vec<u32> = text[start..].iter().map(|&b| u32::from(b)).collect();
            let len = ids.len();
            let logits = self.forward(&Tensor::from_vec(ids, (1, len), device)?)?;
            let last: Vec<f64> = logits
                .get(0)?
                .get(len - 1)?
                .to_dtype(DType::F64)?
                .to_vec1()?;
            let next = if temperature == 0.0 {
                last.iter()
                    .enumerate()
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                    )
                    .0
            } else {
                let scaled: Vec<f64> = last.iter().map(|v| v / temperature).collect();
                core_linalg::sample_index(&core_linalg::softmax(&scaled), rng)
            };
            text.push(next as u8);
        }
        Ok(text.split_off(prompt.len()))
    }
}

/// Mean next-token cross-entropy (nats) of LM logits `[batch, time, vocab]` against targets
/// `[batch, time]` — a [`LossFn`](crate::train::LossFn) for [`TransformerLm`], by the fused
/// kernel [`kernels::cross_entropy`].
pub fn lm_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    lm_cross_entropy_with(logits, targets, Kernels::Fused)
}

/// [`lm_cross_entropy`] computed by `kernels`.
pub fn lm_cross_entropy_with(
    logits: &Tensor,
    targets: &Tensor,
    kernels: Kernels,
) -> Result<Tensor> {
    let (b, t, v) = logits.dims3()?;
    kernels::cross_entropy(
        &logits.reshape((b * t, v))?,
        &targets.reshape(b * t)?,
        kernels,
    )
}

/// `[t, t]` additive mask: 0 on and below the diagonal, −∞ above.
pub fn causal_mask(t: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let m: Vec<f32> = (0..t * t)
        .map(|k| {
            if k % t > k / t {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_vec(m, (t, t), device)?.to_dtype(dtype)
}

/// The rank-2 weight matrices of a model's linear layers, by name (`….weight`, embeddings
/// excluded), sorted: the handle for methods that constrain or adapt linear layers.
pub fn linear_weights(varmap: &VarMap) -> Vec<(String, candle_core::Var)> {
    let data = varmap.data().lock().map(|d| d.clone()).unwrap_or_default();
    let mut out: Vec<(String, candle_core::Var)> = data
        .into_iter()
        .filter(|(name, v)| {
            name.ends_with(".weight")
                && v.rank() == 2
                && !name.starts_with("tok.")
                && !name.starts_with("pos.")
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Re-initialises every variable of `varmap` from `seed` (candle's CPU initialisers draw from
/// an unseeded thread RNG, so this is what makes training reproducible). Variables are visited
/// in name order, each with its own ChaCha stream; by name and shape:
/// - rank-2 `tok.*` / `pos.*` (embeddings): `N(0, 1)`, PyTorch's and candle's default (at
///   `N(0, 0.02²)` beside `U(±1/√in)` linear layers the token signal drowns in the residual
///   stream and a byte LM barely gets past unigram statistics);
/// - other rank-2 and higher `*.weight` (linear layers `[out, in]`, convolutions
///   `[out, in, kh, kw]`): `U(±1/√fan-in)` with fan-in the product of all but the first
///   dimension, PyTorch's default bound;
/// - rank-1 `*.weight` (layer-norm gains): 1; every `*.bias`: 0;
/// - anything else: `N(0, 0.02²)`.
pub fn init_seeded(varmap: &VarMap, seed: u64) -> Result<()> {
    let mut named: Vec<(String, candle_core::Var)> = varmap
        .data()
        .lock()
        .map(|d| d.clone().into_iter().collect())
        .unwrap_or_default();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, (name, var)) in named.iter().enumerate() {
        let mut rng = core_linalg::stream_rng(seed, k as u64);
        let n = var.elem_count();
        let dims = var.dims().to_vec();
        let normal = |rng: &mut core_linalg::Rng| {
            core_linalg::standard_normal_vector(rng, n)
                .iter()
                .map(|z| 0.02 * z)
                .collect::<Vec<f64>>()
        };
        let vals: Vec<f64> = if name.ends_with(".bias") {
            vec![0.0; n]
        } else if dims.len() == 1 && name.ends_with(".weight") {
            vec![1.0; n]
        } else if dims.len() == 2 && (name.starts_with("tok.") || name.starts_with("pos.")) {
            core_linalg::standard_normal_vector(&mut rng, n)
                .iter()
                .copied()
                .collect()
        } else if dims.len() >= 2 && name.ends_with(".weight") {
            // Linear `[out, in]` and convolution `[out, in, kh, kw]` weights: uniform within
            // ±1/√fan-in (PyTorch's default bound).
            let fan_in: usize = dims[1..].iter().product();
            let bound = 1.0 / (fan_in as f64).sqrt();
            (0..n)
                .map(|_| bound * (2.0 * rand::RngExt::random::<f64>(&mut rng) - 1.0))
                .collect()
        } else {
            normal(&mut rng)
        };
        var.set(&Tensor::from_vec(vals, dims, var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convnet_shapes_naming_init_and_errors() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let m = ConvNet::new(vb, 1, (28, 28), &[4, 8, 16], 32, 10).unwrap();
        init_seeded(&vm, 3).unwrap();
        let x = Tensor::ones((2, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(m.forward(&x).unwrap().dims(), &[2, 10]);
        let mut names: Vec<String> = vm.data().lock().unwrap().keys().cloned().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "conv0.bias",
                "conv0.weight",
                "conv1.bias",
                "conv1.weight",
                "conv2.bias",
                "conv2.weight",
                "hidden.bias",
                "hidden.weight",
                "out.bias",
                "out.weight"
            ]
        );
        // Convolution weights: uniform within ±1/√(in · 3 · 3), not the 0.02 normal.
        let w: Vec<f32> = vm.data().lock().unwrap()["conv1.weight"]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let bound = 1.0 / (4.0f32 * 9.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound));
        assert!(w.iter().any(|v| v.abs() > 0.5 * bound));
        let vb = || VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        assert!(ConvNet::new(vb(), 1, (4, 4), &[2, 2, 2], 8, 10).is_err());
        assert!(ConvNet::new(vb(), 0, (28, 28), &[2], 8, 10).is_err());
        assert!(ConvNet::new(vb(), 1, (28, 28), &[], 8, 10).is_err());
    }

    #[test]
    fn mlp_shapes_and_naming() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let m = Mlp::new(vb, &[64, 32, 10], Activation::Relu).unwrap();
        let x = Tensor::zeros((5, 64), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(m.forward(&x).unwrap().dims(), &[5, 10]);
        let names: Vec<String> = linear_weights(&vm).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["layer0.weight", "layer1.weight"]);
        assert!(Mlp::new(
            VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
            &[3],
            Activation::Relu
        )
        .is_err());
    }

    #[test]
    fn lm_is_causal_and_names_its_linear_layers() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let cfg = LmConfig {
            vocab: 256,
            context: 8,
            d_model: 16,
            heads: 2,
            layers: 2,
        };
        let lm = TransformerLm::new(vb, cfg, &dense_ffn).unwrap();
        let a = Tensor::new(&[[1u32, 2, 3, 4, 5, 6]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[[1u32, 2, 3, 9, 9, 9]], &Device::Cpu).unwrap();
        let (la, lb) = (lm.forward(&a).unwrap(), lm.forward(&b).unwrap());
        let max_gap = |from: usize| -> f32 {
            let d = (la.narrow(1, from, 3).unwrap() - lb.narrow(1, from, 3).unwrap()).unwrap();
            d.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(la.dims(), &[1, 6, 256]);
        // The first 3 positions cannot see the changed tokens.
        let diff = max_gap(0);
        assert_eq!(diff, 0.0);
        let later = max_gap(3);
        assert!(later > 0.0);
        let names: Vec<String> = linear_weights(&vm).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"blocks.0.q.weight".to_string()));
        assert!(names.contains(&"blocks.1.ffn.up.weight".to_string()));
        assert!(names.contains(&"head.weight".to_string()));
        assert!(!names.iter().any(|n| n.starts_with("tok")));
        // Every parameter receives a non-zero gradient (fused candle ops without a backward
        // pass would silently cut the graph).
        let loss = candle_nn::loss::cross_entropy(
            &la.squeeze(0).unwrap(),
            &Tensor::new(&[2u32, 3, 4, 5, 6, 7], &Device::Cpu).unwrap(),
        )
        .unwrap();
        let grads = loss.backward().unwrap();
        for (name, var) in vm.data().lock().unwrap().iter() {
            let g = grads
                .get(var)
                .unwrap_or_else(|| panic!("no gradient reaches {name}"));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0, "zero gradient for {name}");
        }
        let too_long = Tensor::zeros((1, 9), DType::U32, &Device::Cpu).unwrap();
        assert!(lm.forward(&too_long).is_err());
    }
}
#[cfg(test)]
mod attention_learns {
    use super::*;
    use crate::train::{train, TrainConfig};

    /// End-to-end check that gradients flow through attention: copy the previous token.
    #[test]
    fn learns_to_copy_the_previous_token() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let cfg = LmConfig {
            vocab: 16,
            context: 16,
            d_model: 32,
            heads: 2,
            layers: 1,
        };
        let lm = TransformerLm::new(
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
            cfg,
            &dense_ffn,
        )
        .unwrap();
        init_seeded(&vm, 1).unwrap();
        let mut rng = core_linalg::seeded_rng(3);
        let tc = TrainConfig {
            steps: 250,
            lr: 1e-2,
            ..Default::default()
        };
        let h = train(
            &vm,
            &tc,
            &lm_cross_entropy,
            |_| {
                let x: Vec<u32> = (0..32 * 16)
                    .map(|_| rand::RngExt::random_range(&mut rng, 0..16u32))
                    .collect();
                let y: Vec<u32> = (0..32 * 16)
                    .map(|k| if k % 16 == 0 { 0 } else { x[k - 1] })
                    .collect();
                let xt = Tensor::from_vec(x, (32, 16), &dev)?;
                Ok((lm.forward(&xt)?, Tensor::from_vec(y, (32, 16), &dev)?))
            },
            |_| Ok(0.0),
            None,
        )
        .unwrap();
        // Chance level is ln 16 ≈ 2.77; a bigram model cannot beat it on random tokens, only
        // attention to the previous position can.
        let end = *h.train_loss.last().unwrap();
        assert!(end < 0.05, "loss {} → {end}", h.train_loss[0]);
    }
}
