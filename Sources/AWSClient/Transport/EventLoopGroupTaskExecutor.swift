import NIOCore
import NIOPosix

/// A `TaskExecutor` that runs a task on the event loop it was resumed from, when that is one of `group`'s loops,
/// and otherwise on the group's next loop.
///
/// A task that makes its calls through ``KeptAliveTransport`` with this preference stays on the loop of its
/// connections: the request starts without handing it to the loop's thread, and the answer resumes the task
/// without waking another. At organization scale that hand-over, twice per call, was a tenth of each call's CPU.
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
