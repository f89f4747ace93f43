import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A real Open Inference Protocol v2 server on loopback, for testing ``UpstreamClient`` against the network.
///
/// `POST /v2/models/{model}/infer` answers each input row's sum as output `sum` (shape `[rows, 1]`, sent
/// nested) and the row count as `count` (INT64). ``fault`` changes what it does at runtime; ``stop()`` shuts
/// it down so its port refuses connections.
final class FakeInferenceServer: Sendable {
    enum Fault: Sendable, Equatable {
        case normal
        /// Holds each request until the fault changes (at most 4 s), then answers normally.
        case slow
        /// Answers with this status and body.
        case status(Int, body: String)
        /// Answers the next `count` requests with `status`, then normally.
        case failNext(Int, status: Int)
        /// Answers 200 with a body that is not JSON.
        case malformed
        /// Answers 200 with valid JSON padded to `bytes`.
        case huge(bytes: Int)
    }

    struct Seen: Sendable {
        var requests = 0
        var paths: [String] = []
        var authorization: [String?] = []
    }

    private let faultState = Mutex(Fault.normal)
    private let seenState = Mutex(Seen())
    private let group: ServiceGroup
    private let stopped: AsyncStream<Void>
    private let stopping = Mutex(false)
    let port: Int

    var fault: Fault {
        get { faultState.withLock { $0 } }
        set { faultState.withLock { $0 = newValue } }
    }

    var seen: Seen { seenState.withLock { $0 } }
    var requests: Int { seen.requests }

    /// Runs `body` with a started server, and stops the server afterwards.
    static func with<T: Sendable>(_ body: @Sendable (FakeInferenceServer) async throws -> T) async throws -> T {
        var quiet = Logger(label: "fake-inference-server")
        quiet.logLevel = .critical
        let logger = quiet
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let (stopped, stoppedContinuation) = AsyncStream.makeStream(of: Void.self)
        let holder = Holder()
        let app = Application(
            router: Self.router(holder),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-inference"),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { stoppedContinuation.finish() }
                try await group.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else { throw CancellationError() }
            let server = FakeInferenceServer(group: group, port: port, stopped: stopped)
            holder.server.withLock { $0 = server }
            do {
                let result = try await body(server)
                await server.stop()
                try await tasks.waitForAll()
                return result
            } catch {
                await server.stop()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    private init(group: ServiceGroup, port: Int, stopped: AsyncStream<Void>) {
        self.group = group
        self.port = port
        self.stopped = stopped
    }

    /// Shuts the server down gracefully and waits until its port is closed.
    func stop() async {
        fault = .normal  // releases slow requests, so shutdown does not wait for them
        // Only the first call waits: a stream has one consumer.
        guard
            stopping.withLock({ stopping in
                defer { stopping = true }
                return !stopping
            })
        else { return }
        await group.triggerGracefulShutdown()
        for await _ in stopped {}
    }

    /// Lets the router reach the server, which exists only once the port is known.
    private final class Holder: Sendable {
        let server = Mutex<FakeInferenceServer?>(nil)
    }

    private struct InferRequest: Decodable {
        struct Input: Decodable {
            let name: String
            let shape: [Int]
            let datatype: String
            let data: [Float]
        }
        let inputs: [Input]
    }

    private static func router(_ holder: Holder) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/v2/models/{model}/infer") { request, _ -> Response in
            guard let server = holder.server.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            return try await server.respond(to: request)
        }
        return router
    }

    private func respond(to request: Request) async throws -> Response {
        let fault = seenState.withLock { seen in
            seen.requests += 1
            seen.paths.append(request.uri.path)
            seen.authorization.append(request.headers[.authorization])
            return faultState.withLock { fault in
                let current = fault
                if case .failNext(let count, let status) = fault {
                    fault = count > 1 ? .failNext(count - 1, status: status) : .normal
                }
                return current
            }
        }
        switch fault {
        case .normal:
            break
        case .slow:
            let clock = ContinuousClock()
            let giveUp = clock.now + .seconds(4)
            while self.fault == .slow, clock.now < giveUp { try await Task.sleep(for: .milliseconds(20)) }
        case .status(let status, let body):
            return json(body, status: status)
        case .failNext(_, let status):
            return json(#"{"error":"failing on purpose"}"#, status: status)
        case .malformed:
            return json(#"{"outputs": [{"name": "sum", "sha"#, status: 200)
        case .huge(let bytes):
            let padding = String(repeating: "x", count: bytes)
            return json(
                #"{"id":"\#(padding)","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[1]}]}"#, status: 200)
        }
        let body = try await request.body.collect(upTo: 1 << 20)
        let decoded = try JSONDecoder().decode(InferRequest.self, from: Data(body.readableBytesView))
        guard let input = decoded.inputs.first, input.shape.count == 2, input.datatype == "FP32",
            input.shape[0] * input.shape[1] == input.data.count
        else {
            return json(#"{"error":"expected one FP32 input of shape [rows, features]"}"#, status: 400)
        }
        let (rows, features) = (input.shape[0], input.shape[1])
        let sums = (0..<rows).map { row in input.data[row * features..<(row + 1) * features].reduce(0, +) }
        let nested = sums.map { "[\($0)]" }.joined(separator: ",")
        return json(
            #"{"model_name":"m","outputs":[{"name":"sum","shape":[\#(rows),1],"datatype":"FP32","data":[\#(nested)]},"#
                + #"{"name":"count","shape":[1],"datatype":"INT64","data":[\#(rows)]}]}"#,
            status: 200)
    }

    private func json(_ text: String, status: Int) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
