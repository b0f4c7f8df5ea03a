//! Embeddings of a flow's examples, computed once and kept on disk: a file per (model,
//! texts) hash, so an edited flow or another model never reads stale vectors, and a
//! restart does not re-embed hundreds of examples.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{NluError, SentenceEncoder};

/// The embeddings of `texts`, in order: from `cache_dir` when a file for exactly these
/// texts and this model is there, else computed (and stored, best effort).
pub fn encode_cached(
    encoder: &SentenceEncoder,
    texts: &[String],
    cache_dir: Option<&Path>,
) -> Result<Vec<Vec<f32>>, NluError> {
    let mut h = Sha256::new();
    h.update(encoder.id().as_bytes());
    for t in texts {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    let key: String = h
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    let file = cache_dir.map(|d| d.join(format!("{key}.emb")));
    if let Some(f) = &file
        && let Some(vectors) = read(f, texts.len())
    {
        return Ok(vectors);
    }
    let mut out = Vec::with_capacity(texts.len());
    for text in texts {
        out.push(encoder.encode(text)?);
    }
    if let Some(f) = &file
        && let Err(e) = write(f, &out)
    {
        tracing::warn!(file = %f.display(), error = %e, "cannot cache example embeddings");
    }
    Ok(out)
}

/// `count` vectors, or `None` for a missing, short or corrupt file.
fn read(path: &Path, count: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    let header: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let n = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let dim = u32::from_le_bytes(header[4..].try_into().ok()?) as usize;
    if n != count || dim == 0 || bytes.len() != 8 + n * dim * 4 {
        return None;
    }
    let floats: Vec<f32> = bytes[8..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some(floats.chunks_exact(dim).map(<[f32]>::to_vec).collect())
}

fn write(path: &Path, vectors: &[Vec<f32>]) -> std::io::Result<()> {
    let dim = vectors.first().map_or(0, Vec::len);
    let mut bytes = Vec::with_capacity(8 + vectors.len() * dim * 4);
    bytes.extend((vectors.len() as u32).to_le_bytes());
    bytes.extend((dim as u32).to_le_bytes());
    for v in vectors {
        for x in v {
            bytes.extend(x.to_le_bytes());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("emb.part");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_reads_back_and_a_wrong_count_is_a_miss() {
        let dir = std::env::temp_dir().join(format!("ivr-nlu-cache-{}", std::process::id()));
        let f = dir.join("x.emb");
        let v = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        write(&f, &v).unwrap();
        assert_eq!(read(&f, 2), Some(vec![vec![1.0, 2.0], vec![3.0, 4.0]]));
        assert_eq!(read(&f, 3), None);
        std::fs::write(&f, b"junk").unwrap();
        assert_eq!(read(&f, 2), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
