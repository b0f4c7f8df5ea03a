//! The second stage of understanding: a softmax classifier over sentence embeddings.
//!
//! The binary embeds every example of a flow (intent examples, FAQ questions, and the
//! flow's out-of-scope examples) once at load and each caller utterance on the
//! recogniser's worker thread; this module only does arithmetic on those vectors, so the
//! dialog stays pure. The classifier is trained at load on the examples (full-batch
//! gradient descent from zero weights: deterministic, well under a second for a few
//! hundred examples). Its probabilities are what the thresholds are calibrated on, and the
//! out-of-scope class gives "none of these" a place of its own, so a question the flow
//! cannot answer does not go to whichever label happens to be nearest.

use crate::intent::IntentScore;

/// What a class of the classifier stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SemanticLabel {
    Intent(String),
    Faq(String),
    /// The flow's negative examples: requests it does not serve.
    OutOfScope,
}

/// Training settings, fixed: calibrated together with `SEMANTIC_POLICY`.
const EPOCHS: usize = 200;
const LEARNING_RATE: f32 = 2.0;
/// Logit scale: cosine-range scores (unit vectors) need it for a confident softmax.
const SCALE: f32 = 20.0;
const L2: f32 = 1e-4;

/// A trained classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticClassifier {
    dim: usize,
    labels: Vec<SemanticLabel>,
    /// `labels.len()` rows of `dim` weights each.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// A vector that does not fit the others.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("an example embedding has {got} dimensions, the others {want}")]
pub struct DimensionMismatch {
    pub got: usize,
    pub want: usize,
}

/// Probabilities of one utterance, split by what the classes stand for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SemanticScores {
    /// Intents, best first.
    pub intents: Vec<IntentScore>,
    /// FAQ ids, best first.
    pub faqs: Vec<IntentScore>,
    /// Probability of the out-of-scope class.
    pub out_of_scope: f32,
}

impl SemanticClassifier {
    /// Train on (label, embedding) examples; every embedding must have the same length.
    pub fn train(
        examples: Vec<(SemanticLabel, Vec<f32>)>,
    ) -> Result<SemanticClassifier, DimensionMismatch> {
        let dim = examples.first().map_or(0, |(_, v)| v.len());
        let mut labels: Vec<SemanticLabel> = Vec::new();
        let mut xs: Vec<f32> = Vec::with_capacity(examples.len() * dim);
        let mut ys: Vec<usize> = Vec::with_capacity(examples.len());
        for (label, mut v) in examples {
            if v.len() != dim {
                return Err(DimensionMismatch {
                    got: v.len(),
                    want: dim,
                });
            }
            normalise(&mut v);
            let y = match labels.iter().position(|l| *l == label) {
                Some(y) => y,
                None => {
                    labels.push(label);
                    labels.len() - 1
                }
            };
            xs.extend_from_slice(&v);
            ys.push(y);
        }
        let k = labels.len();
        let mut c = SemanticClassifier {
            dim,
            labels,
            weights: vec![0.0; k * dim],
            bias: vec![0.0; k],
        };
        if k > 1 && !ys.is_empty() {
            c.fit(&xs, &ys);
        }
        Ok(c)
    }

    /// Multinomial logistic regression by full-batch gradient descent.
    fn fit(&mut self, xs: &[f32], ys: &[usize]) {
        let (k, dim, n) = (self.labels.len(), self.dim, ys.len() as f32);
        let mut probs = vec![0.0f32; k];
        let mut grad_w = vec![0.0f32; k * dim];
        let mut grad_b = vec![0.0f32; k];
        for _ in 0..EPOCHS {
            grad_w.iter_mut().for_each(|g| *g = 0.0);
            grad_b.iter_mut().for_each(|g| *g = 0.0);
            for (x, &y) in xs.chunks_exact(dim).zip(ys) {
                self.softmax(x, &mut probs);
                for (j, &p) in probs.iter().enumerate() {
                    // d(cross-entropy)/d(logit j), times the logit scale.
                    let g = (p - if j == y { 1.0 } else { 0.0 }) * SCALE;
                    grad_b[j] += g;
                    for (gw, xi) in grad_w[j * dim..(j + 1) * dim].iter_mut().zip(x) {
                        *gw += g * xi;
                    }
                }
            }
            // The step is taken in units of the unscaled logit, so the learning rate does
            // not depend on SCALE.
            for (w, g) in self.weights.iter_mut().zip(&grad_w) {
                *w -= LEARNING_RATE * (g / (SCALE * n) + L2 * *w);
            }
            for (b, g) in self.bias.iter_mut().zip(&grad_b) {
                *b -= LEARNING_RATE * g / (SCALE * n);
            }
        }
    }

    fn softmax(&self, x: &[f32], out: &mut [f32]) {
        for (j, o) in out.iter_mut().enumerate() {
            let w = &self.weights[j * self.dim..(j + 1) * self.dim];
            *o = SCALE * (w.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + self.bias[j]);
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for o in out.iter_mut() {
            *o = (*o - max).exp();
            sum += *o;
        }
        out.iter_mut().for_each(|o| *o /= sum);
    }

    pub fn is_empty(&self) -> bool {
        self.labels.len() < 2
    }

    /// Class probabilities of `query` (any length-`dim` vector; it is normalised). A query
    /// of the wrong length (another model) scores nothing.
    pub fn scores(&self, query: &[f32]) -> SemanticScores {
        if query.len() != self.dim || self.is_empty() {
            return SemanticScores::default();
        }
        let mut q = query.to_vec();
        normalise(&mut q);
        let mut probs = vec![0.0f32; self.labels.len()];
        self.softmax(&q, &mut probs);
        let mut out = SemanticScores::default();
        for (label, &p) in self.labels.iter().zip(&probs) {
            match label {
                SemanticLabel::Intent(name) => out.intents.push(IntentScore {
                    intent: name.clone(),
                    score: p,
                }),
                SemanticLabel::Faq(id) => out.faqs.push(IntentScore {
                    intent: id.clone(),
                    score: p,
                }),
                SemanticLabel::OutOfScope => out.out_of_scope += p,
            }
        }
        out.intents.sort_by(|a, b| b.score.total_cmp(&a.score));
        out.faqs.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(n: &str) -> SemanticLabel {
        SemanticLabel::Intent(n.into())
    }

    #[test]
    fn learns_separable_classes_and_keeps_them_apart() {
        let c = SemanticClassifier::train(vec![
            (intent("track"), vec![1.0, 0.1, 0.0]),
            (intent("track"), vec![0.9, 0.0, 0.1]),
            (SemanticLabel::Faq("cost".into()), vec![0.0, 1.0, 0.1]),
            (SemanticLabel::OutOfScope, vec![0.0, 0.1, 1.0]),
        ])
        .unwrap();
        let s = c.scores(&[0.95, 0.05, 0.05]);
        assert_eq!(s.intents[0].intent, "track");
        assert!(s.intents[0].score > 0.8, "{s:?}");
        let s = c.scores(&[0.0, 0.0, 1.0]);
        assert!(s.out_of_scope > 0.8, "{s:?}");
        let s = c.scores(&[0.1, 2.0, 0.0]);
        assert_eq!(s.faqs[0].intent, "cost");
        assert!(s.faqs[0].score > 0.8, "{s:?}");
    }

    #[test]
    fn wrong_dimensions_are_refused_or_score_nothing() {
        assert!(
            SemanticClassifier::train(vec![
                (intent("a"), vec![1.0]),
                (intent("b"), vec![1.0, 0.0])
            ])
            .is_err()
        );
        let c = SemanticClassifier::train(vec![
            (intent("a"), vec![1.0, 0.0]),
            (intent("b"), vec![0.0, 1.0]),
        ])
        .unwrap();
        assert_eq!(c.scores(&[1.0, 0.0, 0.0]), SemanticScores::default());
    }
}
