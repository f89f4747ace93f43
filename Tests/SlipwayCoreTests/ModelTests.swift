import Foundation
import SlipwayCore
import SlipwayTestSupport
import Testing

@Suite("Pagination")
struct PageRequestTests {
    @Test("limit defaults to 50 and must be 1-200")
    func limits() throws {
        #expect(try PageRequest().limit == 50)
        #expect(try PageRequest(limit: 1).limit == 1)
        #expect(try PageRequest(limit: PageRequest.maximumLimit).limit == 200)
        for bad in [0, -1, 201, Int.max, Int.min] {
            let error = #expect(throws: SlipwayError.self) { try PageRequest(limit: bad) }
            #expect(error?.code == "invalid_limit")
        }
        #expect(try PageRequest().after == nil)
    }

    @Test("cursors round trip any position, seeded")
    func cursorRoundTrip() throws {
        var generator = SplitMix64(seed: 77)
        let alphabet = Array("az09.-_/+=?&%é漢🙂 \n\"")
        for length in 1...60 {
            let position = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            let cursor = PageRequest.cursor(after: position)
            #expect(!cursor.contains("+") && !cursor.contains("/") && !cursor.contains("="), "not URL-safe: \(cursor)")
            #expect(try PageRequest(limit: 2, cursor: cursor).after == position)
        }
        #expect(try PageRequest(cursor: PageRequest.cursor(after: "fraud-detector")).after == "fraud-detector")
    }

    @Test(
        "a cursor the server did not issue is refused with advice",
        arguments: ["", "!!!", "a", "%%%%", "====", "😀", PageRequest.cursor(after: "a\u{0}")])
    func badCursor(_ cursor: String) {
        let error = #expect(throws: SlipwayError.self) { try PageRequest(cursor: cursor) }
        #expect(error?.kind == .badRequest)
        #expect(error?.code == "invalid_cursor")
        #expect(error?.message.contains("start again without it") == true)
    }
}

@Suite("New model versions")
struct NewModelVersionTests {
    static let digest = "sha256:" + String(repeating: "ab", count: 32)

    static func version(
        digest: String = digest, metrics: [String: Double] = ["auc": 0.91], tags: [String: String] = ["stage": "dev"]
    ) -> NewModelVersion {
        NewModelVersion(
            artifactDigest: digest, format: .onnx,
            signature: ModelSignature(
                inputs: [TensorSpec(name: "features", datatype: .fp32, shape: [-1, 8])],
                outputs: [TensorSpec(name: "score", datatype: .fp32, shape: [-1, 1])]),
            parameters: ["max_depth": "6"], metrics: metrics,
            lineage: Lineage(datasetVersion: "transactions@12", trainingJob: "job-1", sourceCode: "git+https://x@abc"),
            description: "first", modelCard: "# Card", tags: tags)
    }

    @Test("a well-formed version validates")
    func valid() throws {
        try Self.version().validate()
        try Self.version(metrics: [:], tags: [:]).validate()
        try Self.version(metrics: ["loss": -1e300, "zero": 0]).validate()
    }

    @Test(
        "rejects a digest that is not sha256: and 64 lowercase hex digits",
        arguments: [
            "", "sha256:", "ab" + String(repeating: "0", count: 69), "sha256:" + String(repeating: "A", count: 64),
            "sha256:" + String(repeating: "0", count: 63), "sha256:" + String(repeating: "0", count: 65),
            "md5:" + String(repeating: "0", count: 67), "SHA256:" + String(repeating: "0", count: 64),
            "sha256:" + String(repeating: "g", count: 64), " sha256:" + String(repeating: "0", count: 63),
        ])
    func badDigest(_ digest: String) {
        #expect(!Digest.isArtifactDigest(digest))
        let error = #expect(throws: SlipwayError.self) { try Self.version(digest: digest).validate() }
        #expect(error?.kind == .badRequest)
        #expect(error?.code == "invalid_digest")
    }

    @Test("rejects non-finite metrics", arguments: [Double.nan, .infinity, -.infinity, .signalingNaN])
    func nonFiniteMetric(_ value: Double) {
        let error = #expect(throws: SlipwayError.self) { try Self.version(metrics: ["auc": value]).validate() }
        #expect(error?.code == "invalid_metric")
        #expect(error?.message.contains("'auc'") == true)
    }

    @Test("rejects bad metric names, tag keys, oversized fields and bad signatures")
    func otherRules() {
        func code(_ change: (inout NewModelVersion) -> Void) -> String? {
            var version = Self.version()
            change(&version)
            do {
                try version.validate()
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code { $0.metrics = ["": 1] } == "invalid_name")
        #expect(code { $0.metrics = ["val\u{7}auc": 1] } == "invalid_name")
        // Training code's own names are kept as they are (MLflow allows them).
        #expect(code { $0.metrics = ["val/AUC": 0.9]; $0.parameters = ["C": "1.0", "learning_rate": "0.1"] } == nil)
        #expect(code { $0.tags = ["": "x"] } == "invalid_name")
        #expect(code { $0.tags = ["ok": String(repeating: "x", count: 1025)] } == "too_long")
        #expect(code { $0.parameters = ["de\npth": "6"] } == "invalid_name")
        #expect(code { $0.parameters = ["depth": String(repeating: "6", count: 1025)] } == "too_long")
        #expect(code { $0.description = String(repeating: "x", count: 4097) } == "too_long")
        #expect(code { $0.modelCard = String(repeating: "x", count: 256 * 1024 + 1) } == "too_long")
        #expect(code { $0.lineage.trainingJob = String(repeating: "x", count: 1025) } == "too_long")
        #expect(
            code { $0.tags = Dictionary(uniqueKeysWithValues: (0...100).map { ("k\($0)", "v") }) } == "too_many_tags")
        #expect(
            code {
                $0.signature?.inputs.append(TensorSpec(name: "features", datatype: .int64, shape: [1]))
            } == "invalid_signature")
        #expect(code { $0.signature?.outputs[0].shape = [0] } == "invalid_signature")
        #expect(code { $0.signature?.outputs[0].shape = Array(repeating: 1, count: 9) } == "invalid_signature")
        #expect(code { $0.signature?.outputs[0].name = "" } == "invalid_signature")
    }
}

@Suite("Digest")
struct DigestTests {
    @Test("SHA-256 matches the FIPS 180-2 test vectors")
    func knownVectors() {
        #expect(
            Digest.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256Hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.hex([0x00, 0x0f, 0xf0, 0xff]) == "000ff0ff")
    }

    @Test("constant-time comparison agrees with ==, seeded")
    func constantTimeEquals() {
        var generator = SplitMix64(seed: 9)
        for _ in 0..<200 {
            let a = String(Int.random(in: 0..<50, using: &generator), radix: 16)
            let b = String(Int.random(in: 0..<50, using: &generator), radix: 16)
            #expect(Digest.constantTimeEquals(a, b) == (a == b))
        }
        #expect(!Digest.constantTimeEquals("abc", "abcd"))
    }
}

@Suite("SlipwayError")
struct SlipwayErrorTests {
    @Test("factories set kind and stable code; description is code then message")
    func factories() {
        #expect(SlipwayError.notFound("model 'x' not found", code: "model_not_found").kind == .notFound)
        #expect(SlipwayError.conflict("taken").code == "conflict")
        #expect(SlipwayError.payloadTooLarge(limit: 10).kind == .payloadTooLarge)
        #expect(SlipwayError.payloadTooLarge(limit: 10).message.contains("10 bytes"))
        #expect(SlipwayError.unauthenticated.kind == .unauthenticated)
        #expect(SlipwayError.badRequest("bad", code: "x").description == "x: bad")
    }
}
