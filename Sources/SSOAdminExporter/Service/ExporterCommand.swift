import AWSClient
import ArgumentParser
import CMallocTuning
import Logging
import NIOCore
import NIOPosix

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
    private let terminateProcess: @Sendable (Int32) -> Never = Glibc.exit
#elseif canImport(Musl)
    import Musl
    private let terminateProcess: @Sendable (Int32) -> Never = Musl.exit
#elseif canImport(Darwin)
    import Darwin
    private let terminateProcess: @Sendable (Int32) -> Never = Darwin.exit
#endif

/// The `sso-admin-exporter` command.
public struct ExporterCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sso-admin-exporter",
        abstract: "Prometheus exporter for AWS IAM Identity Center (sso-admin ListInstances).",
        version: BuildInfo.version,
        subcommands: [CheckConfigCommand.self]
    )

    @OptionGroup package var options: ExporterOptions

    public init() {}

    public func run() async throws {
        if options.webConfigCheck {
            try Self.checkWebConfiguration(options.webConfigFile)
            return
        }
        let environment = ProcessInfo.processInfo.environment
        let configuration: ExporterConfiguration
        let webConfiguration: WebConfiguration?
        do {
            configuration = try ExporterConfiguration.resolve(options, environment: environment)
            webConfiguration = try configuration.web.configFile.map { file throws(ExporterConfigurationError) in
                do {
                    return try WebConfiguration.load(path: file)
                } catch {
                    throw ExporterConfigurationError("--web.config.file: \(error)")
                }
            }
        } catch let error as ExporterConfigurationError {
            throw ValidationError(error.message)
        }
        let level = configuration.log.level
        let format = configuration.log.format
        LoggingSystem.bootstrap { label in ExporterLogHandler(label: label, level: level, format: format) }
        let logger = Logger(label: "sso-admin-exporter")
        logger.info(
            "starting sso-admin-exporter",
            metadata: [
                "version": "\(BuildInfo.version)",
                "listen_address": "\(configuration.web.listenAddress)",
                "region": "\(configuration.aws.endpoint.region)",
                "endpoint": "\(configuration.aws.endpoint.url.absoluteString)",
                "profile":
                    "\(AWSSharedConfiguration.profileName(explicit: configuration.aws.profile, environment: environment))",
                "role_arn": "\(configuration.aws.assumeRole?.roleARN ?? "none")",
                "proxy": "\(configuration.aws.proxy)",
                "web_config": "\(webConfiguration.map(\.summary) ?? "none: plain HTTP, no authentication")",
                // Replicas started with different counts collect some accounts twice and others never: each says
                // which count it uses.
                "shard_index": "\(configuration.targets.shard.index)",
                "shard_count": "\(configuration.targets.shard.count)",
            ]
        )
        for warning in configuration.warnings {
            logger.warning("configuration: \(warning)")
        }
        do {
            try await ExporterApplication(
                configuration: configuration, credentials: .defaultChain(environment: environment),
                webConfiguration: webConfiguration, logger: logger
            ).run()
        } catch {
            if let message = Self.listenFailure(error, address: configuration.web.listenAddress) {
                throw ValidationError(message)
            }
            throw error
        }
    }

    /// `--web.config.check`: prints whether the web configuration is usable; exits 0 if it is, else 1.
    static func checkWebConfiguration(_ file: String?) throws {
        guard let file else {
            throw ValidationError("--web.config.check: give the file to check with --web.config.file")
        }
        do {
            let loaded = try WebConfiguration.load(path: file)
            print("\(file): usable (\(loaded.summary))")
        } catch {
            ExporterLogHandler.writeToStandardError("\(error)")
            throw ExitCode.failure
        }
    }

    /// A message naming `--web.listen-address` when `error` is the server failing to bind, else `nil`.
    static func listenFailure(_ error: any Error, address: ListenAddress) -> String? {
        let prefix = "--web.listen-address: cannot listen on \(address)"
        if let error = error as? IOError {
            switch error.errnoCode {
            case EADDRINUSE: return "\(prefix): the address is already in use"
            case EADDRNOTAVAIL: return "\(prefix): the host is not an address of this machine"
            case EACCES: return "\(prefix): permission denied (ports below 1024 need privileges)"
            default: return "\(prefix): \(error)"
            }
        }
        if error is SocketAddressError || error is SocketAddressError.UnknownHost {
            return "\(prefix): the host cannot be resolved"
        }
        return nil
    }

    /// Process-wide settings that must be made on the main thread before anything else runs.
    ///
    /// One event loop serves the few connections an exporter has (Prometheus, AWS), and Swift concurrency runs on
    /// that same loop instead of a pool of its own: every thread costs a stack and a malloc cache, and the exporter
    /// measures its resident memory against a 30 MB target. Rendering 10,000 instances holds the loop for about
    /// 40 ms, which only delays other scrapes' I/O by as much.
    public static func prepareProcess() {
        MemoryTuning.apply()
        DescriptorLimit.raiseToHardLimit()
        NIOSingletons.groupLoopCountSuggestion = 1
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// Parses, runs and exits; usage and configuration errors exit with status 2 as Prometheus exporters do.
    public static func runFromCommandLine(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) async {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            // Already explained on standard error (--web.config.check).
            if error is ExitCode { terminateProcess(code.rawValue) }
            let message = fullMessage(for: error)
            ExporterLogHandler.writeToStandardError("sso-admin-exporter: \(message)")
            // Usage and configuration errors exit 2, as Prometheus exporters do; ArgumentParser would use 64.
            terminateProcess(code == .validationFailure ? 2 : (code == .failure ? 1 : code.rawValue))
        }
    }
}

/// `sso-admin-exporter check-config --config.file F`: checks the configuration file and prints every problem.
public struct CheckConfigCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check --config.file, print every problem found, and exit 0 if it is usable, else 1.")

    // The exporter's flags, so that `--config.file` reads as it does when running (ArgumentParser gives a flag the
    // parent command declares to the parent); the others are accepted and ignored.
    @OptionGroup package var options: ExporterOptions

    public init() {}

    public func run() throws {
        guard let configFile = options.configFile else {
            throw ValidationError("check-config: give the file to check with --config.file")
        }
        do {
            let loaded = try TargetsConfiguration.load(path: configFile)
            let discovery = loaded.discovery.map { settings in
                "organization discovery (role \(settings.roleName), "
                    + "\(settings.regions.map { "\($0.count) regions" } ?? "each account's enabled regions"))"
            }
            for warning in loaded.warnings {
                ExporterLogHandler.writeToStandardError("warning: \(warning)")
            }
            print(
                "\(configFile): usable: \(loaded.collectionTargets.count) configured targets"
                    + (discovery.map { ", \($0)" } ?? "") + ", \(loaded.mode.rawValue) collection"
                    + (loaded.warnings.isEmpty ? "" : " (see the warnings above)"))
        } catch {
            ExporterLogHandler.writeToStandardError("\(error)")
            throw ExitCode.failure
        }
    }
}

/// The descriptor limit, raised as Go programs raise it: systemd and many shells start services with a soft limit of
/// 1,024 and a far higher hard limit, and running out of descriptors is what turns a burst of clients into a crash.
enum DescriptorLimit {
    /// Descriptors kept for the exporter's own use (standard streams, the event loop, AWS connections, files)
    /// when `--web.max-connections` is fitted under the limit.
    static let reserved = 32

    #if canImport(Glibc)
        private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
        private static let resource = RLIMIT_NOFILE
    #endif

    private static func read() -> rlimit? {
        var limit = rlimit()
        return getrlimit(resource, &limit) == 0 ? limit : nil
    }

    /// The soft limit in force, `nil` if it cannot be read.
    static func current() -> UInt64? {
        read().map { UInt64($0.rlim_cur) }
    }

    /// `requested` connections, or fewer so that they and ``reserved`` fit under the soft limit.
    static func connectionsThatFit(_ requested: Int, limit: UInt64?) -> Int {
        guard let limit, limit < UInt64(Int.max) else { return requested }
        return max(1, min(requested, Int(limit) - reserved))
    }

    /// Sets the soft limit to the hard one; returns the soft limit in force afterwards.
    @discardableResult
    static func raiseToHardLimit() -> UInt64 {
        guard var limit = read() else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }
}

/// Keeps the exporter's resident memory flat from scrape to scrape.
///
/// Each scrape builds an exposition of about 1 KiB per instance, a megabyte at 1,000 instances. glibc serves the
/// first such buffer with mmap and gives it back when freed, but then raises its mmap threshold to that size, so
/// every later buffer comes from a heap arena that keeps the pages. Fixing the threshold at 128 KiB keeps large
/// buffers on mmap; two arenas, since the few threads rarely allocate at once. Measured by the benchmark's memory run:
/// about 4 MiB less anonymous memory after 100 scrapes, and no growth after the first.
enum MemoryTuning {
    static let mmapThresholdBytes: Int32 = 128 << 10
    static let maxArenas: Int32 = 2

    /// Whether glibc took the settings; false on other C libraries, where there is nothing to tune.
    @discardableResult
    static func apply() -> Bool {
        sso_admin_exporter_tune_malloc(mmapThresholdBytes, maxArenas) == 1
    }
}
