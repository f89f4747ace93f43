/// The one error type that crosses module boundaries in Slipway.
///
/// Every `SlipwayError` carries a stable machine-readable ``code`` and a human ``message`` that says
/// what to fix. The server maps ``kind`` to an HTTP status in one place; the CLI prints ``message``.
/// Messages never contain secrets or stored data that the caller may not see.
public struct SlipwayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The category of failure; decides the HTTP status.
    public enum Kind: String, Sendable, Equatable {
        case badRequest
        case unauthenticated
        case forbidden
        case notFound
        case conflict
        case payloadTooLarge
        case unprocessable
        case unavailable
        /// A rate limit or quota was reached; the server answers 429 with `Retry-After`.
        case tooManyRequests
        case `internal`
    }

    /// The category of failure.
    public let kind: Kind
    /// A stable code for scripts, e.g. `invalid_name`, `model_not_found`.
    public let code: String
    /// What went wrong and what to do about it.
    public let message: String
    /// Seconds after which retrying may succeed, for the `Retry-After` header; nil when retrying soon
    /// will not help.
    public let retryAfter: Int?

    public init(_ kind: Kind, code: String, _ message: String, retryAfter: Int? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code): \(message)" }

    public static func badRequest(_ message: String, code: String = "bad_request") -> SlipwayError {
        SlipwayError(.badRequest, code: code, message)
    }

    public static func notFound(_ what: String, code: String = "not_found") -> SlipwayError {
        SlipwayError(.notFound, code: code, what)
    }

    public static func conflict(_ message: String, code: String = "conflict") -> SlipwayError {
        SlipwayError(.conflict, code: code, message)
    }

    public static func unprocessable(_ message: String, code: String = "unprocessable") -> SlipwayError {
        SlipwayError(.unprocessable, code: code, message)
    }

    public static func forbidden(_ message: String, code: String = "forbidden") -> SlipwayError {
        SlipwayError(.forbidden, code: code, message)
    }

    public static let unauthenticated = SlipwayError(
        .unauthenticated, code: "unauthenticated",
        "missing, malformed, expired or revoked API key: send 'Authorization: Bearer slw_…'")

    public static func payloadTooLarge(limit: Int64) -> SlipwayError {
        SlipwayError(.payloadTooLarge, code: "payload_too_large", "body exceeds the limit of \(limit) bytes")
    }

    /// The deployment is at its concurrency and queue limits; the request was refused at once.
    /// - Parameter retryAfter: seconds the client should wait before retrying.
    public static func overloaded(retryAfter: Int) -> SlipwayError {
        SlipwayError(
            .unavailable, code: "overloaded",
            "the deployment is at its limit of concurrent and queued requests; retry after \(retryAfter) s with "
                + "backoff, or raise the deployment's max concurrency or queue length",
            retryAfter: retryAfter)
    }

    /// A rate limit or quota was reached.
    /// - Parameters:
    ///   - message: which limit was reached and how to raise it.
    ///   - retryAfter: seconds until a retry can succeed.
    public static func rateLimited(_ message: String, retryAfter: Int) -> SlipwayError {
        SlipwayError(.tooManyRequests, code: "rate_limited", message, retryAfter: retryAfter)
    }

    public static func `internal`(_ message: String) -> SlipwayError {
        SlipwayError(.internal, code: "internal", message)
    }
}
