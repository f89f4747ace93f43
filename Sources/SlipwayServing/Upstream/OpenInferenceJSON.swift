import Foundation
import NIOCore
import SlipwayRuntime

/// The JSON (REST) binding of the Open Inference Protocol v2, as far as ``UpstreamClient`` speaks it: one
/// FP32 input tensor out, any number of output tensors back.
enum OpenInferenceJSON {
    /// Why a response could not be used; the caller wraps it in an `upstream_invalid_response` error.
    struct InvalidResponse: Error, Equatable {
        let reason: String
    }

    /// Writes `{"inputs":[{"name":…,"shape":[count,features],"datatype":"FP32","data":[…]}]}`.
    ///
    /// Written by hand rather than with `JSONEncoder`: the body is mostly floats, and this makes one buffer
    /// with no intermediate values. `inputName` must need no escaping (``UpstreamConfiguration`` checks it)
    /// and every value must be finite, as JSON has no NaN or infinity.
    static func encodeRequest(
        inputName: String, rows: [Float], count: Int, features: Int, allocator: ByteBufferAllocator = .init()
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 96 + inputName.utf8.count + rows.count * 12)
        buffer.writeString(#"{"inputs":[{"name":""#)
        buffer.writeString(inputName)
        buffer.writeString(#"","shape":["#)
        buffer.writeString(String(count))
        buffer.writeInteger(UInt8(ascii: ","))
        buffer.writeString(String(features))
        buffer.writeString(#"],"datatype":"FP32","data":["#)
        for (index, value) in rows.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            // `description` is the shortest text that reads back as the same Float, e.g. `0.1`, `1e-05`.
            buffer.writeString(value.description)
        }
        buffer.writeString("]}]}")
        return buffer
    }

    /// Parses a successful response's `outputs`, checking that every tensor's shape matches its data.
    ///
    /// `data` may be flat or nested (row-major either way). FP16/FP32/FP64/BF16 become floats,
    /// INT*/UINT* and BOOL (as 0 or 1) become 64-bit integers, BYTES become strings.
    static func decodeResponse(_ body: ByteBuffer) throws(InvalidResponse) -> [PredictionOutput] {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let response: Response
        do {
            response = try decoder.decode(Response.self, from: Data(body.readableBytesView))
        } catch let error as InvalidResponse {
            throw error
        } catch let error as DecodingError {
            throw InvalidResponse(reason: describe(error))
        } catch {
            throw InvalidResponse(reason: "the body is not valid JSON")
        }
        guard !response.outputs.isEmpty else { throw InvalidResponse(reason: "it has no outputs") }
        return response.outputs.map(\.prediction)
    }

    /// The message of an error body — `{"error": "…"}` (Triton, MLServer) or `{"detail": "…"}` — else the
    /// body's text, with control characters replaced and cut to `limit` characters.
    static func errorMessage(_ body: ByteBuffer, limit: Int = 300) -> String {
        let bytes = Data(body.readableBytesView)
        let message =
            (try? JSONDecoder().decode(ErrorBody.self, from: bytes))?.message
            ?? String(decoding: bytes, as: UTF8.self)
        let clean = String(
            message.map { $0.isNewline || ($0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false) ? " " : $0 }
        )
        .trimmingCharacters(in: .whitespaces)
        return clean.count > limit ? clean.prefix(limit) + "…" : clean
    }

    // MARK: Wire types

    private struct Response: Decodable {
        let outputs: [Output]
    }

    private struct ErrorBody: Decodable {
        let message: String?

        private enum CodingKeys: String, CodingKey { case error, detail, message }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            message =
                try container.decodeIfPresent(String.self, forKey: .error)
                ?? container.decodeIfPresent(String.self, forKey: .detail)
                ?? container.decodeIfPresent(String.self, forKey: .message)
        }
    }

    private struct Output: Decodable {
        let prediction: PredictionOutput

        private enum CodingKeys: String, CodingKey { case name, shape, datatype, data }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let name = try container.decode(String.self, forKey: .name)
            let shape = try container.decode([Int].self, forKey: .shape)
            let datatype = try container.decode(String.self, forKey: .datatype)
            let data: PredictionOutput.Data
            switch datatype.uppercased() {
            case "FP16", "FP32", "FP64", "BF16":
                data = .floats(try Self.flat(Double.self, container).map { Float($0) })
            case "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64":
                data = .int64s(try Self.flat(Int64.self, container))
            case "BOOL":
                let booleans = try? Self.flat(Bool.self, container)
                data = .int64s(try booleans.map { $0.map { $0 ? 1 : 0 } } ?? Self.flat(Int64.self, container))
            case "BYTES":
                data = .strings(try Self.flat(String.self, container))
            default:
                throw InvalidResponse(
                    reason: "output '\(name.prefix(64))' has the unsupported datatype '\(datatype.prefix(16))'")
            }
            let count: Int
            switch data {
            case .floats(let values): count = values.count
            case .int64s(let values): count = values.count
            case .strings(let values): count = values.count
            }
            var product = 1
            for dimension in shape {
                let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, !overflow else {
                    throw InvalidResponse(reason: "output '\(name.prefix(64))' has the invalid shape \(shape)")
                }
                product = next
            }
            guard product == count else {
                throw InvalidResponse(
                    reason: "output '\(name.prefix(64))' has shape \(shape) (\(product) values) but \(count) values")
            }
            prediction = PredictionOutput(name: name, shape: shape, data: data)
        }

        /// `data` as one row-major array, whether the server sent it flat or nested.
        private static func flat<T: Decodable>(
            _ type: T.Type, _ container: KeyedDecodingContainer<CodingKeys>
        ) throws -> [T] {
            // Flat and one level of nesting cover nearly every server; the recursive form handles the rest.
            if let values = try? container.decode([T].self, forKey: .data) { return values }
            if let rows = try? container.decode([[T]].self, forKey: .data) { return rows.flatMap { $0 } }
            return try container.decode(Nested<T>.self, forKey: .data).values
        }
    }

    /// An array of values or of arrays, to any depth, flattened in order.
    private struct Nested<T: Decodable>: Decodable {
        var values: [T] = []

        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            while !container.isAtEnd {
                switch try container.decode(Element.self) {
                case .value(let value): values.append(value)
                case .array(let nested): values.append(contentsOf: nested)
                }
            }
        }

        private enum Element: Decodable {
            case value(T)
            case array([T])

            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let value = try? container.decode(T.self) {
                    self = .value(value)
                } else {
                    self = .array(try container.decode(Nested<T>.self).values)
                }
            }
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "the body" : String(keys.drop { $0 == "." }.prefix(120))
        }
        switch error {
        case .keyNotFound(let key, let context):
            let at = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "the field '\(key.stringValue.prefix(64))' is missing\(at)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context)) has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "the body is not valid JSON" : "\(path(context)) is invalid"
        @unknown default:
            return "the body does not match the protocol"
        }
    }
}
