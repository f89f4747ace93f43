"""Selects the ONNX backend node tests that the native Swift ONNX runtime must pass, and copies them into
Tests/SlipwayRuntimeTests/Fixtures/onnx-node/.

Run by developers (not CI); the outputs are committed. From the repository root:

    /tmp/venv/bin/python scripts/onnx_node_fixtures.py [--generator PATH]

Needs `pip install onnx==1.23.2 numpy`. The onnx wheels do not ship the node-test data, so the script
first regenerates all ~1884 cases from onnx's own generators (onnx/backend/test/case/node/*.py) with
../shared/peers/scripts/gen_onnx_node_tests.py into a temporary directory. The generators are seeded, so a
re-run with the same onnx version rewrites identical files.

A case is kept when
  * every node of its graph (and of any subgraph) is one of SUPPORTED_OPS below,
  * every graph input and output is a plain tensor (no Sequence/Map/Optional/sparse values) whose element
    type is one of FLOAT, DOUBLE, INT32, INT64, BOOL, STRING, and so are Cast targets and constant
    tensors inside the graph, and every test_data_set_0/*.pb parses as an onnx.TensorProto of that type,
  * its ai.onnx opset is between 9 and 21 -- or it can be *retargeted* into that range (see below).
`_expanded` cases (function bodies expanded into primitive ops) are kept when they pass the same filter.

Retargeting: onnx 1.23's generators stamp many cases with the newest opset (25 or 28 for Cast, Reshape,
Flatten, Identity, Shape, Squeeze, Unsqueeze, Transpose, Constant -- versions that only add float4/float8/
int2 types) and some with an old one (7 for And/Or, 1 for Not). Skipping them would leave those operators
with no coverage, so a case outside 9..21 is rewritten to import ai.onnx opset 21 (or 9), with the IR
version lowered to the minimum for that opset, and kept only if the rewritten model passes
onnx.checker.check_model(full_check=True) -- i.e. every node and attribute is valid for the older operator
version -- and onnxruntime reproduces the case's expected outputs from the rewritten model. Such cases are
marked "retargeted_from": <original opset> in the manifest. `--no-retarget` skips them instead.

For each kept case the script copies model.onnx and test_data_set_0/ (other data sets are dropped) to
onnx-node/<case_name>/ and writes onnx-node/manifest.json:

    {"onnx": "1.23.2",
     "cases": [{"name": "test_abs", "ops": ["ai.onnx:Abs"], "opset": 13, "opsets": {"ai.onnx": 13},
                "inputs": 1, "outputs": 1}, ...]}

sorted by name; "ops" are the sorted distinct domain:op_type pairs of the graph, "opset" the ai.onnx opset
(for the few ai.onnx.ml-only cases, which import no ai.onnx opset, the ai.onnx.ml opset), "opsets" every
imported domain's opset.

Finally every kept case is run through onnxruntime, and any case whose outputs onnxruntime does not
reproduce (within onnx's backend-test tolerance, rtol 1e-3 / atol 1e-7) is listed -- informational only:
the expected outputs are onnx's reference implementation's.
"""
import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "SlipwayRuntimeTests" / "Fixtures" / "onnx-node"
DEFAULT_GENERATOR = ROOT.parent / "shared" / "peers" / "scripts" / "gen_onnx_node_tests.py"
MAX_TOTAL_BYTES = 5 * 1024 * 1024

SUPPORTED_OPS = {("ai.onnx", op) for op in """
    Cast Identity Gemm MatMul Add Sub Mul Div Relu Sigmoid Tanh Softmax LogSoftmax Concat Reshape Flatten
    Squeeze Unsqueeze Gather ArgMax Clip Exp Log Sqrt Abs Neg ReduceSum ReduceMean Transpose Where Less
    Greater Equal Not And Or Constant Shape Slice""".split()} | {("ai.onnx.ml", op) for op in """
    TreeEnsembleClassifier TreeEnsembleRegressor TreeEnsemble LinearClassifier LinearRegressor Normalizer
    Scaler Imputer OneHotEncoder LabelEncoder ZipMap ArrayFeatureExtractor Binarizer CastMap""".split()}

T = onnx.TensorProto
SUPPORTED_TYPES = {T.FLOAT, T.DOUBLE, T.INT32, T.INT64, T.BOOL, T.STRING}
MIN_OPSET, MAX_OPSET = 9, 21


def domain_name(domain):
    return "ai.onnx" if domain in ("", "ai.onnx") else domain


def walk_nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from walk_nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from walk_nodes(g)


def internal_types_ok(graph):
    """Cast targets and constant tensors (Constant values, tensor attributes, initializers) use supported types."""
    for init in graph.initializer:
        if init.data_type not in SUPPORTED_TYPES:
            return False
    for node in walk_nodes(graph):
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type not in SUPPORTED_TYPES:
                # TreeEnsemble keeps its node modes in a uint8 tensor attribute: that is part of the op.
                if not (node.op_type == "TreeEnsemble" and attr.name == "nodes_modes"):
                    return False
            if attr.type == onnx.AttributeProto.SPARSE_TENSOR:
                return False
            if node.op_type == "Cast" and attr.name == "to" and attr.i not in SUPPORTED_TYPES:
                return False
    return True


def value_types_ok(values):
    for v in values:
        if v.type.WhichOneof("value") != "tensor_type" or v.type.tensor_type.elem_type not in SUPPORTED_TYPES:
            return False
    return True


def data_files_ok(case, model):
    data = case / "test_data_set_0"
    if not data.is_dir():
        return False
    for prefix, values in (("input", model.graph.input), ("output", model.graph.output)):
        files = sorted(data.glob(f"{prefix}_*.pb"))
        if len(files) != len(values):
            return False
        for i, value in enumerate(values):
            tensor = T()
            try:
                tensor.ParseFromString((data / f"{prefix}_{i}.pb").read_bytes())
            except Exception:
                return False
            if tensor.data_type != value.type.tensor_type.elem_type:
                return False  # e.g. a SequenceProto that happens to parse as a TensorProto
    return True


def load_data(case, prefix):
    tensors = []
    for path in sorted((case / "test_data_set_0").glob(f"{prefix}_*.pb"), key=lambda p: int(p.stem.split("_")[1])):
        tensor = T()
        tensor.ParseFromString(path.read_bytes())
        tensors.append(numpy_helper.to_array(tensor))
    return tensors


def onnxruntime_matches(model, case):
    """Whether onnxruntime, running `model` on the case's inputs, reproduces the case's expected outputs."""
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        feeds = {v.name: a for v, a in zip(model.graph.input, load_data(case, "input"))}
        got = session.run(None, feeds)
    except Exception:
        return False
    for g, want in zip(got, load_data(case, "output")):
        g = np.asarray(g)
        if g.shape != want.shape:
            return False
        if want.dtype.kind in "fc":
            if not np.allclose(g, want, rtol=1e-3, atol=1e-7, equal_nan=True):
                return False
        elif not np.array_equal(g.astype(want.dtype), want):
            return False
    return True


def retarget(model, case, opset):
    """The model rewritten to import ai.onnx `opset`, or None when it is not valid or not equivalent there."""
    new = onnx.ModelProto()
    new.CopyFrom(model)
    for imp in new.opset_import:
        if domain_name(imp.domain) == "ai.onnx":
            imp.version = opset
    new.ir_version = min(model.ir_version, onnx.helper.find_min_ir_version_for(list(new.opset_import)))
    try:
        onnx.checker.check_model(new, full_check=True)
    except Exception:
        return None
    return new if onnxruntime_matches(new, case) else None


def examine(case, allow_retarget=True):
    """Returns (manifest entry, model, None) for a kept case, or (None, None, reason) for a skipped one."""
    model = onnx.load(str(case / "model.onnx"))
    ops = sorted({(domain_name(n.domain), n.op_type) for n in walk_nodes(model.graph)})
    unsupported = [f"{d}:{o}" for d, o in ops if (d, o) not in SUPPORTED_OPS]
    if unsupported:
        return None, None, "op " + ",".join(unsupported)
    if not value_types_ok(model.graph.input) or not value_types_ok(model.graph.output):
        return None, None, "io-type"
    if not internal_types_ok(model.graph):
        return None, None, "internal-type"
    if not data_files_ok(case, model):
        return None, None, "data-files"
    opsets = {domain_name(o.domain): o.version for o in model.opset_import}
    opset = opsets.get("ai.onnx")
    retargeted_from = None
    if opset is not None and not MIN_OPSET <= opset <= MAX_OPSET:
        target = min(max(opset, MIN_OPSET), MAX_OPSET)
        new = retarget(model, case, target) if allow_retarget else None
        if new is None:
            return None, None, f"opset-{opset}"
        model, retargeted_from, opset = new, opset, target
        opsets["ai.onnx"] = target
    entry = {
        "name": case.name,
        "ops": [f"{d}:{o}" for d, o in ops],
        "opset": opset if opset is not None else opsets.get("ai.onnx.ml"),
        "opsets": dict(sorted(opsets.items())),
        "inputs": len(model.graph.input),
        "outputs": len(model.graph.output),
    }
    if retargeted_from is not None:
        entry["retargeted_from"] = retargeted_from
    return entry, model, None


def case_size(case):
    files = [case / "model.onnx", *(case / "test_data_set_0").iterdir()]
    return sum(p.stat().st_size for p in files)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default=str(DEFAULT_GENERATOR), help="gen_onnx_node_tests.py")
    parser.add_argument("--no-retarget", action="store_true", help="skip cases outside opset 9..21")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="onnx-node-") as tmp:
        subprocess.run([sys.executable, args.generator, tmp], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cases = sorted(p for p in (pathlib.Path(tmp) / "node").iterdir() if (p / "model.onnx").is_file())
        print(f"generated {len(cases)} node-test cases with onnx {onnx.__version__}")

        kept, skipped = [], Counter()
        for case in cases:
            entry, model, reason = examine(case, allow_retarget=not args.no_retarget)
            if entry is None:
                skipped[reason.split(" ")[0]] += 1
            else:
                kept.append((entry, case, model, case_size(case)))

        total = sum(k[3] for k in kept)
        dropped = []
        while total > MAX_TOTAL_BYTES:  # keep the fixture folder small: drop the largest cases first
            biggest = max(kept, key=lambda k: k[3])
            kept.remove(biggest)
            dropped.append((biggest[0]["name"], biggest[3]))
            total -= biggest[3]

        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        ort_mismatches = []
        for entry, case, model, _ in kept:
            dest = OUT / case.name
            dest.mkdir()
            if "retargeted_from" in entry:
                onnx.save(model, str(dest / "model.onnx"))
            else:
                shutil.copyfile(case / "model.onnx", dest / "model.onnx")
            (dest / "test_data_set_0").mkdir()
            for pb in sorted((case / "test_data_set_0").iterdir()):
                shutil.copyfile(pb, dest / "test_data_set_0" / pb.name)
            if not onnxruntime_matches(model, case):
                ort_mismatches.append(case.name)
        manifest = {"onnx": onnx.__version__, "cases": [k[0] for k in kept]}
        (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")

    per_op = Counter(op for k in kept for op in k[0]["ops"])
    print("cases per operator:")
    for op in sorted(f"{d}:{o}" for d, o in SUPPORTED_OPS):
        print(f"  {op:40s} {per_op.get(op, 0)}")
    print("skipped:", dict(sorted(skipped.items())))
    retargeted = Counter(f'{k[0]["retargeted_from"]}->{k[0]["opset"]}' for k in kept if "retargeted_from" in k[0])
    print("retargeted:", dict(sorted(retargeted.items())))
    print("onnxruntime does not reproduce:", ort_mismatches or "none")
    for name, size in dropped:
        print(f"dropped (size) {name}: {size} bytes")
    on_disk = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"selected {len(kept)} cases; {on_disk} bytes written to {OUT}")


if __name__ == "__main__":
    main()
