import Foundation
import Hummingbird
import Logging
import NIOCore
import SlipwayCore

/// Turns every error into `{"error":{"code","message"}}` with the right status. Unknown errors are
/// logged with the request ID and answered with a 500 that leaks nothing.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as SlipwayError {
            if error.kind == .internal {
                context.logger.error("internal error", metadata: ["error": "\(error.message)"])
            }
            return Self.response(for: error, requestID: context.requestID)
        } catch let error as HTTPError {
            let code =
                switch error.status {
                case .notFound: "route_not_found"
                case .methodNotAllowed: "method_not_allowed"
                case .contentTooLarge: "payload_too_large"
                default: "http_\(error.status.code)"
                }
            let message =
                error.status == .notFound
                ? "no route \(request.method) \(request.uri.path): see /openapi.json for the API"
                : (error.body ?? error.status.reasonPhrase)
            return Self.body(status: error.status, code: code, message: message)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return Self.body(
                status: .internalServerError, code: "internal",
                message: "internal error; report request ID \(context.requestID) to your platform admins")
        }
    }

    static func status(for kind: SlipwayError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .badRequest: .badRequest
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .payloadTooLarge: .contentTooLarge
        case .unprocessable: .unprocessableContent
        case .unavailable: .serviceUnavailable
        case .tooManyRequests: .tooManyRequests
        case .internal: .internalServerError
        }
    }

    static func response(for error: SlipwayError, requestID: String) -> Response {
        let message =
            error.kind == .internal
            ? "internal error; report request ID \(requestID) to your platform admins" : error.message
        var response = body(status: status(for: error.kind), code: error.code, message: message)
        if error.kind == .unauthenticated {
            response.headers[.wwwAuthenticate] = "Bearer"
        }
        if let retryAfter = error.retryAfter {
            response.headers[.retryAfter] = String(retryAfter)
        }
        return response
    }

    static func body(status: HTTPResponse.Status, code: String, message: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: envelope(code: code, message: message))))
    }

    /// `{"error":{"code":…,"message":…}}`
    static func envelope(code: String, message: String) -> [UInt8] {
        struct Envelope: Encodable {
            struct Body: Encodable {
                let code: String
                let message: String
            }
            let error: Body
        }
        let data = (try? JSONCoding.encoder.encode(Envelope(error: .init(code: code, message: message)))) ?? Data()
        return Array(data)
    }
}
