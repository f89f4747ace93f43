import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore
import SlipwayRuntime
import SlipwayServing

/// The prediction APIs, all routed to one ``PredictionService``:
///
/// - Open Inference Protocol v2 (`/v2/...`), errors as `{"error": "..."}` as the protocol says;
/// - KServe V1 (`POST /v1/models/{m}:predict` with `instances`);
/// - MLflow scoring (`POST /mlflow/{m}/invocations` with `dataframe_split`, `dataframe_records`,
///   `instances` or `inputs`).
///
/// `{m}` is a deployment's endpoint name in one of the caller's teams (header `X-Slipway-Team` picks one
/// when several teams use the name), in environment `production` unless `X-Slipway-Environment` (or
/// `?environment=`) says otherwise. Every answer names the version that produced it, in the
/// `X-Slipway-Model-Version` header and in the body.
struct PredictionController {
    let service: PredictionService
    let maxBodyBytes: Int
    let isReady: @Sendable () async -> Bool

    static let versionHeader = HTTPField.Name("X-Slipway-Model-Version")!
    static let teamHeader = HTTPField.Name("X-Slipway-Team")!
    static let environmentHeader = HTTPField.Name("X-Slipway-Environment")!

    func register(on router: Router<SlipwayRequestContext>) {
        router.get("/v2") { _, _ in
            try Response.json(OIPServerMetadata(name: "slipway", version: "0.1.0", extensions: []))
        }
        router.get("/v2/health/live") { _, _ in try Response.json(["live": true]) }
        router.get("/v2/health/ready") { _, _ in
            let ready = await isReady()
            return try Response.json(["ready": ready], status: ready ? .ok : .serviceUnavailable)
        }
        router.get("/v2/models/{model}") { request, context in
            try await oip(request, context) { target in try Response.json(OIPModelMetadata(target, version: nil)) }
        }
        router.get("/v2/models/{model}/versions/{version}") { request, context in
            try await oip(request, context) { target in
                let version = try versionParameter(context, target)
                return try Response.json(OIPModelMetadata(target, version: version))
            }
        }
        router.get("/v2/models/{model}/ready") { request, context in
            try await oip(request, context) { target in try Response.json(OIPReady(name: target.deployment.endpoint, ready: true)) }
        }
        router.get("/v2/models/{model}/versions/{version}/ready") { request, context in
            try await oip(request, context) { target in
                _ = try versionParameter(context, target)
                return try Response.json(OIPReady(name: target.deployment.endpoint, ready: true))
            }
        }
        router.post("/v2/models/{model}/infer") { request, context in
            try await oip(request, context) { target in try await infer(request, context, target, version: nil) }
        }
        router.post("/v2/models/{model}/versions/{version}/infer") { request, context in
            try await oip(request, context) { target in
                try await infer(request, context, target, version: try versionParameter(context, target))
            }
        }
        // KServe V1: the verb follows a colon in the last segment.
        router.get("/v1/models/{model}") { request, context in
            let target = try resolve(request, context, name: try context.parameter("model"))
            return try Response.json(["name": target.deployment.endpoint, "ready": "True"])
        }
        router.post("/v1/models/{model}") { request, context in
            guard let spec = context.parameters.get("model"), spec.hasSuffix(":predict") else {
                throw SlipwayError.notFound(
                    "use POST /v1/models/NAME:predict (KServe V1); ':explain' is not supported", code: "route_not_found")
            }
            let name = String(spec.dropLast(":predict".count))
            try ResourceName.validate(name, as: "model")
            let target = try resolve(request, context, name: name)
            let (body, raw) = try await jsonBody(request)
            guard let instances = body["instances"] ?? body["inputs"] else {
                throw SlipwayError.badRequest(
                    "a KServe V1 request needs \"instances\": [[feature, …], …]", code: "invalid_input")
            }
            let rows = try TabularInput.rows(instances, features: target.featureCount, what: "instances")
            let result = try await predict(rows, target, context, version: nil, body: raw)
            return try jsonResponse(["predictions": Self.perRow(result.outputs[0])], version: result.version)
        }
        router.post("/mlflow/{model}/invocations") { request, context in
            let target = try resolve(request, context, name: try context.parameter("model"))
            let (body, raw) = try await jsonBody(request)
            let rows = try TabularInput.mlflow(body, features: target.featureCount)
            let result = try await predict(rows, target, context, version: nil, body: raw)
            return try jsonResponse(["predictions": Self.perRow(result.outputs[0])], version: result.version)
        }
    }

    // MARK: Open Inference Protocol v2

    /// Runs an OIP handler, answering errors as `{"error": "message"}` with their status (and Retry-After).
    private func oip(
        _ request: Request, _ context: SlipwayRequestContext, _ body: (LiveDeployment) async throws -> Response
    ) async throws -> Response {
        do {
            let target = try resolve(request, context, name: try context.parameter("model"))
            return try await body(target)
        } catch let error as SlipwayError {
            if error.kind == .internal { throw error }
            var response = Response(
                status: ErrorMiddleware.status(for: error.kind), headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Self.oipError(error.message))))
            if let retryAfter = error.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
            return response
        }
    }

    /// `POST …/infer`: parsed and answered without Foundation's JSON (the hot path).
    private func infer(
        _ request: Request, _ context: SlipwayRequestContext, _ target: LiveDeployment, version: Int?
    ) async throws -> Response {
        let raw = try await JSONCoding.collect(request, limit: maxBodyBytes)
        let parsed = try Self.inferRequest(raw, target: target)
        let result = try await predict(parsed.rows, target, context, version: version, body: raw)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", Self.versionHeader: String(result.version)],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try Self.inferResponse(parsed, result, target: target))))
    }

    /// An OIP v2 error body: `{"error": message}`.
    static func oipError(_ message: String) -> [UInt8] {
        var writer = JSONWriter()
        writer.raw("{\"error\":")
        writer.string(message)
        writer.raw("}")
        return writer.bytes
    }

    /// An OIP v2 infer body, parsed and checked against `target`'s signature.
    /// - Throws: ``SlipwayError`` 400 naming what is wrong.
    static func inferRequest(_ raw: ByteBuffer, target: LiveDeployment) throws -> OIPInferRequest {
        guard raw.readableBytes > 0 else {
            throw SlipwayError.badRequest("the request needs a JSON body", code: "invalid_json")
        }
        let body: JSONValue
        do {
            body = try JSONValue.parse(raw.readableBytesView)
        } catch {
            throw SlipwayError.badRequest("the body is not valid JSON", code: "invalid_json")
        }
        guard body.isObject else { throw SlipwayError.badRequest("the body must be a JSON object", code: "invalid_json") }
        return try OIPInferRequest(body, target: target)
    }

    /// The OIP v2 infer response body: the outputs the request asked for (all by default).
    /// - Throws: ``SlipwayError`` 400 when the request named an output the model does not have.
    static func inferResponse(_ parsed: OIPInferRequest, _ result: PredictionResult, target: LiveDeployment) throws
        -> [UInt8]
    {
        var outputs = result.outputs
        if let requested = parsed.requestedOutputs {
            let names = Set(outputs.map(\.name))
            if let unknown = requested.first(where: { !names.contains($0) }) {
                throw SlipwayError.badRequest(
                    "output '\(unknown)' is not an output of '\(target.deployment.endpoint)'; it has "
                        + outputs.map { "'\($0.name)'" }.joined(separator: ", "),
                    code: "invalid_output")
            }
            outputs = outputs.filter { requested.contains($0.name) }
        }
        var writer = JSONWriter()
        writer.raw("{\"model_name\":")
        writer.string(target.deployment.endpoint)
        writer.raw(",\"model_version\":")
        writer.string(String(result.version))
        if let id = parsed.id {
            writer.raw(",\"id\":")
            writer.string(id)
        }
        if result.usedFallback { writer.raw(",\"parameters\":{\"slipway_fallback\":true}") }
        writer.raw(",\"outputs\":")
        writer.tensors(outputs)
        writer.raw("}")
        return writer.bytes
    }

    /// Whether every output `parsed` asks for exists (so the response cannot fail after predicting).
    static func outputsExist(_ parsed: OIPInferRequest, target: LiveDeployment) -> Bool {
        guard let requested = parsed.requestedOutputs else { return true }
        let names = Set(target.signature?.outputs.map(\.name) ?? [])
        return requested.allSatisfy(names.contains)
    }

    // MARK: Shared

    private func predict(
        _ rows: TabularInput, _ target: LiveDeployment, _ context: SlipwayRequestContext, version: Int?,
        body: ByteBuffer
    ) async throws -> PredictionResult {
        let request = PredictionRequest(
            rows: rows.values, count: rows.count, features: rows.features, version: version,
            requestID: context.requestID, inputsForLog: { String(buffer: body) })
        return try await service.predict(request, on: target)
    }

    /// Finds the deployment `name` among the caller's teams (see ``PredictionService/resolve(name:caller:environment:team:)``).
    private func resolve(_ request: Request, _ context: SlipwayRequestContext, name: String) throws -> LiveDeployment {
        let environment = try DeploymentEnvironment.parse(
            request.headers[Self.environmentHeader]
                ?? request.uri.queryParameters.get("environment").map { String($0) } ?? "production")
        return try service.resolve(
            name: name, caller: try context.requireCaller(), environment: environment,
            team: request.headers[Self.teamHeader])
    }

    private func versionParameter(_ context: SlipwayRequestContext, _ target: LiveDeployment) throws -> Int {
        let text = try context.parameter("version")
        guard let version = Int(text), target.versions[version] != nil else {
            throw SlipwayError.notFound(
                "'\(target.deployment.endpoint)' does not serve version '\(text)'; it serves "
                    + target.deployment.versions.map(String.init).joined(separator: ", "),
                code: "version_not_found")
        }
        return version
    }

    private func jsonObject(_ request: Request) async throws -> [String: Any] {
        try await jsonBody(request).object
    }

    /// The body as a JSON object, and its bytes (kept for the prediction log).
    private func jsonBody(_ request: Request) async throws -> (object: [String: Any], raw: ByteBuffer) {
        let buffer = try await JSONCoding.collect(request, limit: maxBodyBytes)
        guard buffer.readableBytes > 0 else {
            throw SlipwayError.badRequest("the request needs a JSON body", code: "invalid_json")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(buffer: buffer), options: [.fragmentsAllowed])
        } catch {
            throw SlipwayError.badRequest("the body is not valid JSON", code: "invalid_json")
        }
        guard let dictionary = object as? [String: Any] else {
            throw SlipwayError.badRequest("the body must be a JSON object", code: "invalid_json")
        }
        return (dictionary, buffer)
    }

    private func jsonResponse(_ object: [String: Any], version: Int) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", Self.versionHeader: String(version)],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func oipTensor(_ output: PredictionOutput) -> [String: Any] {
        let data: [Any] =
            switch output.data {
            case .floats(let values): values.map { $0.isFinite ? Double($0) as Any : NSNull() }
            case .int64s(let values): values
            case .strings(let values): values
            }
        return ["name": output.name, "datatype": output.datatype.rawValue, "shape": output.shape, "data": data]
    }

    /// One entry per row: a number when each row has one value, else the row's values.
    static func perRow(_ output: PredictionOutput) -> [Any] {
        let rows = output.shape.first ?? 0
        let width = rows == 0 ? 0 : output.shape.dropFirst().reduce(1, *)
        func split<T>(_ values: [T]) -> [Any] {
            (0..<rows).map { row in
                width == 1 ? values[row] as Any : Array(values[(row * width)..<((row + 1) * width)]) as Any
            }
        }
        switch output.data {
        case .floats(let values): return split(values.map { $0.isFinite ? Double($0) as Any : NSNull() })
        case .int64s(let values): return split(values)
        case .strings(let values): return split(values)
        }
    }
}

/// `GET /v2`: the server's name, version and protocol extensions.
struct OIPServerMetadata: Encodable {
    let name: String
    let version: String
    let extensions: [String]
}

struct OIPReady: Encodable {
    let name: String
    let ready: Bool
}

/// `GET /v2/models/{m}`: name, versions, platform, and the input/output tensors.
struct OIPModelMetadata: Encodable {
    struct Tensor: Encodable {
        let name: String
        let datatype: String
        let shape: [Int]
    }
    let name: String
    let versions: [String]
    let platform: String
    let inputs: [Tensor]
    let outputs: [Tensor]

    init(_ target: LiveDeployment, version: Int?) {
        name = target.deployment.endpoint
        versions = target.deployment.versions.map(String.init)
        let loaded = version.flatMap { target.versions[$0] } ?? target.versions[target.split.routes[0].version]
        let signature = loaded?.signature ?? ModelSignature(inputs: [], outputs: [])
        platform = "slipway"
        inputs = signature.inputs.map { Tensor(name: $0.name, datatype: $0.datatype.rawValue, shape: $0.shape) }
        outputs = signature.outputs.map { Tensor(name: $0.name, datatype: $0.datatype.rawValue, shape: $0.shape) }
    }
}

/// Rows of numbers parsed from a request, as one contiguous block.
struct TabularInput {
    var values: [Float]
    var count: Int
    var features: Int

    /// `[[f, …], …]` (or one flat row `[f, …]`) of numbers; null is a missing value.
    static func rows(_ object: Any, features: Int, what: String) throws -> TabularInput {
        guard let list = object as? [Any], !list.isEmpty else {
            throw SlipwayError.badRequest("\(what) must be a non-empty array of rows", code: "invalid_input")
        }
        if list.first is [Any] {
            var values: [Float] = []
            values.reserveCapacity(list.count * features)
            for (index, row) in list.enumerated() {
                guard let row = row as? [Any], row.count == features else {
                    throw SlipwayError.badRequest(
                        "\(what)[\(index)] must be an array of \(features) numbers", code: "invalid_input")
                }
                for (column, cell) in row.enumerated() {
                    values.append(try number(cell, "\(what)[\(index)][\(column)]"))
                }
            }
            return TabularInput(values: values, count: list.count, features: features)
        }
        guard list.count == features else {
            throw SlipwayError.badRequest(
                "\(what) must be rows of \(features) numbers (an array of arrays), got one row of \(list.count)",
                code: "invalid_input")
        }
        let values = try list.enumerated().map { try number($0.element, "\(what)[\($0.offset)]") }
        return TabularInput(values: values, count: 1, features: features)
    }

    /// MLflow's scoring formats: `dataframe_split`, `dataframe_records`, `instances`, `inputs`.
    static func mlflow(_ body: [String: Any], features: Int) throws -> TabularInput {
        if let split = body["dataframe_split"] as? [String: Any] {
            guard let data = split["data"] else {
                throw SlipwayError.badRequest("dataframe_split needs \"data\": [[…], …]", code: "invalid_input")
            }
            if let columns = split["columns"] as? [Any], columns.count != features {
                throw SlipwayError.badRequest(
                    "dataframe_split has \(columns.count) columns; the model takes \(features) features",
                    code: "invalid_input")
            }
            return try rows(data, features: features, what: "dataframe_split.data")
        }
        if let records = body["dataframe_records"] as? [Any] {
            guard let first = records.first as? [String: Any] else {
                throw SlipwayError.badRequest(
                    "dataframe_records must be a non-empty array of {column: value} objects", code: "invalid_input")
            }
            let columns = first.keys.sorted()
            guard columns.count == features else {
                throw SlipwayError.badRequest(
                    "dataframe_records rows have \(columns.count) columns; the model takes \(features) features",
                    code: "invalid_input")
            }
            let table: [[Any]] = try records.enumerated().map { index, record in
                guard let record = record as? [String: Any], Set(record.keys) == Set(columns) else {
                    throw SlipwayError.badRequest(
                        "dataframe_records[\(index)] must have the columns \(columns.joined(separator: ", "))",
                        code: "invalid_input")
                }
                return columns.map { record[$0] ?? NSNull() }
            }
            return try rows(table, features: features, what: "dataframe_records")
        }
        if let instances = body["instances"] { return try rows(instances, features: features, what: "instances") }
        if let inputs = body["inputs"] { return try rows(inputs, features: features, what: "inputs") }
        throw SlipwayError.badRequest(
            "an MLflow scoring request needs one of dataframe_split, dataframe_records, instances or inputs",
            code: "invalid_input")
    }

    static func number(_ cell: Any, _ where_: String) throws -> Float {
        if cell is NSNull { return .nan }
        if let number = cell as? NSNumber { return number.floatValue }
        throw SlipwayError.badRequest("\(where_) must be a number or null", code: "invalid_input")
    }
}

/// A parsed `POST …/infer` body.
struct OIPInferRequest {
    var id: String?
    var rows: TabularInput
    var requestedOutputs: [String]?

    static let numericTypes: Set<String> = [
        "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64",
    ]

    init(_ body: JSONValue, target: LiveDeployment) throws {
        id = body["id"]?.string
        guard let inputs = body["inputs"]?.array, !inputs.isEmpty else {
            throw SlipwayError.badRequest("the request needs \"inputs\": [{name, shape, datatype, data}]", code: "invalid_input")
        }
        let expected = target.signature?.inputs.first
        let features = target.featureCount
        guard inputs.count == 1, inputs[0].isObject else {
            throw SlipwayError.badRequest(
                "'\(target.deployment.endpoint)' takes one input\(expected.map { " '\($0.name)'" } ?? ""), got \(inputs.count)",
                code: "invalid_input")
        }
        let input = inputs[0]
        guard let name = input["name"]?.string else {
            throw SlipwayError.badRequest("inputs[0] needs a \"name\"", code: "invalid_input")
        }
        if let expected, expected.name != name {
            throw SlipwayError.badRequest(
                "input '\(name.prefix(64))' is not an input of '\(target.deployment.endpoint)'; it takes '\(expected.name)' "
                    + "(\(expected.datatype.rawValue) \(expected.shape))",
                code: "invalid_input")
        }
        guard let datatype = input["datatype"]?.string, Self.numericTypes.contains(datatype) else {
            throw SlipwayError.badRequest(
                "input '\(name)' needs a numeric \"datatype\" such as FP32 (got \(input["datatype"]?.string ?? "none"))",
                code: "invalid_input")
        }
        var dims: [Int] = []
        for dimension in input["shape"]?.array ?? [] {
            guard let number = dimension.number, let size = Int(exactly: number), (0...(1 << 24)).contains(size) else {
                dims.removeAll()
                break
            }
            dims.append(size)
        }
        guard (1...2).contains(dims.count), dims.count == input["shape"]?.array?.count else {
            throw SlipwayError.badRequest(
                "input '\(name)' needs \"shape\": [rows, \(features)] (or [\(features)] for one row)", code: "invalid_input")
        }
        guard dims.last == features else {
            throw SlipwayError.badRequest(
                "input '\(name)' has shape \(dims); '\(target.deployment.endpoint)' takes [rows, \(features)]",
                code: "invalid_input")
        }
        let count = dims.count == 2 ? dims[0] : 1
        guard count > 0 else { throw SlipwayError.badRequest("input '\(name)' has no rows", code: "invalid_input") }
        guard let raw = input["data"]?.array else {
            throw SlipwayError.badRequest("input '\(name)' needs \"data\": [numbers]", code: "invalid_input")
        }
        var values: [Float] = []
        values.reserveCapacity(count * features)
        func flatten(_ items: [JSONValue]) throws {
            for item in items {
                switch item {
                case .array(let nested): try flatten(nested)
                case .null: values.append(.nan)
                case .number(let number): values.append(Float(number))
                case .bool(let flag): values.append(flag ? 1 : 0)
                default:
                    throw SlipwayError.badRequest(
                        "input '\(name)' data must hold numbers (\(datatype)), found a string or object", code: "invalid_input")
                }
                guard values.count <= count * features else { break }
            }
        }
        try flatten(raw)
        guard values.count == count * features else {
            throw SlipwayError.badRequest(
                "input '\(name)' has shape \(dims), which needs \(count * features) values; data has "
                    + (values.count > count * features ? "more" : "\(values.count)"),
                code: "invalid_input")
        }
        rows = TabularInput(values: values, count: count, features: features)
        if let outputs = body["outputs"]?.array {
            requestedOutputs = outputs.compactMap { $0["name"]?.string }
        }
    }
}
