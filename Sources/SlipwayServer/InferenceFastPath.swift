import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import SlipwayCore

/// Answers small OIP v2 `POST /v2/models/{model}/infer` requests on the connection's event loop, without
/// the router, when nothing about them has to wait; hands every other request to the router untouched.
///
/// Through the router, a request crosses threads twice (the event loop reads it, a task on the
/// cooperative pool handles it, the event loop writes the answer) and passes the async body stream, the
/// trie router and three middleware. For a one-row prediction that costs more CPU than the prediction
/// itself. Here the whole request is one synchronous step on the loop that read it:
///
/// 1. The head qualifies: `POST /v2/models/NAME/infer` with no query, a `Content-Length` of at most
///    ``maxBodyBytes``, a bearer key, no `Expect`, no `Connection: close`, and no earlier request of this
///    connection still with the router (so responses keep their order on a pipelined connection).
/// 2. The body is buffered; then the same code as the router's path decides, in order: the key is in
///    the authentication cache (``CachingIdentityStore/cachedCaller(_:at:)``), the deployment resolves
///    (``PredictionService/resolve(name:caller:environment:team:)``), the body parses against its
///    signature (``PredictionController/inferRequest(_:target:)``), and the prediction can run at once
///    (``PredictionService/predictImmediately(_:on:)``: local version, no batching delay, a free slot,
///    rate limit and quota passing).
/// 3. If any of those says no, nothing has changed yet: the buffered request goes to the router, which
///    answers it, refusals included, exactly as it would have. Otherwise the answer is written here with
///    the router's headers (`X-Request-Id`, `X-Slipway-Model-Version`, `Date`, `Server`) and counted in the
///    same metrics, usage, latency statistics and prediction log.
///
/// Off when the log level is `debug` or finer (the router logs each request there) and with
/// `slipway serve --no-fast-path`.
final class InferenceFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The route this path answers, as the router and the metrics name it.
    static let route = "/v2/models/{model}/infer"
    /// Bodies up to this size are handled on the event loop (a one-row request is a few hundred bytes);
    /// bigger ones take the router. The prediction itself must also fit
    /// ``PredictionService/inlineBudget``, judged by the row cost measured when the version was warmed.
    static let maxBodyBytes = 64 * 1024

    private let service: PredictionService
    private let identity: CachingIdentityStore
    private let instrumentation: RequestInstrumentation
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let enabled: Bool

    /// A qualifying request whose body is still arriving.
    private var pending: Pending?
    /// Requests handed to the router whose response has not ended yet.
    private var withRouter = 0
    /// A shutdown notice held back while a request is pending, so the connection is not closed under it.
    private var heldQuiesce: Any?
    private var date = HTTPDate()

    init(platform: SlipwayPlatform, logger: Logger) {
        self.service = platform.predictions
        self.identity = platform.cachedIdentity
        self.instrumentation = platform.instrumentation
        self.now = platform.now
        self.logger = logger
        // The fast path applies the route's policy itself; it must still be "any authenticated caller".
        self.enabled =
            logger.logLevel > .debug
            && APIRoutes.policyTable[APIRoutes.key(.post, Self.route)] == .authenticated
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // Not while the socket is not writable: the router's stream then stops reading, which this
            // path (answering as it reads) would not.
            if enabled, withRouter == 0, context.channel.isWritable, let headers = Self.qualifying(head) {
                pending = Pending(
                    head: head, headers: headers, body: context.channel.allocator.buffer(capacity: headers.contentLength))
            } else {
                toRouter(context, .head(head))
            }
        case .body(var chunk):
            guard var request = pending else { return context.fireChannelRead(data) }
            guard request.body.readableBytes + chunk.readableBytes <= Self.maxBodyBytes else {
                handOver(context)
                return context.fireChannelRead(data)
            }
            pending = nil  // keeps the buffer uniquely referenced while appending
            request.body.writeBuffer(&chunk)
            pending = request
        case .end:
            guard let request = pending else { return context.fireChannelRead(data) }
            pending = nil
            if !answer(context, request) {
                handOver(context, request)
                context.fireChannelRead(data)
            }
            releaseQuiesce(context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if pending != nil, event is ChannelShouldQuiesceEvent {
            heldQuiesce = event
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending = nil
        context.fireChannelInactive()
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { withRouter = max(0, withRouter - 1) }
        context.write(data, promise: promise)
    }

    // MARK: Deciding

    /// The headers of a request this path may answer, or nil.
    static func qualifying(_ head: HTTPRequest) -> Headers? {
        guard head.method == .post, modelName(head.path) != nil, let headers = Headers(head.headerFields),
            headers.contentLength > 0, headers.contentLength <= maxBodyBytes, headers.authorization != nil
        else { return nil }
        return headers
    }

    /// A request whose body is still arriving.
    struct Pending {
        var head: HTTPRequest
        var headers: Headers
        var body: ByteBuffer
    }

    /// The header fields this path reads, found in one pass (each `HTTPFields` lookup by name is a search).
    struct Headers {
        var contentLength = 0
        var authorization: String?
        var environment: String?
        var team: String?
        var requestID: String?

        /// Nil for what the router must answer: no or a repeated `Content-Length`, a repeated field this
        /// path reads, `Expect`, `Transfer-Encoding`, `Connection: close`.
        init?(_ fields: HTTPFields) {
            var length: Int?
            func once(_ value: String, into slot: inout String?) -> Bool {
                guard slot == nil else { return false }
                slot = value
                return true
            }
            for field in fields {
                switch field.name {
                case .contentLength:
                    guard length == nil, let value = Int(field.value) else { return nil }
                    length = value
                case .authorization: guard once(field.value, into: &authorization) else { return nil }
                case PredictionController.environmentHeader: guard once(field.value, into: &environment) else { return nil }
                case PredictionController.teamHeader: guard once(field.value, into: &team) else { return nil }
                case RequestLoggingMiddleware.requestIDHeader: guard once(field.value, into: &requestID) else { return nil }
                case .expect, .transferEncoding: return nil
                case .connection: if field.value.lowercased().contains("close") { return nil }
                default: break
                }
            }
            guard let length else { return nil }
            contentLength = length
        }
    }

    /// `NAME` of `/v2/models/NAME/infer` (no query, no further segments), or nil.
    static func modelName(_ path: String?) -> Substring? {
        guard let path, path.hasPrefix("/v2/models/"), path.hasSuffix("/infer") else { return nil }
        let name = path.utf8.dropFirst("/v2/models/".utf8.count).dropLast("/infer".utf8.count)
        guard !name.isEmpty, !name.contains(UInt8(ascii: "/")), !name.contains(UInt8(ascii: "?")) else { return nil }
        return Substring(name)
    }

    /// Answers the request if it can be answered here; false, having changed nothing, if not.
    private func answer(_ context: ChannelHandlerContext, _ request: Pending) -> Bool {
        let started = ContinuousClock.now
        let (head, headers, body) = (request.head, request.headers, request.body)
        guard let name = Self.modelName(head.path).map(String.init), ResourceName.isValid(name),
            let header = headers.authorization, header.hasPrefix("Bearer "),
            let token = APIKeyToken(parsing: AuthorizationMiddleware.trimmed(header.dropFirst("Bearer ".count))),
            let caller = identity.cachedCaller(token, at: now()),
            let environment = try? DeploymentEnvironment.parse(
                headers.environment ?? "production"),
            let target = try? service.resolve(
                name: name, caller: caller, environment: environment,
                team: headers.team),
            let parsed = try? PredictionController.inferRequest(body, target: target),
            PredictionController.outputsExist(parsed, target: target)
        else { return false }

        let requestID = instrumentation.requestID(client: headers.requestID)
        let prediction = PredictionRequest(
            rows: parsed.rows.values, count: parsed.rows.count, features: parsed.rows.features, version: nil,
            requestID: requestID, inputsForLog: { String(buffer: body) })
        // Appended, not set by name: each `HTTPFields` subscript write searches the fields first.
        var fields = HTTPFields()
        fields.append(HTTPField(name: .contentType, value: "application/json"))
        let status: HTTPResponse.Status
        let bytes: [UInt8]
        do {
            guard let result = try service.predictImmediately(prediction, on: target) else { return false }
            bytes = try PredictionController.inferResponse(parsed, result, target: target)
            fields.append(HTTPField(name: PredictionController.versionHeader, value: String(result.version)))
            status = .ok
        } catch {
            // The prediction ran and failed (its version and fallback, or the deadline): answered here as
            // the router would, since it is already recorded.
            let failure = error as? SlipwayError ?? .internal("\(error)")
            status = ErrorMiddleware.status(for: failure.kind)
            if failure.kind == .internal {
                logger.error("internal error", metadata: ["error": "\(failure.message)", "request_id": "\(requestID)"])
                bytes = ErrorMiddleware.envelope(
                    code: failure.code, message: "internal error; report request ID \(requestID) to your platform admins")
            } else {
                bytes = PredictionController.oipError(failure.message)
            }
            if let retryAfter = failure.retryAfter { fields.append(HTTPField(name: .retryAfter, value: String(retryAfter))) }
        }
        fields.append(HTTPField(name: RequestLoggingMiddleware.requestIDHeader, value: requestID))
        fields.append(HTTPField(name: .contentLength, value: String(bytes.count)))
        fields.append(HTTPField(name: .date, value: date.now()))
        fields.append(HTTPField(name: .server, value: "slipway"))
        let elapsed = ContinuousClock.now - started
        instrumentation.record(method: "POST", route: Self.route, status: status.code, elapsed: elapsed)
        instrumentation.fastPathAnswered.increment()
        if status != .ok {
            logger.info(
                "request",
                metadata: [
                    "method": "POST", "path": "\(head.path ?? "")", "status": "\(status.code)",
                    "duration_ms": "\(String(format: "%.3f", elapsed.milliseconds))",
                    "principal": "\(caller.principal.name)", "request_id": "\(requestID)",
                ])
        }

        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: bytes))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        return true
    }

    // MARK: Handing over to the router

    private func toRouter(_ context: ChannelHandlerContext, _ part: HTTPRequestPart) {
        if case .head = part { withRouter += 1 }
        context.fireChannelRead(wrapInboundOut(part))
    }

    /// Passes the pending request (head and the body so far) on to the router.
    private func handOver(_ context: ChannelHandlerContext, _ request: Pending? = nil) {
        guard let request = request ?? pending else { return }
        pending = nil
        toRouter(context, .head(request.head))
        if request.body.readableBytes > 0 { toRouter(context, .body(request.body)) }
        releaseQuiesce(context)
    }

    private func releaseQuiesce(_ context: ChannelHandlerContext) {
        guard let event = heldQuiesce else { return }
        heldQuiesce = nil
        context.fireUserInboundEventTriggered(event)
    }
}

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted at most once a second.
struct HTTPDate {
    private var second = 0
    private var text = ""

    mutating func now() -> String {
        let current = time(nil)
        if current != second {
            second = current
            text = Self.format(current)
        }
        return text
    }

    static func format(_ seconds: Int) -> String {
        var clock = seconds
        var parts = tm()
        gmtime_r(&clock, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
