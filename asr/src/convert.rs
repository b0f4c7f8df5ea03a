//! CTranslate2 Whisper model (`model.bin`, `vocabulary.txt`) -> ggml file for whisper.cpp.
//!
//! No ggml Whisper weights are reachable, only CT2 ones (DESIGN.md §6), so the project
//! converts them itself. The output follows the layout whisper.cpp's loader reads:
//! magic, 11 i32 hyper-parameters, the 80-bin mel filterbank, the byte-level vocabulary
//! (ordinary tokens only; whisper.cpp adds the special ones from `n_vocab`), then each
//! tensor as `n_dims, name_len, ftype, dims (innermost first), name, data`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why a conversion failed. Every variant names the file or tensor at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("cannot read {path}: {source} (fetch the models with `make models`)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a CTranslate2 Whisper model: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: missing tensor `{name}`")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` has shape {shape:?} / dtype {dtype}, expected {expected}")]
    BadTensor {
        path: PathBuf,
        name: String,
        shape: Vec<usize>,
        dtype: u8,
        expected: String,
    },
    #[error("{path}: vocabulary token {index} {token:?} is not GPT-2 byte-level text")]
    Vocabulary {
        path: PathBuf,
        index: usize,
        token: String,
    },
}

/// What was written, for the CLI's summary line.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertSummary {
    pub n_vocab: usize,
    pub n_state: usize,
    pub n_audio_layer: usize,
    pub n_text_layer: usize,
    pub tensors: usize,
    pub bytes: u64,
}

const CT2_F32: u8 = 0;
const CT2_I16: u8 = 2;
const CT2_I32: u8 = 3;
const CT2_F16: u8 = 4;

/// One CT2 variable: shape and raw little-endian bytes.
struct Ct2Var<'a> {
    shape: Vec<usize>,
    dtype: u8,
    data: &'a [u8],
}

struct Ct2Model<'a> {
    path: PathBuf,
    vars: HashMap<String, Ct2Var<'a>>,
}

/// A bounds-checked little-endian reader over the model bytes: bad files give errors, not panics.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ConvertError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(ConvertError::Format {
                path: self.path.to_path_buf(),
                reason: format!("truncated at byte {}", self.pos),
            }),
        }
    }
    fn u8(&mut self) -> Result<u8, ConvertError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ConvertError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, ConvertError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn name(&mut self) -> Result<String, ConvertError> {
        let len = self.u16()? as usize;
        let raw = self.take(len)?;
        // Stored with a trailing NUL.
        let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(raw.to_vec()).map_err(|_| ConvertError::Format {
            path: self.path.to_path_buf(),
            reason: "variable name is not UTF-8".into(),
        })
    }
}

fn dtype_size(dtype: u8) -> Option<usize> {
    match dtype {
        0 | 3 => Some(4),
        1 => Some(1),
        2 | 4 | 5 => Some(2),
        _ => None,
    }
}

fn parse_ct2<'a>(path: &'a Path, bytes: &'a [u8]) -> Result<Ct2Model<'a>, ConvertError> {
    let mut c = Cursor {
        bytes,
        pos: 0,
        path,
    };
    let fmt_err = |reason: String| ConvertError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let version = c.u32()?;
    if !(5..=6).contains(&version) {
        return Err(fmt_err(format!(
            "model.bin version {version} (expected 5 or 6)"
        )));
    }
    let spec = c.name()?;
    if spec != "WhisperSpec" {
        return Err(fmt_err(format!("spec `{spec}` (expected WhisperSpec)")));
    }
    let _revision = c.u32()?;
    let count = c.u32()? as usize;
    let mut vars = HashMap::with_capacity(count);
    for _ in 0..count {
        let name = c.name()?;
        let rank = c.u8()? as usize;
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(c.u32()? as usize);
        }
        let dtype = c.u8()?;
        let nbytes = c.u32()? as usize;
        let data = c.take(nbytes)?;
        let elems: usize = shape.iter().product();
        match dtype_size(dtype) {
            Some(sz) if sz.checked_mul(elems) == Some(nbytes) => {}
            _ => {
                return Err(fmt_err(format!(
                    "variable `{name}`: {nbytes} bytes do not match shape {shape:?} dtype {dtype}"
                )));
            }
        }
        vars.insert(name, Ct2Var { shape, dtype, data });
    }
    // Aliases (e.g. the tied output projection) are not needed: whisper.cpp ties them itself.
    Ok(Ct2Model {
        path: path.to_path_buf(),
        vars,
    })
}

impl<'a> Ct2Model<'a> {
    fn get(&self, name: &str) -> Result<&Ct2Var<'a>, ConvertError> {
        self.vars
            .get(name)
            .ok_or_else(|| ConvertError::MissingTensor {
                path: self.path.clone(),
                name: name.into(),
            })
    }

    fn scalar_int(&self, name: &str) -> Result<usize, ConvertError> {
        let v = self.get(name)?;
        let value = match (v.dtype, v.data.len()) {
            (CT2_I16, 2) => i16::from_le_bytes([v.data[0], v.data[1]]) as i64,
            (CT2_I32, 4) => i32::from_le_bytes([v.data[0], v.data[1], v.data[2], v.data[3]]) as i64,
            _ => -1,
        };
        usize::try_from(value)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| self.bad(name, v, "a positive integer scalar"))
    }

    fn bad(&self, name: &str, v: &Ct2Var, expected: &str) -> ConvertError {
        ConvertError::BadTensor {
            path: self.path.clone(),
            name: name.into(),
            shape: v.shape.clone(),
            dtype: v.dtype,
            expected: expected.into(),
        }
    }

    /// A float tensor with the given shape, as f32 values.
    fn floats(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ConvertError> {
        let v = self.get(name)?;
        if v.shape != shape {
            return Err(self.bad(name, v, &format!("shape {shape:?}")));
        }
        match v.dtype {
            CT2_F16 => Ok(v
                .data
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect()),
            CT2_F32 => Ok(v
                .data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()),
            _ => Err(self.bad(name, v, "f16 or f32")),
        }
    }

    fn count_layers(&self, prefix: &str) -> usize {
        // `encoder/layer_norm` also starts with `encoder/layer_`: count by the numbered form only.
        (0..)
            .take_while(|i| {
                let p = format!("{prefix}/layer_{i}/");
                self.vars.keys().any(|k| k.starts_with(&p))
            })
            .count()
    }
}

/// IEEE half -> single, exact (no crate needed for one function).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal half: normalise into a single-precision normal.
            let shift = m.leading_zeros() - 21; // bits to move the leading 1 to bit 10
            let m = (m << shift) & 0x3ff;
            let e = 127 - 15 + 1 - shift;
            sign | (e << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Single -> half, round to nearest even (used for values we computed, i.e. none of
/// the weights: those are copied bit for bit).
#[cfg(test)]
fn f32_to_f16(f: f32) -> u16 {
    let x = f.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let mant = x & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mant | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        let round = rem > mid || (rem == mid && (half & 1) == 1);
        return sign | (half as u16 + round as u16);
    }
    let half = ((e as u32) << 10) | (mant >> 13);
    let rem = mant & 0x1fff;
    let round = rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1);
    sign | (half + round as u32) as u16
}

/// librosa.filters.mel(sr=16000, n_fft=400, n_mels) with the Slaney mel scale and
/// Slaney area normalisation: the filterbank Whisper was trained with.
pub fn mel_filters(n_mels: usize, n_fft: usize, sample_rate: f64) -> Vec<f32> {
    fn hz_to_mel(f: f64) -> f64 {
        let f_sp = 200.0 / 3.0;
        let min_log_hz = 1000.0;
        let min_log_mel = min_log_hz / f_sp;
        let logstep = (6.4f64).ln() / 27.0;
        if f >= min_log_hz {
            min_log_mel + (f / min_log_hz).ln() / logstep
        } else {
            f / f_sp
        }
    }
    fn mel_to_hz(m: f64) -> f64 {
        let f_sp = 200.0 / 3.0;
        let min_log_hz = 1000.0;
        let min_log_mel = min_log_hz / f_sp;
        let logstep = (6.4f64).ln() / 27.0;
        if m >= min_log_mel {
            min_log_hz * (logstep * (m - min_log_mel)).exp()
        } else {
            f_sp * m
        }
    }
    let n_bins = n_fft / 2 + 1;
    let fmax = sample_rate / 2.0;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|i| fmax * i as f64 / (n_bins - 1) as f64)
        .collect();
    let (mel_lo, mel_hi) = (hz_to_mel(0.0), hz_to_mel(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(mel_lo + (mel_hi - mel_lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let (f0, f1, f2) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (f2 - f0);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - f0) / (f1 - f0);
            let upper = (f2 - f) / (f2 - f1);
            out[m * n_bins + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    out
}

/// GPT-2's reversible byte <-> printable-unicode table, inverted (char -> byte).
fn byte_decoder() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    printable
        .iter()
        .zip(&chars)
        .filter_map(|(&b, &c)| Some((char::from_u32(c)?, b as u8)))
        .collect()
}

/// The ordinary tokens (those before `<|endoftext|>`) as raw bytes.
fn read_vocabulary(path: &Path) -> Result<Vec<Vec<u8>>, ConvertError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConvertError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let decoder = byte_decoder();
    let mut tokens = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line == "<|endoftext|>" {
            return Ok(tokens);
        }
        let bytes: Option<Vec<u8>> = line.chars().map(|c| decoder.get(&c).copied()).collect();
        match bytes {
            Some(b) => tokens.push(b),
            None => {
                return Err(ConvertError::Vocabulary {
                    path: path.to_path_buf(),
                    index,
                    token: line.into(),
                });
            }
        }
    }
    Err(ConvertError::Format {
        path: path.to_path_buf(),
        reason: "no <|endoftext|> token".into(),
    })
}

enum Data {
    F32(Vec<f32>),
    /// f16 bit patterns.
    F16(Vec<u16>),
}

struct GgmlTensor {
    name: String,
    /// Outermost first, as in PyTorch; written reversed.
    shape: Vec<usize>,
    data: Data,
}

struct Builder<'m, 'a> {
    model: &'m Ct2Model<'a>,
    out: Vec<GgmlTensor>,
}

impl Builder<'_, '_> {
    /// f32 tensor (biases, norms, positional embeddings).
    fn f32(&mut self, ggml: String, ct2: &str, shape: &[usize], out_shape: &[usize]) -> Res {
        let data = self.model.floats(ct2, shape)?;
        self.out.push(GgmlTensor {
            name: ggml,
            shape: out_shape.to_vec(),
            data: Data::F32(data),
        });
        Ok(())
    }

    /// f16 matrix rows [row0, row0 + rows) of a CT2 f16 tensor (fused QKV are split by rows).
    fn f16_rows(
        &mut self,
        ggml: String,
        ct2: &str,
        shape: &[usize],
        row0: usize,
        rows: usize,
    ) -> Res {
        let v = self.model.get(ct2)?;
        if v.shape != shape || v.dtype != CT2_F16 {
            return Err(self.model.bad(ct2, v, &format!("f16 shape {shape:?}")));
        }
        let row_len: usize = shape[1..].iter().product();
        let bytes = &v.data[row0 * row_len * 2..(row0 + rows) * row_len * 2];
        let data = bytes
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        let mut out_shape = shape.to_vec();
        out_shape[0] = rows;
        self.out.push(GgmlTensor {
            name: ggml,
            shape: out_shape,
            data: Data::F16(data),
        });
        Ok(())
    }

    /// f32 slice [start, start + len) of a 1-D CT2 tensor (fused biases).
    fn f32_slice(
        &mut self,
        ggml: String,
        ct2: &str,
        total: usize,
        start: usize,
        len: usize,
    ) -> Res {
        let all = self.model.floats(ct2, &[total])?;
        self.out.push(GgmlTensor {
            name: ggml,
            shape: vec![len],
            data: Data::F32(all[start..start + len].to_vec()),
        });
        Ok(())
    }

    fn norm(&mut self, ggml: &str, ct2: &str, d: usize) -> Res {
        self.f32(
            format!("{ggml}.weight"),
            &format!("{ct2}/gamma"),
            &[d],
            &[d],
        )?;
        self.f32(format!("{ggml}.bias"), &format!("{ct2}/beta"), &[d], &[d])
    }

    fn linear(&mut self, ggml: &str, ct2: &str, rows: usize, cols: usize) -> Res {
        self.f16_rows(
            format!("{ggml}.weight"),
            &format!("{ct2}/weight"),
            &[rows, cols],
            0,
            rows,
        )?;
        self.f32(
            format!("{ggml}.bias"),
            &format!("{ct2}/bias"),
            &[rows],
            &[rows],
        )
    }

    /// CT2 fuses self-attention Q, K, V into one linear: split rows [q; k; v]. Whisper has
    /// no key bias (CT2 stores zeros there), so it is dropped.
    fn self_attention(&mut self, ggml: &str, ct2: &str, d: usize) -> Res {
        let w = format!("{ct2}/linear_0/weight");
        let b = format!("{ct2}/linear_0/bias");
        self.f16_rows(format!("{ggml}.query.weight"), &w, &[3 * d, d], 0, d)?;
        self.f32_slice(format!("{ggml}.query.bias"), &b, 3 * d, 0, d)?;
        self.f16_rows(format!("{ggml}.key.weight"), &w, &[3 * d, d], d, d)?;
        self.f16_rows(format!("{ggml}.value.weight"), &w, &[3 * d, d], 2 * d, d)?;
        self.f32_slice(format!("{ggml}.value.bias"), &b, 3 * d, 2 * d, d)?;
        self.linear(&format!("{ggml}.out"), &format!("{ct2}/linear_1"), d, d)
    }

    /// Cross-attention: `linear_0` = query, `linear_1` = fused [k; v], `linear_2` = out.
    fn cross_attention(&mut self, ggml: &str, ct2: &str, d: usize) -> Res {
        self.linear(&format!("{ggml}.query"), &format!("{ct2}/linear_0"), d, d)?;
        let w = format!("{ct2}/linear_1/weight");
        let b = format!("{ct2}/linear_1/bias");
        self.f16_rows(format!("{ggml}.key.weight"), &w, &[2 * d, d], 0, d)?;
        self.f16_rows(format!("{ggml}.value.weight"), &w, &[2 * d, d], d, d)?;
        self.f32_slice(format!("{ggml}.value.bias"), &b, 2 * d, d, d)?;
        self.linear(&format!("{ggml}.out"), &format!("{ct2}/linear_2"), d, d)
    }

    fn ffn(&mut self, ggml: &str, ct2: &str, d: usize) -> Res {
        let ff = self
            .model
            .get(&format!("{ct2}/linear_0/bias"))?
            .shape
            .first()
            .copied()
            .unwrap_or(0);
        self.norm(&format!("{ggml}.mlp_ln"), &format!("{ct2}/layer_norm"), d)?;
        self.linear(&format!("{ggml}.mlp.0"), &format!("{ct2}/linear_0"), ff, d)?;
        self.linear(&format!("{ggml}.mlp.2"), &format!("{ct2}/linear_1"), d, ff)
    }
}

type Res = Result<(), ConvertError>;

/// Convert the CT2 Whisper model in `ct2_dir` into a ggml file at `output`.
///
/// Writes `output` via a sibling temporary file and a rename, so a failed run never
/// leaves a half-written model under the final name.
pub fn convert_ct2_to_ggml(ct2_dir: &Path, output: &Path) -> Result<ConvertSummary, ConvertError> {
    let model_path = ct2_dir.join("model.bin");
    let bytes = std::fs::read(&model_path).map_err(|source| ConvertError::Read {
        path: model_path.clone(),
        source,
    })?;
    let model = parse_ct2(&model_path, &bytes)?;
    let vocab = read_vocabulary(&ct2_dir.join("vocabulary.txt"))?;

    let emb = model.get("decoder/embeddings/weight")?;
    let [n_vocab, d] = emb.shape[..] else {
        return Err(model.bad("decoder/embeddings/weight", emb, "2-D [n_vocab, d]"));
    };
    let enc_pos = model.get("encoder/position_encodings/encodings")?;
    let n_audio_ctx = enc_pos.shape.first().copied().unwrap_or(0);
    let dec_pos = model.get("decoder/position_encodings/encodings")?;
    let n_text_ctx = dec_pos.shape.first().copied().unwrap_or(0);
    let conv1 = model.get("encoder/conv1/weight")?;
    let n_mels = conv1.shape.get(1).copied().unwrap_or(0);
    let n_audio_head = model.scalar_int("encoder/num_heads")?;
    let n_text_head = model.scalar_int("decoder/num_heads")?;
    let n_audio_layer = model.count_layers("encoder");
    let n_text_layer = model.count_layers("decoder");
    if n_audio_layer == 0 || n_text_layer == 0 || n_mels == 0 {
        return Err(ConvertError::Format {
            path: model_path,
            reason: "no encoder/decoder layers found".into(),
        });
    }

    let mut b = Builder {
        model: &model,
        out: Vec::new(),
    };
    b.f32(
        "encoder.positional_embedding".into(),
        "encoder/position_encodings/encodings",
        &[n_audio_ctx, d],
        &[n_audio_ctx, d],
    )?;
    b.f16_rows(
        "encoder.conv1.weight".into(),
        "encoder/conv1/weight",
        &[d, n_mels, 3],
        0,
        d,
    )?;
    b.f32(
        "encoder.conv1.bias".into(),
        "encoder/conv1/bias",
        &[d],
        &[d, 1],
    )?;
    b.f16_rows(
        "encoder.conv2.weight".into(),
        "encoder/conv2/weight",
        &[d, d, 3],
        0,
        d,
    )?;
    b.f32(
        "encoder.conv2.bias".into(),
        "encoder/conv2/bias",
        &[d],
        &[d, 1],
    )?;
    for i in 0..n_audio_layer {
        let g = format!("encoder.blocks.{i}");
        let c = format!("encoder/layer_{i}");
        b.norm(
            &format!("{g}.attn_ln"),
            &format!("{c}/self_attention/layer_norm"),
            d,
        )?;
        b.self_attention(&format!("{g}.attn"), &format!("{c}/self_attention"), d)?;
        b.ffn(&g, &format!("{c}/ffn"), d)?;
    }
    b.norm("encoder.ln_post", "encoder/layer_norm", d)?;

    b.f32(
        "decoder.positional_embedding".into(),
        "decoder/position_encodings/encodings",
        &[n_text_ctx, d],
        &[n_text_ctx, d],
    )?;
    b.f16_rows(
        "decoder.token_embedding.weight".into(),
        "decoder/embeddings/weight",
        &[n_vocab, d],
        0,
        n_vocab,
    )?;
    for i in 0..n_text_layer {
        let g = format!("decoder.blocks.{i}");
        let c = format!("decoder/layer_{i}");
        b.norm(
            &format!("{g}.attn_ln"),
            &format!("{c}/self_attention/layer_norm"),
            d,
        )?;
        b.self_attention(&format!("{g}.attn"), &format!("{c}/self_attention"), d)?;
        b.norm(
            &format!("{g}.cross_attn_ln"),
            &format!("{c}/attention/layer_norm"),
            d,
        )?;
        b.cross_attention(&format!("{g}.cross_attn"), &format!("{c}/attention"), d)?;
        b.ffn(&g, &format!("{c}/ffn"), d)?;
    }
    b.norm("decoder.ln", "decoder/layer_norm", d)?;
    let tensors = b.out;

    let n_fft_bins = 201; // Whisper: n_fft 400 at 16 kHz
    let filters = mel_filters(n_mels, 400, 16_000.0);

    let tmp = output.with_extension("tmp-convert");
    let write_err = |source| ConvertError::Write {
        path: output.to_path_buf(),
        source,
    };
    let file = File::create(&tmp).map_err(write_err)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let put = |w: &mut BufWriter<File>, v: i32| w.write_all(&v.to_le_bytes());
    let hparams = [
        0x6767_6d6c_usize, // "ggml"
        n_vocab,
        n_audio_ctx,
        d,
        n_audio_head,
        n_audio_layer,
        n_text_ctx,
        d,
        n_text_head,
        n_text_layer,
        n_mels,
        1, // ftype: f16 weights
    ];
    let mut write_all = || -> std::io::Result<u64> {
        for h in hparams {
            put(&mut w, h as i32)?;
        }
        put(&mut w, n_mels as i32)?;
        put(&mut w, n_fft_bins)?;
        for f in &filters {
            w.write_all(&f.to_le_bytes())?;
        }
        put(&mut w, vocab.len() as i32)?;
        for tok in &vocab {
            put(&mut w, tok.len() as i32)?;
            w.write_all(tok)?;
        }
        for t in &tensors {
            let ftype = match t.data {
                Data::F32(_) => 0,
                Data::F16(_) => 1,
            };
            put(&mut w, t.shape.len() as i32)?;
            put(&mut w, t.name.len() as i32)?;
            put(&mut w, ftype)?;
            for &dim in t.shape.iter().rev() {
                put(&mut w, dim as i32)?;
            }
            w.write_all(t.name.as_bytes())?;
            match &t.data {
                Data::F32(v) => {
                    for x in v {
                        w.write_all(&x.to_le_bytes())?;
                    }
                }
                Data::F16(v) => {
                    for x in v {
                        w.write_all(&x.to_le_bytes())?;
                    }
                }
            }
        }
        w.flush()?;
        w.get_ref().sync_all()?;
        w.get_ref().metadata().map(|m| m.len())
    };
    let bytes = match write_all() {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(write_err(e));
        }
    };
    std::fs::rename(&tmp, output).map_err(write_err)?;
    Ok(ConvertSummary {
        n_vocab,
        n_state: d,
        n_audio_layer,
        n_text_layer,
        tensors: tensors.len(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trip_and_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8); // smallest subnormal
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        for h in (0u16..0x7c00).step_by(7) {
            assert_eq!(f32_to_f16(f16_to_f32(h)), h, "{h:#x}");
        }
    }

    #[test]
    fn byte_decoder_covers_all_bytes() {
        let d = byte_decoder();
        assert_eq!(d.len(), 256);
        assert_eq!(d[&'Ġ'], b' ');
        assert_eq!(d[&'Ċ'], b'\n');
        assert_eq!(d[&'a'], b'a');
    }

    #[test]
    fn mel_filters_match_librosa_shape_and_values() {
        let f = mel_filters(80, 400, 16_000.0);
        assert_eq!(f.len(), 80 * 201);
        // librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)[0][1] == 0.02486259 (Whisper's
        // mel_filters.npz), and the first filter is zero at DC.
        assert!((f[1] - 0.024_862_59).abs() < 1e-6, "{}", f[1]);
        assert_eq!(f[0], 0.0);
        // Every filter has some weight.
        for m in 0..80 {
            assert!(
                f[m * 201..(m + 1) * 201].iter().any(|&x| x > 0.0),
                "filter {m} empty"
            );
        }
    }

    #[test]
    fn truncated_model_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("ivr-asr-conv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.bin"), [6u8, 0, 0, 0, 12, 0]).unwrap();
        std::fs::write(dir.join("vocabulary.txt"), "a\n<|endoftext|>\n").unwrap();
        let err = convert_ct2_to_ggml(&dir, &dir.join("out.bin")).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(!dir.join("out.bin").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
