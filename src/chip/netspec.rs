//! The network a user writes: a comma-separated list of layer tokens, checked against the
//! input's image shape into a [`Network`] (the geometry the chip is built from).
//!
//! Syntax (`--arch`), in order from the input:
//! - `convC kK [pP] [sS]`, written together, e.g. `conv32k3p1s1`: a convolution with C output
//!   channels, a K×K kernel, zero padding P (default 0) and stride S (default 1);
//! - `maxpoolS` or `avgpoolS` (`poolS` is `maxpoolS`): non-overlapping S×S pooling of the
//!   previous conv layer's activations, in the digital periphery; it must divide the map;
//! - `fcN`: a dense layer of N units; a conv map before it is flattened.
//!
//! The last token is the output layer, `fcN` with N = the number of classes. `--hidden
//! 1000,1000` is the all-dense spec `fc1000,fc1000,fcCLASSES` ([`NetSpec::dense`]).
//!
//! The one rule: every error names the token it is about, the value and what is allowed.

use super::conv::{ConvGeom, LayerGeom, Layout, Network, Pool, PoolKind};
use std::fmt;
use std::str::FromStr;

/// One token of a [`NetSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerToken {
    /// A convolution.
    Conv {
        /// Output channels.
        out: usize,
        /// Kernel size (square).
        k: usize,
        /// Zero padding on every side.
        pad: usize,
        /// Stride.
        stride: usize,
    },
    /// Pooling of the previous conv layer's activations.
    Pool(Pool),
    /// A dense layer.
    Fc {
        /// Units.
        out: usize,
    },
}

impl fmt::Display for LayerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayerToken::Conv {
                out,
                k,
                pad,
                stride,
            } => write!(f, "conv{out}k{k}p{pad}s{stride}"),
            LayerToken::Pool(Pool { kind, size }) => match kind {
                PoolKind::Max => write!(f, "maxpool{size}"),
                PoolKind::Avg => write!(f, "avgpool{size}"),
            },
            LayerToken::Fc { out } => write!(f, "fc{out}"),
        }
    }
}

/// A network spec as written (`conv32k3p1,pool2,fc10`); [`NetSpec::resolve`] checks it against
/// an input shape. `Display` writes the canonical form, which parses back to the same spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetSpec {
    /// The tokens, input side first.
    pub tokens: Vec<LayerToken>,
}

/// A spec that cannot be parsed or does not fit its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetSpecError {
    /// A token that is not one of the forms.
    #[error("--arch: token `{token}` (#{index}): {why}; allowed tokens: convCkK[pP][sS] (e.g. conv32k3p1s1), maxpoolS / avgpoolS / poolS, fcN")]
    Syntax {
        /// The token as written.
        token: String,
        /// Its position, from 1.
        index: usize,
        /// What is wrong with it.
        why: String,
    },
    /// A token that parses but does not fit the shape it receives.
    #[error("--arch: token `{token}` (#{index}): {why}")]
    Shape {
        /// The token as written (canonical form).
        token: String,
        /// Its position, from 1.
        index: usize,
        /// What does not fit.
        why: String,
    },
    /// An empty spec.
    #[error("--arch is empty: give at least the output layer, e.g. fc10")]
    Empty,
}

/// Splits `conv32k3p1` into ("conv", 32), ("k", 3), ("p", 1): letters then digits, repeated.
fn fields(s: &str) -> Result<Vec<(String, usize)>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let letters: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        rest = &rest[letters.len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        rest = &rest[digits.len()..];
        if letters.is_empty() {
            return Err(format!(
                "unexpected character `{}`",
                rest.chars().next().unwrap_or(' ')
            ));
        }
        if digits.is_empty() {
            return Err(format!("`{letters}` needs a number after it"));
        }
        let v = digits
            .parse::<usize>()
            .map_err(|_| format!("`{digits}` is too large"))?;
        out.push((letters.to_ascii_lowercase(), v));
    }
    Ok(out)
}

fn parse_token(s: &str) -> Result<LayerToken, String> {
    let f = fields(s)?;
    let (head, v) = f.first().cloned().ok_or("empty token")?;
    let positive = |what: &str, v: usize| {
        if v == 0 {
            Err(format!("{what} must be ≥ 1, got 0"))
        } else {
            Ok(v)
        }
    };
    match head.as_str() {
        "fc" | "pool" | "maxpool" | "avgpool" if f.len() > 1 => {
            Err(format!("`{head}` takes one number, e.g. {head}2"))
        }
        "fc" => Ok(LayerToken::Fc {
            out: positive("units", v)?,
        }),
        "pool" | "maxpool" | "avgpool" => Ok(LayerToken::Pool(Pool {
            kind: if head == "avgpool" {
                PoolKind::Avg
            } else {
                PoolKind::Max
            },
            size: positive("pool size", v)?,
        })),
        "conv" => {
            let out = positive("channels", v)?;
            let (mut k, mut pad, mut stride) = (None, 0, 1);
            for (name, v) in &f[1..] {
                match name.as_str() {
                    "k" if k.is_none() => k = Some(positive("kernel size", *v)?),
                    "p" => pad = *v,
                    "s" => stride = positive("stride", *v)?,
                    other => {
                        return Err(format!(
                            "unknown or repeated field `{other}` (conv takes k, p, s)"
                        ))
                    }
                }
            }
            let k = k.ok_or("conv needs a kernel size, e.g. conv32k3")?;
            Ok(LayerToken::Conv {
                out,
                k,
                pad,
                stride,
            })
        }
        other => Err(format!("unknown layer kind `{other}`")),
    }
}

impl FromStr for NetSpec {
    type Err = NetSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(NetSpecError::Empty);
        }
        let tokens = s
            .split(',')
            .enumerate()
            .map(|(i, t)| {
                parse_token(t.trim()).map_err(|why| NetSpecError::Syntax {
                    token: t.trim().to_string(),
                    index: i + 1,
                    why,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(NetSpec { tokens })
    }
}

impl fmt::Display for NetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.tokens.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl NetSpec {
    /// The all-dense spec of `--hidden`: `fcH1,…,fcHn,fcCLASSES`.
    pub fn dense(hidden: &[usize], classes: usize) -> NetSpec {
        NetSpec {
            tokens: hidden
                .iter()
                .chain(std::iter::once(&classes))
                .map(|&out| LayerToken::Fc { out })
                .collect(),
        }
    }

    /// Whether any token is a convolution.
    pub fn has_conv(&self) -> bool {
        self.tokens
            .iter()
            .any(|t| matches!(t, LayerToken::Conv { .. }))
    }

    /// Checks the spec against an input of shape `(channels, height, width)` (the dataset's
    /// `image_shape`, stored channel-major) and `classes` outputs, and lays out the geometry.
    pub fn resolve(
        &self,
        input: (usize, usize, usize),
        classes: usize,
    ) -> Result<Network, NetSpecError> {
        if self.tokens.is_empty() {
            return Err(NetSpecError::Empty);
        }
        let shape_err = |i: usize, why: String| NetSpecError::Shape {
            token: self.tokens[i].to_string(),
            index: i + 1,
            why,
        };
        // The current map: (channels, height, width, layout), or a flat vector (c = features).
        let (mut c, mut h, mut w) = input;
        let mut layout = Layout::Chw;
        let mut layers: Vec<LayerGeom> = Vec::new();
        for (i, t) in self.tokens.iter().enumerate() {
            match *t {
                LayerToken::Conv {
                    out,
                    k,
                    pad,
                    stride,
                } => {
                    if matches!(layers.last(), Some(LayerGeom::Dense { .. })) {
                        return Err(shape_err(
                            i,
                            "a conv layer cannot follow a dense (fc) layer: the map was flattened"
                                .into(),
                        ));
                    }
                    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
                    if k > hp || k > wp {
                        return Err(shape_err(
                            i,
                            format!("kernel {k}×{k} is larger than its padded input {hp}×{wp} ({c}×{h}×{w}, padding {pad})"),
                        ));
                    }
                    if pad >= k {
                        return Err(shape_err(i, format!("padding {pad} must be smaller than the kernel size {k} (a wider border only adds all-zero patches)")));
                    }
                    let (oh, ow) = ((hp - k) / stride + 1, (wp - k) / stride + 1);
                    layers.push(LayerGeom::Conv(ConvGeom {
                        in_ch: c,
                        in_h: h,
                        in_w: w,
                        layout,
                        out_ch: out,
                        k,
                        pad,
                        stride,
                        out_h: oh,
                        out_w: ow,
                        pool: None,
                    }));
                    (c, h, w, layout) = (out, oh, ow, Layout::Hwc);
                }
                LayerToken::Pool(p) => {
                    let Some(LayerGeom::Conv(g)) = layers.last_mut() else {
                        return Err(shape_err(
                            i,
                            "pooling must directly follow a conv layer".into(),
                        ));
                    };
                    if g.pool.is_some() {
                        return Err(shape_err(
                            i,
                            "the conv layer before it is already pooled: one pool per conv layer"
                                .into(),
                        ));
                    }
                    if p.size > h || p.size > w || h % p.size != 0 || w % p.size != 0 {
                        return Err(shape_err(
                            i,
                            format!("pool size {} does not divide the {h}×{w} map of the conv layer before it", p.size),
                        ));
                    }
                    g.pool = Some(p);
                    (h, w) = (h / p.size, w / p.size);
                }
                LayerToken::Fc { out } => {
                    layers.push(LayerGeom::Dense {
                        inputs: c * h * w,
                        outputs: out,
                    });
                    (c, h, w) = (out, 1, 1);
                }
            }
        }
        let last = self.tokens.len() - 1;
        match self.tokens[last] {
            LayerToken::Fc { out } if out == classes => {}
            LayerToken::Fc { out } => {
                return Err(shape_err(
                    last,
                    format!("the output layer has {out} units, the dataset has {classes} classes"),
                ))
            }
            _ => {
                return Err(shape_err(
                    last,
                    format!("the last token must be the output layer, fc{classes}"),
                ))
            }
        }
        Ok(Network::new(input, layers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_round_trips() {
        let s: NetSpec = "conv32k3p1,pool2,conv64K3P1S2,avgpool2,fc100,fc10"
            .parse()
            .unwrap();
        assert_eq!(
            s.to_string(),
            "conv32k3p1s1,maxpool2,conv64k3p1s2,avgpool2,fc100,fc10"
        );
        assert_eq!(s.to_string().parse::<NetSpec>().unwrap(), s);
    }

    #[test]
    fn geometry_follows_the_formula() {
        let net = "conv8k3p1s2,pool2,fc10"
            .parse::<NetSpec>()
            .unwrap()
            .resolve((3, 16, 16), 10)
            .unwrap();
        // (16 + 2 − 3)/2 + 1 = 8 per side; pooled to 4×4.
        assert_eq!(net.sizes(), vec![3 * 256, 8 * 64, 10]);
        assert_eq!(net.layer(0).weight_shape(), (8, 27));
        assert_eq!(net.layer(1).weight_shape(), (10, 8 * 16));
    }
}
