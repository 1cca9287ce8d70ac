import AWSClient
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization

/// Bounds what HTTP clients can hold: at most `maxConnections` open at once (more are accepted and closed at
/// once, so they cost a descriptor for an instant), and none longer than `readTimeout` without sending a whole
/// request, whether idle between requests or sending one slowly.
package final class ConnectionLimiter: Sendable {
    /// Why a connection was closed by the exporter rather than by its client.
    package enum Rejection: String, Sendable, CaseIterable {
        case maxConnections = "max_connections"
        case readTimeout = "read_timeout"
        /// A TLS client whose certificate has none of `client_allowed_sans`.
        case clientSAN = "client_san"
    }

    package let maxConnections: Int
    package let readTimeout: Duration
    private let openCount = Atomic<Int>(0)
    private let openGauge: Gauge
    private let rejections: [Rejection: Counter]

    package init(maxConnections: Int, readTimeout: Duration, metrics: ProcessWideMetrics) {
        self.maxConnections = maxConnections
        self.readTimeout = readTimeout
        self.openGauge = metrics.gauge(MetricCatalog.httpConnections)
        var rejections: [Rejection: Counter] = [:]
        for rejection in Rejection.allCases {
            rejections[rejection] = metrics.counter(
                MetricCatalog.httpConnectionsRejected, labels: [("reason", rejection.rawValue)])
        }
        self.rejections = rejections
    }

    /// Connections open now.
    package var openConnections: Int { openCount.load(ordering: .relaxed) }

    /// The handlers for one accepted connection, for Hummingbird's `additionalChannelHandlers`.
    package func channelHandlers() -> [any RemovableChannelHandler] {
        [ConnectionGuardHandler(limiter: self)]
    }

    func admit() -> Bool {
        let open = openCount.wrappingAdd(1, ordering: .relaxed).newValue
        guard open <= maxConnections else {
            openCount.wrappingSubtract(1, ordering: .relaxed)
            reject(.maxConnections)
            return false
        }
        openGauge.increment()
        return true
    }

    func release() {
        openCount.wrappingSubtract(1, ordering: .relaxed)
        openGauge.decrement()
    }

    func reject(_ rejection: Rejection) {
        rejections[rejection]?.increment()
    }
}

/// Admits or closes one connection, and closes it when a whole request does not arrive within the read timeout.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limiter: ConnectionLimiter
    private var admitted = false
    private var readDeadline: Scheduled<Void>?

    init(limiter: ConnectionLimiter) {
        self.limiter = limiter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // HTTP/1.0 keep-alive is only visible before the codec turns requests into HTTPTypes, which have no version.
        if let codec = try? context.pipeline.syncOperations.handler(type: HTTP1ToHTTPServerCodec.self) {
            try? context.pipeline.syncOperations.addHandler(HTTP10ConnectionCloseHandler(), position: .before(codec))
        }
        if context.channel.isActive { admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context: context)
        context.fireChannelActive()
    }

    private func admit(context: ChannelHandlerContext) {
        guard !admitted else { return }
        guard limiter.admit() else {
            context.close(promise: nil)
            return
        }
        admitted = true
        armReadDeadline(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    private func disarm() {
        readDeadline?.cancel()
        readDeadline = nil
        if admitted {
            admitted = false
            limiter.release()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            // The whole request is in; the response may take as long as the collection needs.
            readDeadline?.cancel()
            readDeadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            // Idle until the next request, which must arrive whole within the read timeout.
            armReadDeadline(context: context)
        }
        context.write(data, promise: promise)
    }

    private func armReadDeadline(context: ChannelHandlerContext) {
        readDeadline?.cancel()
        let nanoseconds = limiter.readTimeout.clampedNanoseconds
        let limiter = limiter
        readDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) {
            limiter.reject(.readTimeout)
            context.close(promise: nil)
        }
    }
}

/// Adds `Connection: close` to HTTP/1.0 requests that do not ask for keep-alive, so that the server closes the
/// connection after answering, as HTTP/1.0 requires.
final class HTTP10ConnectionCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), head.version.major == 1, head.version.minor == 0,
            !head.isKeepAlive
        else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
