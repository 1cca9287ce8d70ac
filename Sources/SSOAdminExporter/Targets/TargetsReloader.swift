import Logging
import Prometheus
import ServiceLifecycle

/// Reloads `--config.file` on SIGHUP and `POST /-/reload`: a file that loads replaces the configured targets (their
/// series follow at the next round or scrape); one that does not is logged and counted, and the targets of the last
/// good file stay. Changes to `collection:` and `discovery:` are reported as needing a restart: the scheduler and
/// discovery are made once.
public final class TargetsReloader: Service {
    public typealias Outcome = Result<String, ConfigFileError>

    public let path: String
    private let factory: TargetSourceFactory
    private let targets: TargetSet
    private let initial: TargetsConfiguration
    private let logger: Logger
    private let requests: AsyncStream<Request>
    private let requestContinuation: AsyncStream<Request>.Continuation

    private enum Request: Sendable {
        case hangup
        case http(CheckedContinuation<Outcome, Never>)

        func answer(_ outcome: Outcome) {
            if case .http(let continuation) = self { continuation.resume(returning: outcome) }
        }
    }
    private let successes: Counter
    private let failures: Counter
    private let lastSuccessful: Gauge

    public init(
        path: String, initial: TargetsConfiguration, targets: TargetSet, factory: TargetSourceFactory, logger: Logger
    ) {
        self.path = path
        self.initial = initial
        self.targets = targets
        self.factory = factory
        self.logger = logger
        (requests, requestContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        let registry = factory.metrics.registry
        successes = registry.makeCounter(
            descriptor: MetricCatalog.configReloads.descriptor, labels: [("result", "success")])
        failures = registry.makeCounter(
            descriptor: MetricCatalog.configReloads.descriptor, labels: [("result", "failure")])
        lastSuccessful = registry.makeGauge(descriptor: MetricCatalog.configLastReloadSuccessful.descriptor)
        lastSuccessful.set(1.0)
    }

    /// Asks for a reload (SIGHUP); the result is logged and counted.
    public func hangup() {
        requestContinuation.yield(.hangup)
    }

    /// Reloads and answers with what happened (`POST /-/reload`).
    public func reload() async -> Outcome {
        await withCheckedContinuation { continuation in
            if case .terminated = requestContinuation.yield(.http(continuation)) {
                continuation.resume(
                    returning: .failure(ConfigFileError(path: path, line: nil, key: nil, "shutting down")))
            }
        }
    }

    public func run() async {
        for await request in requests.cancelOnGracefulShutdown() {
            request.answer(load())
        }
        requestContinuation.finish()
        for await request in requests {
            request.answer(.failure(ConfigFileError(path: path, line: nil, key: nil, "shutting down")))
        }
    }

    private func load() -> Outcome {
        do throws(ConfigFileError) {
            let loaded = try TargetsConfiguration.load(path: path)
            let sources: [TargetSource]
            do {
                sources = try factory.sources(for: loaded)
            } catch {
                throw ConfigFileError(path: path, line: nil, key: nil, error.message)
            }
            targets.replaceConfigured(sources)
            successes.increment()
            lastSuccessful.set(1.0)
            var summary = "\(path): \(sources.count) configured targets"
            if loaded.discovery != initial.discovery || loaded.mode != initial.mode
                || loaded.interval != initial.interval || loaded.timeout != initial.timeout
                || loaded.maxStale != initial.maxStale || loaded.maxConcurrency != initial.maxConcurrency
                || loaded.accountRequestsPerSecond != initial.accountRequestsPerSecond
                || loaded.accountBurst != initial.accountBurst
            {
                summary += "; collection or discovery settings changed and apply after a restart"
                logger.warning(
                    "--config.file: collection or discovery settings changed; they apply after a restart",
                    metadata: ["file": "\(path)"])
            }
            logger.info("--config.file reloaded", metadata: ["file": "\(path)", "targets": "\(sources.count)"])
            return .success(summary)
        } catch {
            failures.increment()
            lastSuccessful.set(0.0)
            logger.error(
                "--config.file reload failed; keeping the targets of the last good file",
                metadata: ["error": "\(error)"])
            return .failure(error)
        }
    }
}
