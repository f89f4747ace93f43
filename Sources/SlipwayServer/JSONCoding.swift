import Foundation
import Hummingbird
import NIOCore
import SlipwayCore

/// JSON in and out, with errors that name the offending field.
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(
                date.formatted(
                    .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)))
        }
        return encoder
    }()

    /// Reads at most `limit` bytes of body.
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw SlipwayError.payloadTooLarge(limit: Int64(limit))
        }
        var buffer = ByteBuffer()
        for try await chunk in request.body {
            guard buffer.readableBytes + chunk.readableBytes <= limit else {
                throw SlipwayError.payloadTooLarge(limit: Int64(limit))
            }
            var chunk = chunk
            buffer.writeBuffer(&chunk)
        }
        return buffer
    }

    /// Decodes a JSON body of at most `limit` bytes into `type`.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        let buffer = try await collect(request, limit: limit)
        guard buffer.readableBytes > 0 else {
            throw SlipwayError.badRequest("the request needs a JSON body", code: "invalid_json")
        }
        if containsNULEscape(buffer.readableBytesView) {
            throw SlipwayError.badRequest("strings must not contain NUL characters (\\u0000)", code: "invalid_json")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch let error as DecodingError {
            throw SlipwayError.badRequest(describe(error), code: "invalid_json")
        }
    }

    /// Whether JSON text holds a `\u0000` escape (NUL cannot be stored in PostgreSQL text and has no
    /// business in names or descriptions). An escaped backslash before `u0000` is not an escape.
    static func containsNULEscape(_ bytes: ByteBufferView) -> Bool {
        let pattern = Array("u0000".utf8)
        var backslashes = 0
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                backslashes += 1
            } else {
                if backslashes % 2 == 1, byte == UInt8(ascii: "u"), bytes.endIndex - index >= 5,
                    zip(bytes[index..<index + 5], pattern).allSatisfy({ $0 == $1 })
                {
                    return true
                }
                backslashes = 0
            }
            index += 1
        }
        return false
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "field '\(path(context.codingPath))' has the wrong type: expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "field '\(path(context.codingPath))' must not be null: expected \(typeName(type))"
        case .keyNotFound(let key, let context):
            let prefix = path(context.codingPath)
            return "missing required field '\(prefix.isEmpty ? key.stringValue : prefix + "." + key.stringValue)'"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "malformed JSON: check quotes, commas and brackets" }
            return "field '\(path(context.codingPath))': \(context.debugDescription)"
        @unknown default:
            return "malformed JSON"
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: "\(type)".contains("Dictionary") ? "an object" : "\(type)".contains("Array") ? "an array" : "\(type)"
        }
    }
}

extension Response {
    /// A JSON response.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONCoding.encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// An empty 204.
    static var noContent: Response { Response(status: .noContent) }
}

/// `{"items": [...], "next_cursor": "..."}` for every list.
struct ListResponse<Item: Encodable>: Encodable {
    let items: [Item]
    let nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    init(items: [Item], nextCursor: String? = nil) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

extension Request {
    /// An optional integer query parameter, or a 400 naming it.
    func integerQuery(_ name: String) throws -> Int? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let value = Int(text) else {
            throw SlipwayError.badRequest("query parameter '\(name)' must be an integer", code: "invalid_query")
        }
        return value
    }

    func pageRequest() throws -> PageRequest {
        try PageRequest(limit: try integerQuery("limit"), cursor: uri.queryParameters.get("cursor"))
    }
}
