import Foundation
import SlipwayCore

/// Where an external model server is and how to call it: an Open Inference Protocol v2 endpoint such as
/// Seldon MLServer, Triton or KServe, run by a team outside Slipway.
///
/// Every value is checked when the configuration is made or decoded, so an ``UpstreamClient`` never sees an
/// invalid one. The bearer token is sent upstream only; ``description`` and `debugDescription` redact it, so
/// logging a configuration is safe. Encoding one does include the token: store encoded configurations as
/// secrets.
///
/// ```swift
/// let upstream = try UpstreamConfiguration(
///     baseURL: "http://mlserver.fraud.svc:8080", model: "fraud-xgb", version: "3", timeoutMilliseconds: 500)
/// // POST http://mlserver.fraud.svc:8080/v2/models/fraud-xgb/versions/3/infer
/// ```
///
/// As JSON (every key but `baseURL` and `model` is optional):
///
/// ```json
/// {"baseURL": "https://triton.example.com", "model": "fraud", "inputName": "float_input",
///  "timeoutMilliseconds": 800, "maxRetries": 2, "retryBackoffMilliseconds": 50, "bearerToken": "…"}
/// ```
public struct UpstreamConfiguration: Sendable, Equatable, Codable, CustomStringConvertible,
    CustomDebugStringConvertible
{
    /// The server's root, `http` or `https` with a host and optionally a port and path prefix, without
    /// credentials, query or fragment; kept without a trailing slash.
    public let baseURL: String
    /// The model's name on the upstream server.
    public let model: String
    /// The model's version on the upstream server; nil lets the server choose.
    public let version: String?
    /// The name of the request's one input tensor; `input` unless the model names it otherwise.
    public let inputName: String
    /// How long one attempt may take, from connecting to the last byte of the response; 1 ms to 5 min.
    public let timeoutMilliseconds: Int
    /// Further attempts after a failed one that may be retried; 0 to ``maxRetriesLimit``.
    public let maxRetries: Int
    /// The base pause before a retry, doubled per retry and jittered; 0 to 5000 ms.
    public let retryBackoffMilliseconds: Int
    /// The largest response body accepted; 1 KiB to 256 MiB.
    public let maxResponseBytes: Int
    /// Sent as `Authorization: Bearer …` to the upstream; never logged or put in error messages.
    public let bearerToken: String?

    /// The most retries a configuration may ask for, so a failing upstream cannot multiply traffic further.
    public static let maxRetriesLimit = 3

    /// The host (and port, when given) of ``baseURL``: how messages and logs name the upstream.
    public let upstreamName: String

    /// - Parameters:
    ///   - baseURL: the server's root, e.g. `http://mlserver.fraud.svc:8080` or `https://host/seldon/ns/model`.
    ///   - model: the model's name upstream: letters, digits, `.`, `_` and `-`.
    ///   - version: the model's version upstream, same characters; nil for the server's default.
    ///   - inputName: the input tensor's name: letters, digits, `.`, `_`, `-`, `:` and `/`.
    ///   - timeoutMilliseconds: the limit for one attempt.
    ///   - maxRetries: further attempts after a retryable failure (connect errors, 502/503/504, timeouts).
    ///   - retryBackoffMilliseconds: the base pause before a retry.
    ///   - maxResponseBytes: the largest response accepted.
    ///   - bearerToken: a token for the upstream, if it wants one.
    /// - Throws: ``SlipwayError`` (400, `invalid_upstream`) naming the setting that is wrong.
    public init(
        baseURL: String, model: String, version: String? = nil, inputName: String = "input",
        timeoutMilliseconds: Int = 1000, maxRetries: Int = 1, retryBackoffMilliseconds: Int = 50,
        maxResponseBytes: Int = 16 << 20, bearerToken: String? = nil
    ) throws(SlipwayError) {
        let (base, name) = try Self.validate(baseURL: baseURL)
        try Self.validate(identifier: model, what: "the upstream model name", extra: "")
        if let version { try Self.validate(identifier: version, what: "the upstream model version", extra: "") }
        try Self.validate(identifier: inputName, what: "the input tensor name", extra: ":/")
        guard (1...300_000).contains(timeoutMilliseconds) else {
            throw Self.invalid("timeoutMilliseconds must be 1 to 300000, got \(timeoutMilliseconds)")
        }
        guard (0...Self.maxRetriesLimit).contains(maxRetries) else {
            throw Self.invalid("maxRetries must be 0 to \(Self.maxRetriesLimit), got \(maxRetries)")
        }
        guard (0...5000).contains(retryBackoffMilliseconds) else {
            throw Self.invalid("retryBackoffMilliseconds must be 0 to 5000, got \(retryBackoffMilliseconds)")
        }
        guard (1024...(256 << 20)).contains(maxResponseBytes) else {
            throw Self.invalid("maxResponseBytes must be 1024 to \(256 << 20), got \(maxResponseBytes)")
        }
        if let bearerToken {
            // Visible ASCII only: anything else could split or corrupt the Authorization header.
            guard !bearerToken.isEmpty, bearerToken.utf8.count <= 8192,
                bearerToken.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
            else {
                throw Self.invalid(
                    "the bearer token must be 1 to 8192 visible ASCII characters without spaces; leave it out "
                        + "if the upstream needs none")
            }
        }
        self.baseURL = base
        self.model = model
        self.version = version
        self.inputName = inputName
        self.timeoutMilliseconds = timeoutMilliseconds
        self.maxRetries = maxRetries
        self.retryBackoffMilliseconds = retryBackoffMilliseconds
        self.maxResponseBytes = maxResponseBytes
        self.bearerToken = bearerToken
        self.upstreamName = name
    }

    /// The per-attempt timeout as a duration.
    public var timeout: Duration { .milliseconds(timeoutMilliseconds) }

    /// The base retry pause as a duration.
    public var retryBackoff: Duration { .milliseconds(retryBackoffMilliseconds) }

    /// `{baseURL}/v2/models/{model}[/versions/{version}]/infer`.
    public var inferURL: String {
        let versioned = version.map { "/versions/\($0)" } ?? ""
        return "\(baseURL)/v2/models/\(model)\(versioned)/infer"
    }

    public var description: String {
        let versioned = version.map { " version \($0)" } ?? ""
        return "upstream \(baseURL) model \(model)\(versioned) (input \(inputName), timeout \(timeoutMilliseconds) ms, "
            + "\(maxRetries) retries, token \(bearerToken == nil ? "none" : "redacted"))"
    }

    public var debugDescription: String { description }

    // MARK: Codable

    private enum CodingKeys: String, CodingKey {
        case baseURL, model, version, inputName, timeoutMilliseconds, maxRetries, retryBackoffMilliseconds
        case maxResponseBytes, bearerToken
    }

    /// Decodes and validates; keys other than `baseURL` and `model` fall back to the defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            baseURL: container.decode(String.self, forKey: .baseURL),
            model: container.decode(String.self, forKey: .model),
            version: container.decodeIfPresent(String.self, forKey: .version),
            inputName: container.decodeIfPresent(String.self, forKey: .inputName) ?? "input",
            timeoutMilliseconds: container.decodeIfPresent(Int.self, forKey: .timeoutMilliseconds) ?? 1000,
            maxRetries: container.decodeIfPresent(Int.self, forKey: .maxRetries) ?? 1,
            retryBackoffMilliseconds: container.decodeIfPresent(Int.self, forKey: .retryBackoffMilliseconds) ?? 50,
            maxResponseBytes: container.decodeIfPresent(Int.self, forKey: .maxResponseBytes) ?? 16 << 20,
            bearerToken: container.decodeIfPresent(String.self, forKey: .bearerToken))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(baseURL, forKey: .baseURL)
        try container.encode(model, forKey: .model)
        try container.encodeIfPresent(version, forKey: .version)
        try container.encode(inputName, forKey: .inputName)
        try container.encode(timeoutMilliseconds, forKey: .timeoutMilliseconds)
        try container.encode(maxRetries, forKey: .maxRetries)
        try container.encode(retryBackoffMilliseconds, forKey: .retryBackoffMilliseconds)
        try container.encode(maxResponseBytes, forKey: .maxResponseBytes)
        try container.encodeIfPresent(bearerToken, forKey: .bearerToken)
    }

    // MARK: Validation

    private static func invalid(_ message: String) -> SlipwayError {
        .badRequest(message, code: "invalid_upstream")
    }

    /// Returns the base URL without trailing slashes, and the upstream's `host[:port]`.
    private static func validate(baseURL: String) throws(SlipwayError) -> (String, String) {
        let example = "e.g. http://mlserver.fraud.svc:8080"
        guard baseURL.utf8.count <= 2048, !baseURL.contains(where: { $0.isWhitespace || $0.isNewline }),
            let components = URLComponents(string: baseURL), let scheme = components.scheme?.lowercased()
        else {
            throw invalid("the upstream baseURL must be an absolute http or https URL, \(example)")
        }
        guard scheme == "http" || scheme == "https" else {
            throw invalid("the upstream baseURL must use http or https, not '\(scheme)'; \(example)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw invalid("the upstream baseURL must name a host, \(example)")
        }
        guard components.user == nil, components.password == nil else {
            // Do not echo the URL: it holds the credentials.
            throw invalid("the upstream baseURL must not contain credentials; put a token in bearerToken instead")
        }
        guard components.query == nil, components.fragment == nil else {
            throw invalid("the upstream baseURL must not have a query or fragment, \(example)")
        }
        var base = Substring(baseURL)
        while base.hasSuffix("/") { base.removeLast() }
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host  // IPv6
        let name = components.port.map { "\(bracketed):\($0)" } ?? bracketed
        return (String(base), name)
    }

    private static func validate(identifier: String, what: String, extra: String) throws(SlipwayError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-" + extra)
        guard (1...256).contains(identifier.count), identifier.allSatisfy(allowed.contains),
            identifier != ".", identifier != ".."
        else {
            let characters = extra.isEmpty ? "letters, digits, '.', '_' and '-'" : "letters, digits and ._-\(extra)"
            throw invalid("\(what) must be 1 to 256 characters of \(characters), got '\(identifier.prefix(64))'")
        }
    }
}
