import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Reloads `--config.file` on SIGHUP and `POST /-/reload`: a file that loads replaces the configured targets (their
/// series follow at the next round or scrape); one that does not is logged and counted, and the targets of the last
/// good file stay. Changes to `collection:` and `discovery:` are reported as needing a restart: the scheduler and
/// discovery are made once.
///
/// A load parses and rebuilds every target (about half a second for 2,000 accounts), so it runs on NIO's blocking
/// pool, never on the event loop that serves HTTP (and, in the exporter, Swift concurrency). Requests coalesce: at
/// most one load runs and one waits. Every request that arrives while a load runs (or before it starts) joins the
/// one waiting load, and is answered with its outcome: a load that started after it asked, so it saw the file as
/// the requester left it. A flood of requests therefore costs two loads, whatever its size.
package final class TargetsReloader: Service, Sendable {
    package typealias Outcome = Result<String, ConfigFileError>

    package let path: String
    private let factory: TargetSourceFactory
    private let targets: TargetSet
    private let initial: TargetsConfiguration
    private let logger: Logger
    /// Wakes `run` when a load is wanted; one buffered wake-up is enough, as `run` takes every request waiting.
    private let wakeups: AsyncStream<Void>
    private let wakeupContinuation: AsyncStream<Void>.Continuation
    private let queue = Mutex(Queue())

    /// The requests for the next load; the running load's requesters are held by `run` alone.
    private struct Queue {
        var waiting: [UInt64: CheckedContinuation<Outcome, Never>] = [:]
        var hangup = false
        var nextID: UInt64 = 0
        var shutDown = false
        /// Requesters of the load running now; for tests, which wait until every request has arrived.
        var running = 0
    }

    private let successes: Counter
    private let failures: Counter
    private let lastSuccessful: Gauge
    /// Called on the pool thread before each load; tests use it to hold a load and to count loads.
    let beforeLoad = Mutex<(@Sendable () -> Void)?>(nil)

    package init(
        path: String, initial: TargetsConfiguration, targets: TargetSet, factory: TargetSourceFactory, logger: Logger
    ) {
        self.path = path
        self.initial = initial
        self.targets = targets
        self.factory = factory
        self.logger = logger
        (wakeups, wakeupContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        let metrics = factory.metrics.processWide
        successes = metrics.counter(MetricCatalog.configReloads, labels: [("result", "success")])
        failures = metrics.counter(MetricCatalog.configReloads, labels: [("result", "failure")])
        lastSuccessful = metrics.gauge(MetricCatalog.configLastReloadSuccessful)
        lastSuccessful.set(1.0)
    }

    /// Asks for a reload (SIGHUP); the result is logged and counted.
    package func hangup() {
        let accepted = queue.withLock { queue in
            guard !queue.shutDown else { return false }
            queue.hangup = true
            return true
        }
        if accepted { wakeupContinuation.yield() }
    }

    /// Reloads and answers with what happened (`POST /-/reload`). A request whose task is cancelled leaves the queue
    /// at once; when no one else asked, the load it was waiting for does not happen. (Hummingbird does not cancel a
    /// handler whose client hung up: such a request stays in the load it joined, which it cannot multiply.)
    package func reload() async -> Outcome {
        let id = queue.withLock { queue in
            queue.nextID += 1
            return queue.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let refusal = queue.withLock { queue -> Outcome? in
                    if queue.shutDown { return .failure(self.error("shutting down")) }
                    if Task.isCancelled { return .failure(self.error("the request was cancelled")) }
                    queue.waiting[id] = continuation
                    return nil
                }
                if let refusal {
                    continuation.resume(returning: refusal)
                } else {
                    wakeupContinuation.yield()
                }
            }
        } onCancel: {
            let continuation = queue.withLock { $0.waiting.removeValue(forKey: id) }
            continuation?.resume(returning: .failure(self.error("the request was cancelled")))
        }
    }

    /// Requests waiting for a load or for the outcome of the one running.
    var requestsWaiting: Int {
        queue.withLock { $0.waiting.count + $0.running }
    }

    package func run() async {
        for await _ in wakeups.cancelOnGracefulShutdown() {
            while let requesters = takeWaiting() {
                let outcome = await loadOffTheEventLoop()
                queue.withLock { $0.running = 0 }
                for requester in requesters {
                    requester.resume(returning: outcome)
                }
            }
        }
        let left = queue.withLock { queue in
            queue.shutDown = true
            defer { queue.waiting = [:] }
            return Array(queue.waiting.values)
        }
        for requester in left {
            requester.resume(returning: .failure(error("shutting down")))
        }
    }

    /// The requesters of the next load, now running, or `nil` when no load is wanted.
    private func takeWaiting() -> [CheckedContinuation<Outcome, Never>]? {
        queue.withLock { queue in
            guard queue.hangup || !queue.waiting.isEmpty else { return nil }
            let requesters = Array(queue.waiting.values)
            queue.waiting = [:]
            queue.hangup = false
            queue.running = requesters.count
            return requesters
        }
    }

    private func loadOffTheEventLoop() async -> Outcome {
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                self.beforeLoad.withLock { $0 }?()
                return self.load()
            }
        } catch {
            return .failure(self.error("not reloaded: \(error)"))
        }
    }

    private func error(_ message: String) -> ConfigFileError {
        ConfigFileError(path: path, line: nil, key: nil, message)
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
                || loaded.accountPacing != initial.accountPacing || loaded.instanceDetails != initial.instanceDetails
                || loaded.emptyRegionInterval != initial.emptyRegionInterval
            {
                summary += "; collection or discovery settings changed and apply after a restart"
                logger.warning(
                    "--config.file: collection or discovery settings changed; they apply after a restart",
                    metadata: ["file": "\(path)"])
            }
            logger.info("--config.file reloaded", metadata: ["file": "\(path)", "targets": "\(sources.count)"])
            for warning in loaded.warnings {
                logger.warning("configuration: \(warning)")
            }
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
