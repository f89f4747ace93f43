import Foundation
import NIOCore
import SlipwayCore
import SlipwayRuntime
import Testing

@testable import SlipwayServing

@Suite("Upstream configuration and wire format")
struct UpstreamConfigurationTests {
    @Test("the infer URL has the model, the optional version and no trailing slash from the base")
    func inferURL() throws {
        let plain = try UpstreamConfiguration(baseURL: "http://mlserver.fraud.svc:8080/", model: "fraud-xgb")
        #expect(plain.inferURL == "http://mlserver.fraud.svc:8080/v2/models/fraud-xgb/infer")
        #expect(plain.upstreamName == "mlserver.fraud.svc:8080")
        let versioned = try UpstreamConfiguration(
            baseURL: "https://gateway.example.com/seldon/fraud", model: "fraud", version: "3")
        #expect(versioned.inferURL == "https://gateway.example.com/seldon/fraud/v2/models/fraud/versions/3/infer")
        #expect(versioned.upstreamName == "gateway.example.com")
    }

    @Test(
        "invalid settings are refused, naming what to fix",
        arguments: [
            ("ftp://host/models", "http or https"),
            ("mlserver:8080", "http or https"),
            ("http://", "host"),
            ("http://user:secret@host:8080", "credentials"),
            ("http://host/?a=b", "query"),
            ("http://host name", "absolute"),
        ])
    func invalidBaseURL(url: String, expected: String) {
        let error = #expect(throws: SlipwayError.self) { try UpstreamConfiguration(baseURL: url, model: "m") }
        #expect(error?.code == "invalid_upstream")
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("secret") == false)
    }

    @Test("names, timeouts, retries and the token are bounded")
    func bounds() {
        let attempts: [() throws -> UpstreamConfiguration] = [
            { try .init(baseURL: "http://h", model: "") },
            { try .init(baseURL: "http://h", model: "../admin") },
            { try .init(baseURL: "http://h", model: "m", version: "1/2") },
            { try .init(baseURL: "http://h", model: "m", inputName: "a\"b") },
            { try .init(baseURL: "http://h", model: "m", timeoutMilliseconds: 0) },
            { try .init(baseURL: "http://h", model: "m", maxRetries: 4) },
            { try .init(baseURL: "http://h", model: "m", retryBackoffMilliseconds: -1) },
            { try .init(baseURL: "http://h", model: "m", maxResponseBytes: 10) },
            { try .init(baseURL: "http://h", model: "m", bearerToken: "a b") },
            { try .init(baseURL: "http://h", model: "m", bearerToken: "x\r\nHost: evil") },
        ]
        for (index, attempt) in attempts.enumerated() {
            let error = #expect(throws: SlipwayError.self, "case \(index)") { try attempt() }
            #expect(error?.code == "invalid_upstream")
            #expect(error?.message.contains("evil") == false)
        }
    }

    @Test("decoding validates and fills defaults; descriptions redact the token")
    func codable() throws {
        let json = #"{"baseURL":"http://127.0.0.1:9000","model":"m","bearerToken":"s3cret-token"}"#
        let decoded = try JSONDecoder().decode(UpstreamConfiguration.self, from: Data(json.utf8))
        #expect(decoded.inputName == "input")
        #expect(decoded.maxRetries == 1)
        #expect(decoded.maxResponseBytes == 16 << 20)
        #expect(decoded.bearerToken == "s3cret-token")
        #expect(!"\(decoded)".contains("s3cret"))
        #expect(!String(reflecting: decoded).contains("s3cret"))
        let roundTrip = try JSONDecoder().decode(UpstreamConfiguration.self, from: JSONEncoder().encode(decoded))
        #expect(roundTrip == decoded)

        let invalid = #"{"baseURL":"http://127.0.0.1:9000","model":"m","maxRetries":10}"#
        #expect(throws: SlipwayError.self) {
            try JSONDecoder().decode(UpstreamConfiguration.self, from: Data(invalid.utf8))
        }
    }

    @Test("the request body is the OIP v2 JSON for one FP32 tensor")
    func encodeRequest() throws {
        let body = OpenInferenceJSON.encodeRequest(
            inputName: "float_input", rows: [1, 2.5, -0.1, 1e-5], count: 2, features: 2)
        let text = String(buffer: body)
        #expect(
            text == #"{"inputs":[{"name":"float_input","shape":[2,2],"datatype":"FP32","data":[1.0,2.5,-0.1,1e-05]}]}"#)
        // And it is valid JSON that reads back to the same floats.
        struct Request: Decodable {
            struct Input: Decodable {
                let name: String
                let shape: [Int]
                let datatype: String
                let data: [Float]
            }
            let inputs: [Input]
        }
        let decoded = try JSONDecoder().decode(Request.self, from: Data(text.utf8))
        #expect(decoded.inputs.first?.data == [1, 2.5, -0.1, 1e-5])
    }

    @Test("responses: flat or nested data, every datatype family, several outputs")
    func decodeResponse() throws {
        let json = """
            {"model_name":"m","model_version":"1","id":"x","outputs":[
              {"name":"probabilities","shape":[2,2],"datatype":"FP64","data":[[0.25,0.75],[1,0]]},
              {"name":"label","shape":[2],"datatype":"INT64","data":[1,0]},
              {"name":"flags","shape":[2,1],"datatype":"BOOL","data":[[true],[false]]},
              {"name":"names","shape":[2],"datatype":"BYTES","data":["fraud","ok"]},
              {"name":"cube","shape":[2,1,2],"datatype":"FP32","data":[[[1,2]],[[3,4]]]},
              {"name":"empty","shape":[0,3],"datatype":"FP32","data":[]}
            ]}
            """
        let outputs = try OpenInferenceJSON.decodeResponse(ByteBuffer(string: json))
        #expect(
            outputs == [
                PredictionOutput(name: "probabilities", shape: [2, 2], data: .floats([0.25, 0.75, 1, 0])),
                PredictionOutput(name: "label", shape: [2], data: .int64s([1, 0])),
                PredictionOutput(name: "flags", shape: [2, 1], data: .int64s([1, 0])),
                PredictionOutput(name: "names", shape: [2], data: .strings(["fraud", "ok"])),
                PredictionOutput(name: "cube", shape: [2, 1, 2], data: .floats([1, 2, 3, 4])),
                PredictionOutput(name: "empty", shape: [0, 3], data: .floats([])),
            ])
    }

    @Test(
        "invalid responses are refused with a reason",
        arguments: [
            (#"{"outputs":[{"name":"y","shape":[2,2],"datatype":"FP32","data":[1,2,3]}]}"#, "3 values"),
            (#"{"outputs":[{"name":"y","shape":[-1],"datatype":"FP32","data":[]}]}"#, "invalid shape"),
            (#"{"outputs":[{"name":"y","shape":[1],"datatype":"COMPLEX","data":[1]}]}"#, "unsupported datatype"),
            (#"{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":["a"]}]}"#, "wrong type"),
            (#"{"outputs":[{"name":"y","shape":[1],"datatype":"FP32"}]}"#, "'data' is missing"),
            (#"{"outputs":[]}"#, "no outputs"),
            (#"{"outputs":[{"name":"y","#, "not valid JSON"),
            ("<html>bad gateway</html>", "not valid JSON"),
        ])
    func invalidResponses(json: String, reason: String) {
        let error = #expect(throws: OpenInferenceJSON.InvalidResponse.self) {
            try OpenInferenceJSON.decodeResponse(ByteBuffer(string: json))
        }
        #expect(error?.reason.contains(reason) == true, "\(error?.reason ?? "")")
    }

    @Test("error messages come from the error field, else the text, cleaned and cut")
    func errorMessages() {
        #expect(
            OpenInferenceJSON.errorMessage(ByteBuffer(string: #"{"error":"unexpected shape [2, 4]"}"#))
                == "unexpected shape [2, 4]")
        #expect(OpenInferenceJSON.errorMessage(ByteBuffer(string: #"{"detail":"bad"}"#)) == "bad")
        #expect(OpenInferenceJSON.errorMessage(ByteBuffer(string: "plain\ntext")) == "plain text")
        let long = OpenInferenceJSON.errorMessage(ByteBuffer(string: String(repeating: "x", count: 1000)), limit: 10)
        #expect(long == "xxxxxxxxxx…")
    }
}

@Suite("Upstream credentials")
struct UpstreamCredentialTests {
    let environment = ["EDGE_TOKEN": "tok-123", "EMPTY": "", "SPACED": "has space"]

    @Test("NAME[@TEAMS]=ENV_VAR reads the token from the environment; teams limit who may use it")
    func parsing() throws {
        let open = try UpstreamCredential(parsing: "edge=EDGE_TOKEN", environment: environment)
        #expect(open.name == "edge")
        #expect(open.teams == nil)
        #expect(open.allows(team: "anyone"))
        let scoped = try UpstreamCredential(parsing: "edge@fraud,payments=EDGE_TOKEN", environment: environment)
        #expect(scoped.teams == ["fraud", "payments"])
        #expect(scoped.allows(team: "payments"))
        #expect(!scoped.allows(team: "marketing"))
        #expect(try UpstreamCredential.token(named: "edge", team: "fraud", in: [scoped]) == "tok-123")
    }

    @Test("the token never shows in a description")
    func redacted() throws {
        let credential = try UpstreamCredential(parsing: "edge@fraud=EDGE_TOKEN", environment: environment)
        #expect(credential.description == "edge@fraud=<redacted>")
        #expect(!"\(credential)".contains("tok-123"))
        #expect(!String(describing: [credential]).contains("tok-123"))
    }

    @Test(
        "malformed declarations are refused with what to fix",
        arguments: [
            ("edge", "NAME[@TEAM,TEAM]=ENV_VAR"), ("=EDGE_TOKEN", "NAME[@TEAM,TEAM]=ENV_VAR"),
            ("edge=MISSING", "'MISSING' is not set"), ("edge=", "'' is not set"),
            ("edge@=EDGE_TOKEN", "at least one team"), ("Bad Name=EDGE_TOKEN", "upstream credential name"),
            ("edge=EMPTY", "non-empty visible ASCII"), ("edge=SPACED", "non-empty visible ASCII"),
        ])
    func refusals(text: String, message: String) {
        #expect {
            try UpstreamCredential(parsing: text, environment: environment)
        } throws: { error in
            guard let error = error as? SlipwayError else { return false }
            return error.kind == .badRequest && error.message.contains(message)
        }
    }

    @Test("a team may use only credentials declared for it, and the refusal lists those it may use")
    func scope() throws {
        let mine = try UpstreamCredential(name: "mine", teams: ["fraud"], token: "a")
        let theirs = try UpstreamCredential(name: "theirs", teams: ["payments"], token: "b")
        #expect(throws: SlipwayError.self) { try UpstreamCredential.token(named: "theirs", team: "fraud", in: [mine, theirs]) }
        do {
            _ = try UpstreamCredential.token(named: "theirs", team: "fraud", in: [mine, theirs])
        } catch {
            #expect(error.code == "unknown_upstream_credential")
            #expect(error.message.contains("it may use 'mine'"))
            #expect(error.message.components(separatedBy: "'theirs'").count == 2, "named once, as the one asked for")
        }
    }
}
