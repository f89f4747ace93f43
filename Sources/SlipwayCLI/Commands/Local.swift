import ArgumentParser
import Foundation
import SlipwayCore
import SlipwayRuntime

/// `slipway models inspect FILE`: what the registry would make of a model file, without a server.
struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model file's format and signature, or why it would be refused (no server needed).")
    @Argument(help: "Model file.") var file: String
    @Option(help: "Output format: table or json.") var output: OutputFormat = .table

    func run() async throws {
        try await reporting {
            let bytes = try LocalModel.read(file)
            let (format, predictor) = try LocalModel.inspect(bytes)
            struct Report: Encodable {
                let format: String
                let servable: Bool
                let signature: ModelSignature?
                let operators: [String]?
                let opsets: [String: Int]?
                let producer: String?
            }
            let onnx = (predictor as? ONNXPredictor)?.model
            let report = Report(
                format: format.rawValue, servable: predictor != nil, signature: predictor?.signature,
                operators: onnx?.operators, opsets: onnx?.opsets, producer: onnx.map(\.producer))
            if output == .json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            print("format     \(format.rawValue)")
            guard let predictor else {
                print("servable   not yet: this format has no runtime in this version of Slipway")
                return
            }
            print("servable   yes")
            for tensor in predictor.signature.inputs {
                print("input      \(tensor.name) \(tensor.datatype.rawValue) \(tensor.shape)")
            }
            for tensor in predictor.signature.outputs {
                print("output     \(tensor.name) \(tensor.datatype.rawValue) \(tensor.shape)")
            }
            if let onnx {
                if !onnx.producer.isEmpty { print("producer   \(onnx.producer)") }
                print("opsets     \(onnx.opsets.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
                print("operators  \(onnx.operators.joined(separator: ", "))")
            }
        }
    }
}

/// `slipway predict`: runs a model file on rows locally and prints an Open Inference Protocol v2 response.
struct Predict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict with a model file on local rows (no server): check a model before uploading it.",
        discussion: """
            --input takes an Open Inference Protocol v2 request (.json: {"inputs":[{"name":…,"shape":[rows,features],
            "datatype":"FP32","data":[…]}]}) or a CSV of numbers (.csv; an optional header row; empty, NA or NaN
            cells are missing values). The output is an OIP v2 response.
            """)
    @Option(help: "Model file.") var model: String
    @Option(help: "Rows: an OIP v2 request .json or a .csv.") var input: String

    func run() async throws {
        try await reporting {
            let (format, loaded) = try LocalModel.inspect(try LocalModel.read(model))
            guard let predictor = loaded else {
                throw CLIFailure(message: "\(format.rawValue) models cannot be run yet", exitCode: ExitCodes.refused)
            }
            guard let data = FileManager.default.contents(atPath: input) else {
                throw CLIFailure(message: "cannot read '\(input)'", exitCode: 64)
            }
            let rows = try input.lowercased().hasSuffix(".csv") ? RowsInput.csv(data) : RowsInput.oipRequest(data)
            let outputs: [PredictionOutput]
            do {
                outputs = try predictor.predictOutputs(rows.values, rows: rows.count)
            } catch let error as SlipwayError {
                throw CLIFailure(message: error.message, exitCode: ExitCodes.refused)
            }
            let response: [String: Any] = [
                "model_name": URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent,
                "outputs": outputs.map { output -> [String: Any] in
                    let data: [Any] =
                        switch output.data {
                        case .floats(let values): values.map { $0.isFinite ? Double($0) as Any : NSNull() }
                        case .int64s(let values): values
                        case .strings(let values): values
                        }
                    return [
                        "name": output.name, "datatype": output.datatype.rawValue, "shape": output.shape, "data": data,
                    ]
                },
            ]
            let json = try JSONSerialization.data(withJSONObject: response, options: [.sortedKeys])
            print(String(decoding: json, as: UTF8.self))
        }
    }
}

/// Reading and checking a local model file.
enum LocalModel {
    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIFailure(message: "cannot read '\(path)'", exitCode: 64)
        }
        return Array(data)
    }

    static func inspect(_ bytes: [UInt8]) throws -> (ModelFormat, (any Predictor)?) {
        do {
            let result = try ModelLoader.inspect(bytes)
            return (result.format, result.predictor)
        } catch let error as SlipwayError {
            throw CLIFailure(message: error.message, exitCode: ExitCodes.refused)
        }
    }
}

/// A batch of rows as one row-major block of floats; NaN is a missing value.
struct RowsInput: Equatable {
    var values: [Float]
    var count: Int

    /// Numbers separated by commas, one row per line; a first line that is not numeric is a header.
    static func csv(_ data: Data) throws -> RowsInput {
        var values: [Float] = []
        var rows = 0
        var width: Int?
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
        for (index, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            let parsed = cells.map(parseCell)
            if index == 0, parsed.contains(where: { $0 == nil }) { continue }
            guard parsed.allSatisfy({ $0 != nil }) else {
                throw CLIFailure(message: "CSV line \(index + 1) has a cell that is not a number", exitCode: 64)
            }
            if let width, width != cells.count {
                throw CLIFailure(
                    message: "CSV line \(index + 1) has \(cells.count) cells, earlier lines have \(width)", exitCode: 64
                )
            }
            width = cells.count
            values += parsed.map { $0! }
            rows += 1
        }
        return RowsInput(values: values, count: rows)
    }

    static func parseCell(_ cell: String) -> Float? {
        switch cell.lowercased() {
        case "", "na", "nan", "null": .nan
        default: Float(cell)
        }
    }

    /// The first input tensor of an OIP v2 inference request; `data` may be flat or nested.
    static func oipRequest(_ data: Data) throws -> RowsInput {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let inputs = object["inputs"] as? [[String: Any]], let first = inputs.first
        else {
            throw CLIFailure(
                message: "expected an OIP v2 request: {\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}]}",
                exitCode: 64)
        }
        var values: [Float] = []
        func flatten(_ value: Any) throws {
            switch value {
            case let array as [Any]: for element in array { try flatten(element) }
            case let number as NSNumber: values.append(number.floatValue)
            case is NSNull: values.append(.nan)
            default: throw CLIFailure(message: "input data must be numbers (or null for missing)", exitCode: 64)
            }
        }
        try flatten(first["data"] ?? [Any]())
        let shape = (first["shape"] as? [NSNumber])?.map(\.intValue) ?? []
        guard let rows = shape.first, rows >= 0 else {
            throw CLIFailure(message: "the input needs a shape [rows, features]", exitCode: 64)
        }
        let expected = shape.reduce(1, *)
        guard expected == values.count else {
            throw CLIFailure(message: "shape \(shape) needs \(expected) values, data has \(values.count)", exitCode: 64)
        }
        return RowsInput(values: values, count: rows)
    }
}
