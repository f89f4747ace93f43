import Foundation
import NIOCore

/// Prints results as aligned tables for people or as the server's JSON for scripts.
enum Output {
    static func print(json data: Data) {
        if let object = try? JSONSerialization.jsonObject(with: data),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        {
            Swift.print(String(decoding: pretty, as: UTF8.self))
        } else {
            Swift.print(String(decoding: data, as: UTF8.self))
        }
    }

    /// Renders rows under headers with columns padded to the widest cell.
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }

    static func object(_ data: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    static func items(_ data: Data) -> [[String: Any]] {
        object(data)["items"] as? [[String: Any]] ?? []
    }

    /// A JSON value as a table cell.
    static func cell(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: "-"
        case let string as String: string
        case let number as NSNumber:
            String(cString: number.objCType) == "c" ? (number.boolValue ? "yes" : "no") : number.stringValue
        case let dictionary as [String: Any]:
            dictionary.keys.sorted().map { "\($0)=\(cell(dictionary[$0]))" }.joined(separator: ",")
        case let array as [Any]: array.map { cell($0) }.joined(separator: ",")
        default: "\(value!)"
        }
    }

    /// Prints `data` per `format`: JSON as-is, or a table of `columns` (header, key) from its items or object.
    static func render(_ data: Data, _ format: OutputFormat, columns: [(String, String)]) {
        switch format {
        case .json:
            print(json: data)
        case .table:
            let object = object(data)
            let rows = (object["items"] as? [[String: Any]]) ?? [object]
            Swift.print(table(columns.map(\.0), rows.map { row in columns.map { cell(row[$0.1]) } }))
            if let next = object["next_cursor"] as? String {
                Swift.print("(more: --cursor \(next))")
            }
        }
    }

    /// Key/value lines for one object.
    static func details(_ data: Data, _ format: OutputFormat, keys: [String]) {
        switch format {
        case .json:
            print(json: data)
        case .table:
            let object = object(data)
            let width = keys.map(\.count).max() ?? 0
            for key in keys where object[key] != nil {
                Swift.print("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(cell(object[key]))")
            }
        }
    }
}

/// A progress bar on standard error, drawn only when it is a terminal.
final class ProgressBar: @unchecked Sendable {
    let total: Int64
    let label: String
    private let lock = NSLock()
    private var done: Int64 = 0
    private var lastDrawn = -1
    private let enabled = isatty(STDERR_FILENO) == 1

    init(total: Int64, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    func advance(by count: Int) {
        lock.lock()
        defer { lock.unlock() }
        done += Int64(count)
        let percent = Int(done * 100 / total)
        guard enabled, percent != lastDrawn else { return }
        lastDrawn = percent
        let filled = percent * 30 / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled)
        let text = "\r\(label) [\(bar)] \(percent)% \(Self.size(done))/\(Self.size(total))"
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// Reads a file as a stream of buffers, reporting progress, never holding it whole.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let chunkSize: Int
    let progress: ProgressBar?

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle?
        let chunkSize: Int
        let progress: ProgressBar?

        mutating func next() async throws -> ByteBuffer? {
            guard let handle, let data = try handle.read(upToCount: chunkSize), !data.isEmpty else {
                try? handle?.close()
                return nil
            }
            progress?.advance(by: data.count)
            return ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(handle: FileHandle(forReadingAtPath: path), chunkSize: chunkSize, progress: progress)
    }
}
