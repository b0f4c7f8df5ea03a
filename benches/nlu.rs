//! Criterion benchmarks of the semantic understanding stage (`cargo bench --bench nlu`):
//! what one caller turn costs on top of the rules (embedding the transcript on one
//! thread, then the classifier and the two-stage decision), and what a flow costs at load
//! (training the classifier). Budget: stage 2 <= 10 ms per turn. Needs `make models`.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ivr_dialog::{Flow, SEMANTIC_POLICY, SemanticClassifier, Utterance};
use ivr_nlu::SentenceEncoder;
use ivr_test_support::models_dir;

fn encoder(dir: &str) -> SentenceEncoder {
    let env = ivr_onnx::environment(&models_dir().join(ivr_onnx::ORT_LIB))
        .unwrap_or_else(|e| panic!("{e} (run `make models`)"));
    let m = models_dir().join(dir);
    SentenceEncoder::load(&env, &m.join("model.onnx"), &m.join("tokenizer.json"), 1)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn train(flow: &Flow, enc: &SentenceEncoder) -> SemanticClassifier {
    let examples = flow
        .semantic_examples()
        .into_iter()
        .map(|(label, text)| (label, enc.encode(&text).unwrap_or_else(|e| panic!("{e}"))))
        .collect();
    SemanticClassifier::train(examples).unwrap_or_else(|e| panic!("{e}"))
}

fn bench_language(c: &mut Criterion, name: &str, flow: Flow, enc: SentenceEncoder, text: &str) {
    let examples: Vec<_> = flow
        .semantic_examples()
        .into_iter()
        .map(|(label, t)| (label, enc.encode(&t).unwrap_or_else(|e| panic!("{e}"))))
        .collect();
    c.bench_function(&format!("nlu/{name}/train_classifier_at_load"), |b| {
        b.iter(|| SemanticClassifier::train(examples.clone()).map(|c| c.is_empty()))
    });
    flow.set_semantic(train(&flow, &enc), SEMANTIC_POLICY);
    let flow = Arc::new(flow);
    c.bench_function(&format!("nlu/{name}/embed_transcript"), |b| {
        b.iter(|| enc.encode(std::hint::black_box(text)).map(|v| v.len()))
    });
    let embedding = enc.encode(text).unwrap_or_else(|e| panic!("{e}"));
    c.bench_function(&format!("nlu/{name}/decide_with_embedding"), |b| {
        b.iter(|| {
            let utt = Utterance {
                text: std::hint::black_box(text),
                embedding: Some(&embedding),
            };
            flow.read(&utt, None)
        })
    });
    c.bench_function(&format!("nlu/{name}/stage2_turn"), |b| {
        b.iter(|| {
            let v = enc.encode(std::hint::black_box(text)).unwrap_or_default();
            let utt = Utterance {
                text,
                embedding: Some(&v),
            };
            flow.read(&utt, None)
        })
    });
}

fn all(c: &mut Criterion) {
    bench_language(
        c,
        "en",
        Flow::demo(),
        encoder("minilm"),
        "hi, I'm calling to check on a delivery I was expecting yesterday",
    );
    bench_language(
        c,
        "zh",
        Flow::demo_zh(),
        encoder("use-m3"),
        "你好，我想问一下我昨天的快递现在到哪里了",
    );
}

criterion_group!(benches, all);
criterion_main!(benches);
