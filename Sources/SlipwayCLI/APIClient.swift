import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A thin client of Slipway's HTTP API. Server errors become ``CLIFailure`` with the server's message.
struct APIClient: Sendable {
    let baseURL: String
    let key: String

    /// Sends a request and returns the JSON body (or nil for 204).
    func send(
        _ method: HTTPMethod, _ path: String, json: (any Encodable & Sendable)? = nil,
        body: HTTPClientRequest.Body? = nil, headers: [(String, String)] = []
    ) async throws -> Data {
        var request = HTTPClientRequest(url: baseURL.trimmingSuffix("/") + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(json)))
        } else if let body {
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = body
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .hours(2))
        } catch {
            throw CLIFailure(message: "cannot reach \(baseURL): \(error)", exitCode: ExitCodes.server)
        }
        let data: Data
        do {
            data = Data(buffer: try await response.body.collect(upTo: 64 * 1024 * 1024))
        } catch {
            throw CLIFailure(
                message: "reading the response from \(baseURL) failed: \(error)", exitCode: ExitCodes.server)
        }
        guard (200..<300).contains(response.status.code) else {
            throw Self.failure(status: Int(response.status.code), body: data)
        }
        return data
    }

    /// Streams a response body to `destination`.
    func download(_ path: String, to destination: String) async throws -> Int64 {
        var request = HTTPClientRequest(url: baseURL.trimmingSuffix("/") + path)
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .hours(2))
        } catch {
            throw CLIFailure(message: "cannot reach \(baseURL): \(error)", exitCode: ExitCodes.server)
        }
        guard response.status.code == 200 else {
            let data = Data(buffer: try await response.body.collect(upTo: 1024 * 1024))
            throw Self.failure(status: Int(response.status.code), body: data)
        }
        let temp = destination + ".part"
        FileManager.default.createFile(atPath: temp, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temp))
        var written: Int64 = 0
        do {
            for try await chunk in response.body {
                try handle.write(contentsOf: Data(buffer: chunk))
                written += Int64(chunk.readableBytes)
            }
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temp)
            throw CLIFailure(message: "download failed: \(error)", exitCode: ExitCodes.server)
        }
        if FileManager.default.fileExists(atPath: destination) {
            try FileManager.default.removeItem(atPath: destination)
        }
        try FileManager.default.moveItem(atPath: temp, toPath: destination)
        return written
    }

    static func failure(status: Int, body: Data) -> CLIFailure {
        struct Envelope: Decodable {
            struct Body: Decodable {
                let code: String
                let message: String
            }
            let error: Body
        }
        let message =
            (try? JSONDecoder().decode(Envelope.self, from: body)).map { "\($0.error.message) (\($0.error.code))" }
            ?? "HTTP \(status)"
        let code: Int32 =
            switch status {
            case 401, 403: ExitCodes.auth
            case 404: ExitCodes.notFound
            case 409: ExitCodes.conflict
            case 500...: ExitCodes.server
            default: ExitCodes.refused
            }
        return CLIFailure(message: message, exitCode: code)
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }

    /// Percent-encodes one path segment.
    var pathSegment: String {
        addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? self
    }
}
