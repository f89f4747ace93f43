import Foundation
import SlipwayCore
import SlipwayTestSupport
import Testing

@Suite("Identifier")
struct IdentifierTests {
    static let hex32 = "0123456789abcdef0123456789abcdef"

    @Test("accepts the prefix, an underscore and 32 lowercase hex digits")
    func acceptsWellFormedIDs() throws {
        #expect(try TeamID(validating: "team_\(Self.hex32)").rawValue == "team_\(Self.hex32)")
        #expect(try ModelID(validating: "mdl_\(Self.hex32)").description == "mdl_\(Self.hex32)")
        #expect(try PrincipalID(validating: "prn_ffffffffffffffffffffffffffffffff").rawValue.hasPrefix("prn_"))
        #expect(try APIKeyID(validating: "key_00000000000000000000000000000000").rawValue.hasPrefix("key_"))
    }

    static let malformed: [String] = {
        let hex = hex32
        return [
            "", "team", "team_", "team-\(hex)", "team_\(hex.dropLast())", "team_\(hex)0", "team_\(hex.uppercased())",
            "team_0123456789abcdef0123456789abcdeg", " team_\(hex)", "team_\(hex) ", "TEAM_\(hex)", "teams_\(hex)",
            "team__\(hex.dropLast())", "team_0123456789abcdef0123456789abcdé",
        ]
    }()

    @Test("rejects malformed IDs with a message naming the expected shape", arguments: malformed)
    func rejectsMalformedIDs(_ text: String) {
        let error = #expect(throws: SlipwayError.self) { try TeamID(validating: text) }
        #expect(error?.kind == .badRequest)
        #expect(error?.code == "invalid_id")
        #expect(error?.message.contains("team ID") == true)
        #expect(error?.message.contains("'team_' and 32 hex digits") == true)
    }

    @Test("rejects an ID of another kind, so a pasted model ID is not taken for a team")
    func rejectsWrongPrefix() {
        let model = "mdl_\(Self.hex32)"
        let error = #expect(throws: SlipwayError.self) { try TeamID(validating: model) }
        #expect(error?.code == "invalid_id")
        #expect(throws: SlipwayError.self) { try ModelID(validating: "team_\(Self.hex32)") }
        #expect(throws: SlipwayError.self) { try APIKeyID(validating: "prn_\(Self.hex32)") }
    }

    @Test("truncates very long input in the message")
    func truncatesLongInputInMessage() {
        let long = String(repeating: "x", count: 10_000)
        let error = #expect(throws: SlipwayError.self) { try ModelID(validating: long) }
        #expect((error?.message.count ?? .max) < 300)
    }

    @Test("random IDs are valid, distinct, and reproducible from a seed")
    func randomIDsAreValidAndSeeded() throws {
        var generator = SplitMix64(seed: 42)
        var seen = Set<String>()
        for _ in 0..<500 {
            let id = ModelID.random(using: &generator)
            #expect(try ModelID(validating: id.rawValue) == id)
            #expect(throws: SlipwayError.self) { try TeamID(validating: id.rawValue) }
            seen.insert(id.rawValue)
        }
        #expect(seen.count == 500)

        var first = SplitMix64(seed: 7)
        var second = SplitMix64(seed: 7)
        #expect(TeamID.random(using: &first) == TeamID.random(using: &second))
    }

    @Test("keeps leading zeros so every ID has 32 digits")
    func padsLeadingZeros() throws {
        struct Zeros: RandomNumberGenerator {
            mutating func next() -> UInt64 { 0xF }
        }
        var zeros = Zeros()
        let id = TeamID.random(using: &zeros)
        #expect(id.rawValue == "team_000000000000000f000000000000000f")
        _ = try TeamID(validating: id.rawValue)
    }

    @Test("JSON round trip validates on decode")
    func codableValidates() throws {
        let id = try TeamID(validating: "team_\(Self.hex32)")
        let data = try JSONEncoder().encode([id])
        #expect(String(decoding: data, as: UTF8.self) == "[\"team_\(Self.hex32)\"]")
        #expect(try JSONDecoder().decode([TeamID].self, from: data) == [id])
        #expect(throws: SlipwayError.self) {
            try JSONDecoder().decode([TeamID].self, from: Data("[\"mdl_\(Self.hex32)\"]".utf8))
        }
    }
}

@Suite("ResourceName")
struct ResourceNameTests {
    @Test(
        "accepts 1-64 characters of a-z 0-9 . _ - starting with a letter or digit",
        arguments: ["a", "0", "fraud-detector", "v1.2_final", "9lives", String(repeating: "a", count: 64), "a-", "a."])
    func acceptsValidNames(_ name: String) throws {
        #expect(ResourceName.isValid(name))
        try ResourceName.validate(name, as: "model name")
    }

    @Test(
        "rejects empty, too long, uppercase, leading punctuation, spaces, slashes and non-ASCII",
        arguments: [
            "", String(repeating: "a", count: 65), "Fraud", "-a", ".a", "_a", "a b", "a/b", "../etc", "café", "a\n",
            "a:b", "a@b", "a%2f",
        ])
    func rejectsInvalidNames(_ name: String) {
        #expect(!ResourceName.isValid(name))
        let error = #expect(throws: SlipwayError.self) { try ResourceName.validate(name, as: "alias") }
        #expect(error?.kind == .badRequest)
        #expect(error?.code == "invalid_name")
        #expect(error?.message.hasPrefix("invalid alias") == true)
        #expect(error?.message.contains(ResourceName.rule) == true)
    }
}
