import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// ``AWSHTTPTransport`` for direct connections: HTTP/1.1 on kept-alive connections, one exchange at a time on each.
///
/// AWS calls are small POSTs with small answers, and at organization scale their number makes the per-call cost
/// of the HTTP layer the exporter's main CPU cost. This transport writes the head and body of a request in one
/// system call and reads the answer into one buffer, with one event-loop timer as its deadline; AsyncHTTPClient,
/// still used through proxies, costs about twice the CPU per call (the organization benchmark in the README).
///
/// The pool does not limit how many connections are open at once: callers bound their own concurrency (the
/// exporter's `max_concurrency`), and the pool keeps at most ``Configuration/maxIdleConnectionsPerHost`` of them
/// when they are done.
public final class KeptAliveTransport: AWSHTTPTransport {
    /// How connections are made and kept.
    public struct Configuration: Sendable {
        /// The longest a TCP connection (and TLS handshake) may take; the request's own deadline may cut it shorter.
        public var connectTimeout: Duration = .seconds(3)
        /// Idle connections kept per host once their exchange is done.
        public var maxIdleConnectionsPerHost: Int = 8
        /// An idle connection older than this is closed rather than reused: servers close theirs after about a
        /// minute, and a request written to a connection the server is closing fails.
        public var idleTimeout: Duration = .seconds(50)
        /// A larger response body fails the exchange instead of exhausting memory.
        public var maxResponseBytes: Int = 8 << 20

        public init() {}
    }

    private struct HostKey: Hashable {
        let secure: Bool
        let host: String
        let port: Int
    }

    private struct IdleConnection {
        let connection: Connection
        let since: NIODeadline
    }

    public let configuration: Configuration
    /// The executor whose tasks make their calls on the loop of their connection, without a thread hop.
    public let taskExecutor: EventLoopGroupTaskExecutor
    private let group: any EventLoopGroup
    private let tlsContext: NIOSSLContext
    private let idle = Mutex<[HostKey: [IdleConnection]]>([:])
    private let isShutDown = Atomic<Bool>(false)
    /// Parsed request targets by URL: a process calls a handful of endpoints thousands of times, and Foundation's
    /// URL accessors cost a few microseconds per call.
    private let targets = Mutex<[URL: Target]>([:])

    /// - Parameter tlsConfiguration: for `https` hosts; the default verifies certificates against the system's
    ///   trust store and the host name.
    public init(
        configuration: Configuration = Configuration(),
        tlsConfiguration: TLSConfiguration = .makeClientConfiguration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.configuration = configuration
        self.group = group
        self.taskExecutor = EventLoopGroupTaskExecutor(group: group)
        self.tlsContext = try NIOSSLContext(configuration: tlsConfiguration)
    }

    public func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
        guard !isShutDown.load(ordering: .relaxed) else {
            throw AWSTransportError.connection("the HTTP transport is shut down")
        }
        let target = try target(of: request.url)
        let encoded = try Self.encode(request, target: target)
        let deadline = NIODeadline.now() + .nanoseconds(Int64(max(1_000_000, timeout.clampedNanoseconds)))
        let connection: Connection
        if let reused = takeIdle(target.key) {
            connection = reused
        } else {
            connection = try await connect(target, deadline: deadline)
        }
        let response: AWSHTTPResponse
        let keepAlive: Bool
        do {
            (response, keepAlive) = try await withTaskCancellationHandler {
                try await connection.exchange(encoded, deadline: deadline)
            } onCancel: {
                connection.abort()
            }
        } catch {
            throw AWSTransportError.classifying(error, target: target.description)
        }
        if keepAlive {
            putIdle(connection, target.key)
        } else {
            connection.close()
        }
        return response
    }

    /// Closes every idle connection; later requests fail.
    public func shutdown() async {
        isShutDown.store(true, ordering: .relaxed)
        let all = idle.withLock { idle in
            defer { idle.removeAll() }
            return idle.values.flatMap { $0 }
        }
        for entry in all { try? await entry.connection.channel.close() }
    }

    // MARK: - The pool

    private func takeIdle(_ key: HostKey) -> Connection? {
        let now = NIODeadline.now()
        let idleTimeout = TimeAmount.nanoseconds(Int64(configuration.idleTimeout.clampedNanoseconds))
        var expired: [Connection] = []
        defer { for connection in expired { connection.close() } }
        // A caller on one of the loops (EventLoopGroupTaskExecutor) is best served by a connection on that loop.
        let current = taskExecutor.currentLoop
        return idle.withLock { idle in
            guard idle[key] != nil else { return nil }
            // Taken in place: a copy of the host's list, as `var entries = idle[key]` makes, costs its length.
            let connection = Self.takeUsable(from: &idle[key, default: []], preferring: current) { entry in
                let usable = now - entry.since < idleTimeout && entry.connection.channel.isActive
                if !usable { expired.append(entry.connection) }
                return usable
            }
            if idle[key]?.isEmpty == true { idle[key] = nil }
            return connection
        }
    }

    /// The newest usable connection, on `loop` if there is one; the unusable ones it meets are removed too.
    private static func takeUsable(
        from entries: inout [IdleConnection], preferring loop: (any EventLoop)?,
        isUsable: (IdleConnection) -> Bool
    ) -> Connection? {
        if let loop, let index = entries.lastIndex(where: { $0.connection.channel.eventLoop === loop }) {
            let entry = entries.remove(at: index)
            if isUsable(entry) { return entry.connection }
        }
        while let entry = entries.popLast() {
            if isUsable(entry) { return entry.connection }
        }
        return nil
    }

    private func putIdle(_ connection: Connection, _ key: HostKey) {
        let kept = idle.withLock { idle in
            guard !isShutDown.load(ordering: .relaxed),
                idle[key, default: []].count < configuration.maxIdleConnectionsPerHost
            else { return false }
            idle[key, default: []].append(IdleConnection(connection: connection, since: .now()))
            return true
        }
        if !kept { connection.close() }
    }

    private func connect(_ target: Target, deadline: NIODeadline) async throws -> Connection {
        let connectTimeout = min(
            TimeAmount.nanoseconds(Int64(configuration.connectTimeout.clampedNanoseconds)),
            max(.milliseconds(1), deadline - .now()))
        let tlsContext = target.key.secure ? self.tlsContext : nil
        let host = target.key.host
        let maxResponseBytes = configuration.maxResponseBytes
        do {
            let channel = try await ClientBootstrap(group: taskExecutor.currentLoop ?? group)
                .connectTimeout(connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        if let tlsContext {
                            // An IP address is not a valid SNI name; verification still checks it.
                            let serverName = host.isIPAddress ? nil : host
                            try sync.addHandler(
                                try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName))
                        }
                        try sync.addHandler(ExchangeHandler(maxResponseBytes: maxResponseBytes))
                    }
                }
                .connect(host: host, port: target.key.port).get()
            let handler = try await channel.eventLoop.submit {
                NIOLoopBound(
                    try channel.pipeline.syncOperations.handler(type: ExchangeHandler.self),
                    eventLoop: channel.eventLoop)
            }.get()
            return Connection(channel: channel, handler: handler)
        } catch {
            throw AWSTransportError.classifying(error, target: target.description)
        }
    }

    // MARK: - Requests

    private struct Target: CustomStringConvertible {
        let key: HostKey
        /// Path and query as they go on the request line.
        let requestTarget: String
        /// The `Host` header's value: the port only when it is not the scheme's default.
        let hostHeader: String

        var description: String { "\(key.host):\(key.port)" }
    }

    private func target(of url: URL) throws -> Target {
        if let known = targets.withLock({ $0[url] }) { return known }
        let target = try Self.target(of: url)
        targets.withLock { targets in
            if targets.count >= 1_024 { targets.removeAll() }
            targets[url] = target
        }
        return target
    }

    private static func target(of url: URL) throws -> Target {
        if let problem = EndpointURL.problem(with: url) { throw AWSTransportError.invalidRequest(problem) }
        guard let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http", let host = url.host
        else { throw AWSTransportError.invalidRequest("not an http:// or https:// URL") }
        let secure = scheme == "https"
        let defaultPort = secure ? 443 : 80
        let port = url.port ?? defaultPort
        let path = url.path(percentEncoded: true)
        var requestTarget = path.isEmpty ? "/" : path
        if let query = url.query(percentEncoded: true) { requestTarget += "?\(query)" }
        return Target(
            key: HostKey(secure: secure, host: host, port: port), requestTarget: requestTarget,
            hostHeader: EndpointURL.hostHeader(of: url))
    }

    /// The request as it goes on the wire, with `Host` (unless given) and `Content-Length`.
    private static func encode(_ request: AWSHTTPRequest, target: Target) throws -> ByteBuffer {
        var headers = request.headers
        var hasHost = false
        for (name, value) in headers {
            guard HTTP1RequestEncoder.isValidHeader(name: name, value: value) else {
                throw AWSTransportError.invalidRequest(
                    "header \(NetworkText.sanitized(name, limit: 64)) has a character HTTP does not allow")
            }
            if ASCIICase.equals(name.utf8, "host") { hasHost = true }
            if ASCIICase.equals(name.utf8, "content-length") {
                throw AWSTransportError.invalidRequest("Content-Length is the transport's to set")
            }
        }
        if !hasHost { headers.append(("Host", target.hostHeader)) }
        headers.append(("Content-Length", String(request.body.count)))
        guard HTTP1RequestEncoder.isValidMethod(request.method),
            target.requestTarget.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { throw AWSTransportError.invalidRequest("the method or path has a character HTTP does not allow") }
        return HTTP1RequestEncoder.encode(
            method: request.method, target: target.requestTarget, headers: headers, body: request.body,
            allocator: ByteBufferAllocator())
    }
}

extension String {
    fileprivate var isIPAddress: Bool {
        contains(":") || (!isEmpty && allSatisfy { $0 == "." || $0.isASCII && $0.isNumber })
    }
}

/// One connection and the handler that reads its answers.
private struct Connection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<ExchangeHandler>

    /// Sends the request and waits for the whole answer, or for `deadline`, whichever comes first; returns
    /// whether the connection may carry another exchange.
    func exchange(_ request: ByteBuffer, deadline: NIODeadline) async throws -> (AWSHTTPResponse, Bool) {
        try await withUnsafeThrowingContinuation { continuation in
            let eventLoop = channel.eventLoop
            // A caller already on the connection's loop (see EventLoopGroupTaskExecutor) starts the exchange at once.
            if eventLoop.inEventLoop {
                handler.value.begin(continuation, deadline: deadline, channel: channel, request: request)
            } else {
                eventLoop.execute { [channel, handler] in
                    handler.value.begin(continuation, deadline: deadline, channel: channel, request: request)
                }
            }
        }
    }

    /// Ends the exchange in progress, as a cancelled task must.
    func abort() {
        channel.eventLoop.execute { [handler] in handler.value.fail(CancellationError()) }
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// Reads one response at a time; anything that ends the connection fails the exchange in progress.
///
/// The deadline timer outlives exchanges: most exchanges end well before their deadline, and the next one's
/// deadline is later still, so the timer is only moved when it fires early (or when a deadline is earlier than it).
/// Cancelling and scheduling a timer for every exchange cost a few per cent of each call's CPU.
private final class ExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias Exchange = UnsafeContinuation<(AWSHTTPResponse, Bool), any Error>

    private var parser: HTTP1ResponseParser
    private var exchange: Exchange?
    private var deadline = NIODeadline.distantFuture
    private var timer: Scheduled<Void>?
    private var timerFires = NIODeadline.distantFuture
    private var channel: (any Channel)?

    init(maxResponseBytes: Int) {
        parser = HTTP1ResponseParser(maxBodyBytes: maxResponseBytes)
    }

    func begin(_ exchange: Exchange, deadline: NIODeadline, channel: any Channel, request: ByteBuffer) {
        guard self.exchange == nil, channel.isActive, parser.isIdle else {
            // A connection in any other state cannot carry this exchange, nor any later one.
            exchange.resume(throwing: AWSTransportError.connection("connection closed before the request was sent"))
            channel.close(promise: nil)
            return
        }
        self.exchange = exchange
        self.channel = channel
        self.deadline = deadline
        if timer == nil || deadline < timerFires { armTimer(at: deadline, on: channel.eventLoop) }
        channel.writeAndFlush(request, promise: nil)
    }

    private func armTimer(at time: NIODeadline, on eventLoop: any EventLoop) {
        timer?.cancel()
        timerFires = time
        // The timer holds the handler until it fires or the connection closes.
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        timer = eventLoop.scheduleTask(deadline: time) {
            handler.value.timerFired(on: eventLoop)
        }
    }

    private func timerFired(on eventLoop: any EventLoop) {
        timer = nil
        guard exchange != nil else { return }
        if deadline <= .now() {
            fail(AWSTransportError.timeout)
        } else {
            armTimer(at: deadline, on: eventLoop)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard exchange != nil else {
            // Nothing was asked: a server that talks out of turn cannot be trusted with the next exchange.
            context.close(promise: nil)
            return
        }
        do {
            if let response = try parser.feed(&bytes) { succeed(response) }
        } catch {
            fail(AWSTransportError.invalidResponse(error.description))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A response read until the close is complete now; anything else was cut short.
        if exchange != nil, let response = try? parser.finishAtClose() {
            succeed(response)
        } else {
            fail(AWSTransportError.connection("connection closed before the whole response arrived"))
        }
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    private func succeed(_ response: HTTP1ResponseParser.Response) {
        guard let exchange else { return }
        finish()
        exchange.resume(
            returning: (
                AWSHTTPResponse(
                    status: response.status, headers: response.headers.map { ($0.name, $0.value) },
                    body: response.body),
                response.keepAlive
            ))
    }

    /// Fails the exchange in progress and closes the connection, whose state is no longer known.
    func fail(_ error: any Error) {
        guard let exchange else { return }
        let channel = self.channel
        finish()
        exchange.resume(throwing: error)
        channel?.close(promise: nil)
    }

    private func finish() {
        exchange = nil
        channel = nil
        deadline = .distantFuture
    }
}
