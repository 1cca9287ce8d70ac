import NIOCore
import NIOPosix

/// A `TaskExecutor` that runs a task on the event loop it was resumed from, when that is one of `group`'s loops,
/// and otherwise on the group's next loop.
///
/// A task that makes its calls through ``KeptAliveTransport`` with this preference stays on the loop of its
/// connections: the request starts without handing it to the loop's thread, and the answer resumes the task
/// without waking another.
///
/// It also matters where a process runs Swift's global executor on its event loop, as the exporter does (NIO's
/// `unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`): NIO runs those jobs as the loop's
/// serial executor, so each nonisolated async function a task enters is a switch back to the generic executor, an
/// enqueue and a later run. Under this preference they run inline. In `perf record` of the organization
/// benchmark's second round, task switches fell from 8.5% of the samples to 3.6%.
///
/// Work that blocks a thread must not run with this preference, as it would stall the loop's connections.
public final class EventLoopGroupTaskExecutor: TaskExecutor {
    public let group: any EventLoopGroup
    private let loops: Set<ObjectIdentifier>

    public init(group: any EventLoopGroup) {
        self.group = group
        self.loops = Set(group.makeIterator().map { ObjectIdentifier($0) })
    }

    /// The group's loop whose thread this is, if any.
    public var currentLoop: (any EventLoop)? {
        guard let current = MultiThreadedEventLoopGroup.currentEventLoop,
            loops.contains(ObjectIdentifier(current))
        else { return nil }
        return current
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        (currentLoop ?? group.next()).execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
