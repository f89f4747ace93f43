import Foundation
import SlipwayCore
import SwiftProtobuf

extension ONNXTensor {
    /// Decodes a serialized ONNX `TensorProto` (e.g. an ONNX backend test's `input_0.pb`).
    /// - Throws: ``SlipwayError`` (422) for malformed bytes, external data or an element type Slipway lacks.
    public init(serializedTensorProto bytes: [UInt8]) throws(SlipwayError) {
        let proto: Onnx_TensorProto
        do {
            proto = try Onnx_TensorProto(serializedBytes: bytes)
        } catch {
            throw .unprocessable("not a valid ONNX TensorProto: \(error)", code: "invalid_tensor")
        }
        try self.init(proto: proto, context: "tensor '\(proto.name)'")
    }

    /// Converts a `TensorProto` (an initializer, a tensor attribute, test data).
    /// - Parameter context: names the tensor in error messages.
    init(proto: Onnx_TensorProto, context: String) throws(SlipwayError) {
        func invalid(_ message: String) -> SlipwayError {
            .unprocessable("\(context): \(message)", code: "invalid_model")
        }
        if proto.dataLocation == .external || !proto.externalData.isEmpty {
            throw invalid(
                "stored as external data; save the model with all tensors inside the .onnx file "
                    + "(onnx.save_model(model, path, save_as_external_data=False))")
        }
        var shape: [Int] = []
        var count = 1
        for dimension in proto.dims {
            guard dimension >= 0, dimension <= Int64(Int32.max) else { throw invalid("has dimension \(dimension)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dimension))
            guard !overflow, product <= 1 << 31 else { throw invalid("has too many elements (shape \(proto.dims))") }
            shape.append(Int(dimension))
            count = product
        }
        let raw = proto.hasRawData ? proto.rawData : nil
        func check(_ actual: Int) throws(SlipwayError) {
            guard actual == count else {
                throw invalid("shape \(shape) needs \(count) elements, the data has \(actual)")
            }
        }
        func fromRaw<T>(_ type: T.Type, _ raw: Data) throws(SlipwayError) -> [T] {
            let size = MemoryLayout<T>.size
            guard raw.count == count * size else {
                throw invalid("shape \(shape) needs \(count * size) bytes of raw data, has \(raw.count)")
            }
            // ONNX raw data is little-endian; so is every platform Slipway runs on.
            return raw.withUnsafeBytes { bytes in
                (0..<count).map { bytes.loadUnaligned(fromByteOffset: $0 * size, as: T.self) }
            }
        }
        let storage: Storage
        switch Int(proto.dataType) {
        case ONNXElementType.float.rawValue:
            let values = try raw.map { (raw: Data) throws(SlipwayError) in try fromRaw(Float.self, raw) } ?? proto.floatData
            storage = .float(values)
        case ONNXElementType.double.rawValue:
            let values = try raw.map { (raw: Data) throws(SlipwayError) in try fromRaw(Double.self, raw) } ?? proto.doubleData
            storage = .double(values)
        case ONNXElementType.int64.rawValue:
            let values = try raw.map { (raw: Data) throws(SlipwayError) in try fromRaw(Int64.self, raw) } ?? proto.int64Data
            storage = .int64(values)
        case ONNXElementType.int32.rawValue:
            let values = try raw.map { (raw: Data) throws(SlipwayError) in try fromRaw(Int32.self, raw) } ?? proto.int32Data
            storage = .int32(values)
        case ONNXElementType.bool.rawValue:
            if let raw {
                storage = .bool(try fromRaw(UInt8.self, raw).map { $0 != 0 })
            } else {
                storage = .bool(proto.int32Data.map { $0 != 0 })
            }
        case 2, 3, 4, 5:
            // uint8, int8, uint16, int16: widened to int32 (e.g. TreeEnsemble's `nodes_modes` is uint8).
            let widened: [Int32]
            switch (proto.dataType, raw) {
            case (2, let raw?): widened = try fromRaw(UInt8.self, raw).map { Int32($0) }
            case (3, let raw?): widened = try fromRaw(Int8.self, raw).map { Int32($0) }
            case (4, let raw?): widened = try fromRaw(UInt16.self, raw).map { Int32($0) }
            case (5, let raw?): widened = try fromRaw(Int16.self, raw).map { Int32($0) }
            default: widened = proto.int32Data
            }
            storage = .int32(widened)
        case ONNXElementType.string.rawValue:
            storage = .string(proto.stringData.map { String(decoding: $0, as: UTF8.self) })
        case let other:
            throw invalid(
                "has element type \(ONNXElementType.protoName(other)); Slipway computes with float, double, "
                    + "int32, int64, bool and string tensors")
        }
        try check(storage.count)
        self.init(shape: shape, storage: storage)
    }
}
