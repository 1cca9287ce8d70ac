import AWSClient
import AsyncAlgorithms
import Crypto
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import ServiceLifecycle
import SwiftASN1
import Synchronization
import X509

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The web configuration in use. Connections and requests read it as they start, so a reload applies to the next
/// TLS handshake and the next request without a restart.
package final class WebConfigurationStore: Sendable {
    private let state: Mutex<WebConfiguration>

    package init(_ configuration: WebConfiguration) {
        state = Mutex(configuration)
    }

    package var current: WebConfiguration { state.withLock { $0 } }

    func replace(with configuration: WebConfiguration) {
        state.withLock { $0 = configuration }
    }
}

/// Re-reads `--web.config.file` when it or a file it names changes (checked every `interval`), and at once on
/// SIGHUP. A file that no longer loads leaves the last good settings in place; the failure is logged and counted.
///
/// A check costs a `stat` of each file while nothing changes: contents are digested (in bounded chunks) only when a
/// file's size, times or identity changed, and the file is parsed again only when a digest did. The work runs on
/// the thread pool: the actor runs on the event loop, which serves requests and must not wait for a disk or a
/// parse.
package actor WebConfigurationReloader: Service {
    let store: WebConfigurationStore
    let interval: Duration
    let hangups: AsyncStream<Void>
    let logger: Logger
    /// How recently a file may have been written for its `stat` alone to be trusted (file times are coarse).
    let racyWindow: Duration
    private let reloads: (success: Counter, failure: Counter)
    private let lastReloadSuccessful: Gauge
    /// Every watched file as last seen.
    private var observed: [String: ConfigurationFileReader.Observation]
    /// The check in progress, which the next one waits for, so that loads apply in the order they were made.
    private var running: Task<Bool, Never>?
    /// Loads of the file (each parses it), and files whose contents were read to compare them: what shows that an
    /// unchanged file costs neither.
    private(set) var loads = 0
    private(set) var contentReads = 0

    package init(
        store: WebConfigurationStore, interval: Duration = .seconds(5), hangups: AsyncStream<Void>,
        metrics: ProcessWideMetrics, logger: Logger
    ) {
        self.init(
            store: store, interval: interval, hangups: hangups, metrics: metrics, logger: logger,
            racyWindow: ConfigurationFileReader.defaultRacyWindow)
    }

    init(
        store: WebConfigurationStore, interval: Duration, hangups: AsyncStream<Void>,
        metrics: ProcessWideMetrics, logger: Logger, racyWindow: Duration
    ) {
        self.store = store
        self.interval = interval
        self.hangups = hangups
        self.logger = logger
        self.racyWindow = racyWindow
        reloads = (
            metrics.counter(MetricCatalog.webConfigReloads, labels: [("result", "success")]),
            metrics.counter(MetricCatalog.webConfigReloads, labels: [("result", "failure")])
        )
        lastReloadSuccessful = metrics.gauge(MetricCatalog.webConfigLastReloadSuccessful)
        lastReloadSuccessful.set(Double(1))
        var reads = 0
        observed = Self.observe(store.current.watchedFiles, previous: [:], racyWindow: racyWindow, reads: &reads)
    }

    package nonisolated func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in AsyncTimerSequence(interval: self.interval, clock: .continuous)
                    .cancelOnGracefulShutdown()
                {
                    await self.reload(force: false)
                }
            }
            group.addTask {
                for await _ in self.hangups.cancelOnGracefulShutdown() {
                    await self.reload(force: true)
                }
            }
        }
    }

    /// Loads the file again if anything changed (or always, when `force`); returns whether new settings apply.
    @discardableResult
    package func reload(force: Bool) async -> Bool {
        let previous = running
        let check = Task {
            _ = await previous?.value
            return await self.check(force: force)
        }
        running = check
        return await check.value
    }

    /// What a check found, made on the thread pool.
    private struct Outcome: Sendable {
        var observed: [String: ConfigurationFileReader.Observation]
        var contentReads: Int
        /// `nil` when nothing changed and nothing was loaded.
        var loaded: Result<WebConfiguration, WebConfigurationError>?
    }

    private func check(force: Bool) async -> Bool {
        let path = store.current.path
        let previous = observed
        let racyWindow = racyWindow
        let outcome: Outcome
        do {
            outcome = try await NIOThreadPool.singleton.runIfActive {
                Self.examine(path: path, previous: previous, force: force, racyWindow: racyWindow)
            }
        } catch {
            // The pool has stopped: the process is shutting down.
            return false
        }
        observed = outcome.observed
        contentReads += outcome.contentReads
        guard let loaded = outcome.loaded else { return false }
        loads += 1
        do {
            let configuration = try loaded.get()
            if (configuration.tls == nil) != (store.current.tls == nil) {
                throw WebConfigurationError(
                    path: path, line: nil, key: "tls_server_config",
                    "switching between HTTP and HTTPS needs a restart; the current scheme stays")
            }
            store.replace(with: configuration)
            reloads.success.increment()
            lastReloadSuccessful.set(Double(1))
            logger.info("web configuration reloaded", metadata: ["file": "\(path)"])
            return true
        } catch {
            reloads.failure.increment()
            lastReloadSuccessful.set(Double(0))
            logger.error(
                "web configuration not reloaded; the last good settings stay in use",
                metadata: ["file": "\(path)", "error": "\(error)"])
            return false
        }
    }

    /// Looks at every watched file and loads the configuration when one changed (or `force`). Blocks: run it on the
    /// thread pool.
    private static func examine(
        path: String, previous: [String: ConfigurationFileReader.Observation], force: Bool, racyWindow: Duration
    ) -> Outcome {
        var reads = 0
        let watched = previous.keys.contains(path) ? Array(previous.keys) : Array(previous.keys) + [path]
        let now = observe(watched, previous: previous, racyWindow: racyWindow, reads: &reads)
        guard force || now != previous else { return Outcome(observed: now, contentReads: reads, loaded: nil) }
        var namedFiles: [String] = []
        let loaded: Result<WebConfiguration, WebConfigurationError>
        do {
            loaded = .success(try WebConfiguration.load(path: path, namedFiles: &namedFiles))
        } catch {
            loaded = .failure(error)
        }
        // The files the configuration now names. Those seen before loading keep that observation, so a change made
        // while loading is noticed at the next check; files named for the first time are seen now.
        var next: [String: ConfigurationFileReader.Observation] = [:]
        for file in [path] + namedFiles {
            next[file] =
                now[file]
                ?? ConfigurationFileReader.observe(file, previous: nil, racyWindow: racyWindow, contentReads: &reads)
        }
        return Outcome(observed: next, contentReads: reads, loaded: loaded)
    }

    private static func observe(
        _ files: [String], previous: [String: ConfigurationFileReader.Observation], racyWindow: Duration,
        reads: inout Int
    ) -> [String: ConfigurationFileReader.Observation] {
        var observed: [String: ConfigurationFileReader.Observation] = [:]
        for file in files {
            observed[file] = ConfigurationFileReader.observe(
                file, previous: previous[file], racyWindow: racyWindow, contentReads: &reads)
        }
        return observed
    }
}

/// Basic authentication against the bcrypt hashes of `basic_auth_users`, off the event loop, with results cached so
/// that a scrape every few seconds does not pay a bcrypt (tens of milliseconds) each time.
///
/// A flood of guesses costs one core at most: one bcrypt runs at a time, at most ``maxWaiting`` requests wait for it,
/// and past that a request is turned away at once (``Verdict/busy``, a 429) rather than queued. Accepted
/// credentials are cached apart from refused ones, so a flood of distinct guesses never evicts the scraper's entry
/// and the scraper does not wait behind the flood.
final class BasicAuthenticator: Sendable {
    /// Distinct (user, password, hash) results kept, accepted and refused each; past it that cache starts over, so
    /// guessing cannot grow it.
    static let cacheLimit = 256
    /// Requests that may wait for the bcrypt slot: about a second at cost 10, a few at cost 12, well inside a
    /// scrape timeout; more are refused at once.
    static let maxWaiting = 16

    enum Verdict: Equatable, Sendable {
        case accepted
        case refused
        /// Too many verifications already waiting; nothing was checked.
        case busy
    }

    private let cache = Mutex<(accepted: Set<[UInt8]>, refused: Set<[UInt8]>)>(([], []))
    /// Hashes of a random password at each cost used, so that an unknown user costs what a known one does.
    private let decoys = Mutex<[Int: String]>([:])
    let gate = SerialGate(maxWaiting: BasicAuthenticator.maxWaiting)
    /// bcrypt's check; tests wrap it to watch how many run at once.
    private let checkHash: @Sendable (_ password: String, _ hash: String) -> Bool

    init(checkHash: @escaping @Sendable (_ password: String, _ hash: String) -> Bool = { Bcrypt.verify($0, hash: $1) })
    {
        self.checkHash = checkHash
    }

    static func isBcryptHash(_ text: String) -> Bool {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0].isEmpty && ["2a", "2b", "2y"].contains(parts[1])
            && parts[2].count == 2 && Int(parts[2]).map { (4...31).contains($0) } == true && parts[3].count == 53
    }

    /// The cost field of a bcrypt hash (`$2b$12$...` is 12), if it has one.
    static func cost(of hash: String) -> Int? {
        let parts = hash.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count >= 3, let cost = Int(parts[2]), (4...31).contains(cost) else { return nil }
        return cost
    }

    /// The cost of the decoy an unknown user is checked against: the highest among `users`, so that no known user
    /// takes measurably longer to refuse than an unknown one.
    static func decoyCost(for users: [String: String]) -> Int {
        users.values.compactMap(cost(of:)).max() ?? 10
    }

    /// Whether `user` and `password` match one of `users`.
    func verify(user: String, password: String, users: [String: String]) async -> Verdict {
        // bcrypt reads a password up to its first NUL: `secret\0anything` would match `secret`.
        guard !password.utf8.contains(0) else { return .refused }
        let known = users[user]
        var digest = SHA256()
        for part in [user, password, known ?? "unknown user"] {
            digest.update(data: Array(part.utf8))
            digest.update(data: [0])
        }
        let key = Array(digest.finalize())
        if let cached = cached(key) { return cached }
        guard await gate.enter() else { return .busy }
        defer { gate.leave() }
        // Requests with the same credentials queue together (a scraper's first scrapes); the first one's answer
        // serves the rest.
        if let cached = cached(key) { return cached }
        let decoyCost = Self.decoyCost(for: users)
        // The decoy is made, once per cost, on the pool too: a bcrypt hash must not hold the event loop.
        let matches =
            (try? await NIOThreadPool.singleton.runIfActive {
                self.checkHash(password, known ?? self.decoy(cost: decoyCost))
            }) ?? false
        let verdict: Verdict = matches && known != nil ? .accepted : .refused
        cache.withLock { cache in
            if verdict == .accepted {
                if cache.accepted.count >= Self.cacheLimit { cache.accepted.removeAll() }
                cache.accepted.insert(key)
            } else {
                if cache.refused.count >= Self.cacheLimit { cache.refused.removeAll() }
                cache.refused.insert(key)
            }
        }
        return verdict
    }

    private func cached(_ key: [UInt8]) -> Verdict? {
        cache.withLock { cache in
            if cache.accepted.contains(key) { return .accepted }
            return cache.refused.contains(key) ? .refused : nil
        }
    }

    private func decoy(cost: Int) -> String {
        if let existing = decoys.withLock({ $0[cost] }) { return existing }
        let made = Bcrypt.hash(UUID().uuidString, cost: UInt8(clamping: cost))
        decoys.withLock { $0[cost] = made }
        return made
    }
}

/// One holder at a time and at most `maxWaiting` waiting behind it, in arrival order; past that `enter` refuses at
/// once, so a flood cannot queue without bound.
final class SerialGate: Sendable {
    private struct State {
        var held = false
        var waiting: [CheckedContinuation<Bool, Never>] = []
    }
    private let state = Mutex(State())
    let maxWaiting: Int

    init(maxWaiting: Int) {
        self.maxWaiting = maxWaiting
    }

    /// Waits for the gate; `false` (at once) when too many already wait. After `true`, call ``leave()``.
    func enter() async -> Bool {
        await withCheckedContinuation { continuation in
            let immediate = state.withLock { state -> Bool? in
                if !state.held {
                    state.held = true
                    return true
                }
                guard state.waiting.count < maxWaiting else { return false }
                state.waiting.append(continuation)
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// Hands the gate to the longest waiting caller, or opens it.
    func leave() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard !state.waiting.isEmpty else {
                state.held = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume(returning: true)
    }

    /// Callers waiting now.
    var waitingCount: Int { state.withLock { $0.waiting.count } }
}

/// The toolkit's token bucket: `burst` requests at once, then one per `interval`.
final class RateLimiter: Sendable {
    private let state = Mutex<(tokens: Double, last: MonotonicInstant?, limit: WebConfiguration.RateLimit?)>(
        (0, nil, nil))

    func allow(_ limit: WebConfiguration.RateLimit, now: MonotonicInstant) -> Bool {
        state.withLock { state in
            if state.limit != limit || state.last == nil {
                state = (Double(limit.burst), now, limit)
            }
            let elapsed = state.last!.duration(to: now)
            state.last = now
            let refill = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let per = Double(limit.interval.components.seconds) + Double(limit.interval.components.attoseconds) / 1e18
            state.tokens = min(Double(limit.burst), state.tokens + refill / per)
            guard state.tokens >= 1 else { return false }
            state.tokens -= 1
            return true
        }
    }
}

/// Applies the web configuration to every request, health endpoints included (the toolkit exempts none): the rate
/// limit, basic authentication, and the configured response headers.
struct WebAccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let store: WebConfigurationStore
    var authenticator = BasicAuthenticator()
    let limiter = RateLimiter()
    let clock: AWSClock
    /// Refusals by reason, so that a guessing flood can be alerted on.
    let refusals: AuthRefusals

    /// `aws_sso_admin_exporter_http_auth_refused_total`, by reason.
    struct AuthRefusals: Sendable {
        let credentials: Counter
        let busy: Counter

        init(metrics: ProcessWideMetrics) {
            credentials = metrics.counter(MetricCatalog.httpAuthRefused, labels: [("reason", "credentials")])
            busy = metrics.counter(MetricCatalog.httpAuthRefused, labels: [("reason", "busy")])
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let settings = store.current
        var response: Response
        if let limit = settings.rateLimit, !limiter.allow(limit, now: clock.now()) {
            response = HTTPSemanticsMiddleware<Context>.text(.tooManyRequests, "429 too many requests\n")
        } else if !settings.basicAuthUsers.isEmpty {
            let verdict: BasicAuthenticator.Verdict
            if let (user, password) = Self.basicCredentials(request.headers[.authorization]) {
                verdict = await authenticator.verify(user: user, password: password, users: settings.basicAuthUsers)
            } else {
                verdict = .refused
            }
            switch verdict {
            case .accepted:
                response = try await next(request, context)
            case .busy:
                refusals.busy.increment()
                response = HTTPSemanticsMiddleware<Context>.text(
                    .tooManyRequests, "429 too many authentication attempts at once\n")
                response.headers[.retryAfter] = "1"
            case .refused:
                refusals.credentials.increment()
                // The same answer whatever was wrong: no header, an unknown user or a wrong password.
                response = HTTPSemanticsMiddleware<Context>.text(.unauthorized, "401 unauthorized\n")
                response.headers[.wwwAuthenticate] = "Basic"
            }
        } else {
            response = try await next(request, context)
        }
        for field in settings.headers {
            response.headers[field.name] = field.value
        }
        return response
    }

    static func basicCredentials(_ header: String?) -> (String, String)? {
        guard let header, header.count < 4096 else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: String(parts[1].filter { !$0.isWhitespace })),
            let text = String(validating: decoded, as: UTF8.self),
            let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}

/// Puts TLS in front of the base channel when the web configuration has it, with the settings current when the
/// connection opens: certificates rotate without a restart.
struct WebTLSChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    typealias Value = BaseChannel.Value
    let base: BaseChannel
    let store: WebConfigurationStore
    /// Called for each connection refused by `client_allowed_sans`, to count it.
    var onClientRefused: @Sendable () -> Void = {}

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            guard let tls = store.current.tls else { return }
            let handler: NIOSSLServerHandler
            if tls.clientAuth == .requestClientCert || tls.clientAuth == .requireAnyClientCert {
                // Go's semantics for these two: ask for a certificate and take any, checked by nothing.
                handler = NIOSSLServerHandler(context: tls.context) { _, promise in
                    promise.succeed(.certificateVerified)
                }
            } else {
                handler = NIOSSLServerHandler(context: tls.context)
            }
            try channel.pipeline.syncOperations.addHandler(handler)
            if !tls.allowedSANs.isEmpty {
                try channel.pipeline.syncOperations.addHandler(
                    ClientSANCheckHandler(allowed: tls.allowedSANs, logger: logger, onRefused: onClientRefused))
            }
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension WebTLSChannel: HTTPChannelHandler where BaseChannel: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
}

extension HTTPServerBuilder {
    /// HTTP/1.1, behind TLS whenever the web configuration in `store` has it; `onClientRefused` counts the
    /// connections `client_allowed_sans` refuses.
    static func http1(
        configuration: HTTP1Channel.Configuration, webConfiguration store: WebConfigurationStore,
        onClientRefused: @escaping @Sendable () -> Void = {}
    ) -> HTTPServerBuilder {
        .init { responder in
            WebTLSChannel(
                base: HTTP1Channel(responder: responder, configuration: configuration), store: store,
                onClientRefused: onClientRefused)
        }
    }
}

/// Closes a TLS connection whose client certificate has none of `client_allowed_sans` (DNS names, IP addresses,
/// e-mail addresses or URIs, matched exactly, as the toolkit does), before any byte of a request reaches HTTP.
///
/// NIOSSL reports the end of the handshake and then, in the same read, decrypts whatever came with the client's
/// Finished; while a refused connection closes gracefully it goes on decrypting what the client sends. So nothing
/// passes until the check is made: the request sent with the Finished is held until then, and every read of a
/// refused connection is dropped, the handshake's end included, so the HTTP pipeline never sees a request.
final class ClientSANCheckHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny

    private enum State {
        /// The handshake has not ended; anything decrypted before it is held.
        case pending(held: [NIOAny])
        /// The certificate passed; this handler is on its way out of the pipeline.
        case allowed
        /// The certificate failed; the connection is closing and nothing goes further.
        case refused
    }

    let allowed: Set<String>
    let logger: Logger
    let onRefused: @Sendable () -> Void
    private var state = State.pending(held: [])

    init(allowed: Set<String>, logger: Logger, onRefused: @escaping @Sendable () -> Void = {}) {
        self.allowed = allowed
        self.logger = logger
        self.onRefused = onRefused
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .pending(var held):
            held.append(data)
            state = .pending(held: held)
        case .allowed:
            context.fireChannelRead(data)
        case .refused:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .allowed = state { context.fireChannelReadComplete() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch state {
        case .pending(let held):
            guard case .handshakeCompleted = event as? TLSUserEvent else {
                context.fireUserInboundEventTriggered(event)
                return
            }
            let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate()
            let names = certificate.map(Self.subjectAlternativeNames) ?? []
            guard names.contains(where: allowed.contains) else {
                state = .refused
                onRefused()
                // The client wrote these names: a few are logged, each cut short and scrubbed like any network text.
                let shown = names.sorted().prefix(8).map { NetworkText.sanitized($0, limit: 128) }
                logger.warning(
                    "TLS client refused: its certificate has none of client_allowed_sans",
                    metadata: ["names": "\(shown.joined(separator: ","))"])
                context.close(promise: nil)
                return
            }
            state = .allowed
            context.fireUserInboundEventTriggered(event)
            for data in held {
                context.fireChannelRead(data)
            }
            if !held.isEmpty { context.fireChannelReadComplete() }
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        case .allowed:
            context.fireUserInboundEventTriggered(event)
        case .refused:
            // TLS events of a refused connection (its shutdown) mean nothing to HTTP; channel events still go.
            if !(event is TLSUserEvent) { context.fireUserInboundEventTriggered(event) }
        }
    }

    static func subjectAlternativeNames(_ certificate: NIOSSLCertificate) -> [String] {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der),
            let names = try? parsed.extensions.subjectAlternativeNames
        else { return [] }
        return names.compactMap { name in
            switch name {
            case .dnsName(let value), .rfc822Name(let value), .uniformResourceIdentifier(let value): value
            case .ipAddress(let octets): Self.ipText(Array(octets.bytes))
            default: nil
            }
        }
    }

    static func ipText(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4: return bytes.map(String.init).joined(separator: ".")
        case 16:
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return nil }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        default: return nil
        }
    }
}
