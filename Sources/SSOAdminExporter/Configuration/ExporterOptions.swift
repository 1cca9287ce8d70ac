import ArgumentParser
import Logging

/// `--log.level`.
package enum LogLevelOption: String, Sendable, CaseIterable, ExpressibleByArgument {
    case debug, info, warn, error

    package var level: Logger.Level {
        switch self {
        case .debug: .debug
        case .info: .info
        case .warn: .warning
        case .error: .error
        }
    }
}

extension LogFormat: ExpressibleByArgument {}

/// The command-line flags, in the dotted style of Prometheus exporters.
package struct ExporterOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("web.listen-address"), help: "Address to listen on for metrics and the web UI.")
    package var listenAddress: String = ":10711"

    @Option(name: .customLong("web.telemetry-path"), help: "Path under which metrics are served.")
    package var telemetryPath: String = "/metrics"

    @Option(
        name: .customLong("web.max-connections"),
        help: "HTTP connections served at once; more are closed as they arrive (each serves one request at a time).")
    package var maxConnections: Int = 64

    // A duration is read with `transform:`, so that a value without a unit says it needs one; ArgumentParser then
    // shows no default of its own, so the help says it.
    @Option(
        name: .customLong("web.read-timeout"),
        help: ArgumentHelp(
            "Close a connection that has not sent a whole request within this time (idle keep-alive included). "
                + "(default: 65s)"),
        transform: PrometheusDuration.argument)
    package var readTimeout: PrometheusDuration = PrometheusDuration(.seconds(65), text: "65s")

    @Option(
        name: .customLong("web.config.file"),
        help: ArgumentHelp(
            "Path to a web configuration file (exporter-toolkit format) for TLS and basic authentication.",
            valueName: "path"))
    package var webConfigFile: String?

    @Flag(
        name: .customLong("web.config.check"),
        help: "Check --web.config.file (and the files it names), print the result and exit: 0 if usable, else 1.")
    package var webConfigCheck: Bool = false

    @Flag(
        name: .customLong("web.enable-lifecycle"),
        help:
            "Serve POST /-/reload (reloads --config.file); without it the endpoint answers 403. SIGHUP always reloads.")
    package var enableLifecycle: Bool = false

    @Option(
        name: .customLong("config.file"),
        help: ArgumentHelp(
            "Path to a configuration file (YAML) listing the targets to watch (accounts, roles, regions, labels) "
                + "and how to collect them. Without it the flags define one target.",
            valueName: "path"))
    package var configFile: String?

    @Option(
        name: .customLong("aws.region"),
        help: "AWS region to query (default: AWS_REGION, then AWS_DEFAULT_REGION, then region in the profile).")
    package var region: String?

    @Option(
        name: .customLong("aws.endpoint-url"),
        help:
            "sso-admin endpoint URL (default: AWS_ENDPOINT_URL_SSO_ADMIN, AWS_ENDPOINT_URL, endpoint_url in the profile, then the regional one)."
    )
    package var endpointURL: String?

    @Flag(
        name: .customLong("aws.use-fips-endpoint"),
        help: "Use the FIPS endpoints of sso-admin and STS (default: AWS_USE_FIPS_ENDPOINT).")
    package var useFIPSEndpoint: Bool = false

    @Flag(
        name: .customLong("aws.use-dualstack-endpoint"),
        help: "Use the dual-stack (IPv4 and IPv6) endpoints (default: AWS_USE_DUALSTACK_ENDPOINT).")
    package var useDualStackEndpoint: Bool = false

    @Option(
        name: .customLong("aws.profile"),
        help:
            "Profile in the shared config and credentials files (default: AWS_PROFILE, then AWS_DEFAULT_PROFILE, then default); its region and endpoint_url apply when no flag or variable sets them."
    )
    package var profile: String?

    @Option(
        name: .customLong("aws.role-arn"),
        help: "IAM role to assume, with whatever credentials the default chain finds, before calling sso-admin.")
    package var roleARN: String?

    @Option(
        name: .customLong("aws.account-id"),
        help: ArgumentHelp(
            "The 12-digit account of the flags' target (the exporter's identity, or --aws.role-arn's, which it must "
                + "match), so that no STS GetCallerIdentity is needed; for --config.file use account_id: instead.",
            valueName: "account"))
    package var accountID: String?

    @Option(name: .customLong("aws.external-id"), help: "External ID for --aws.role-arn.")
    package var externalID: String?

    @Option(
        name: .customLong("aws.role-session-name"),
        help: "Session name for --aws.role-arn (default: sso-admin-exporter-<unix time>).")
    package var roleSessionName: String?

    @Option(name: .customLong("aws.page-size"), help: "MaxResults for each ListInstances page, 1 to 100.")
    package var pageSize: Int = 100

    @Option(
        name: .customLong("aws.connect-timeout"), help: "Timeout for connecting to AWS. (default: 3s)",
        transform: PrometheusDuration.argument)
    package var connectTimeout: PrometheusDuration = PrometheusDuration(.seconds(3), text: "3s")

    @Option(
        name: .customLong("aws.request-timeout"), help: "Timeout for one HTTP request to AWS. (default: 5s)",
        transform: PrometheusDuration.argument)
    package var requestTimeout: PrometheusDuration = PrometheusDuration(.seconds(5), text: "5s")

    @Option(
        name: .customLong("collect.timeout"),
        help: ArgumentHelp(
            "Deadline of a collection when the scrape does not announce one (X-Prometheus-Scrape-Timeout-Seconds). "
                + "(default: 10s)"),
        transform: PrometheusDuration.argument)
    package var collectTimeout: PrometheusDuration = PrometheusDuration(.seconds(10), text: "10s")

    @Option(
        name: .customLong("collect.min-interval"),
        help: ArgumentHelp(
            "Reuse a collection younger than this instead of calling AWS again (0: collect on every scrape). "
                + "(default: 0s)"),
        transform: PrometheusDuration.argument)
    package var minInterval: PrometheusDuration = PrometheusDuration(.zero, text: "0s")

    @Flag(
        name: .customLong("collect.instance-details"), inversion: .prefixedNo,
        help: ArgumentHelp(
            "Also read each owned instance's encryption (DescribeInstance) and Regions (ListRegions); "
                + "--no-collect.instance-details makes ListInstances calls only. collection.instance_details in "
                + "--config.file wins."))
    package var instanceDetails: Bool = true

    @Option(
        name: .customLong("discovery.shard.index"),
        help: ArgumentHelp(
            "This replica's index among --discovery.shard.count replicas, from 0: it collects only the accounts whose "
                + "hash falls on it. Wins over discovery.organizations.shard.index in --config.file. (default: 0)",
            valueName: "index"))
    package var shardIndex: Int?

    @Option(
        name: .customLong("discovery.shard.count"),
        help: ArgumentHelp(
            "Replicas that split the accounts between them, 1 to 1024; every replica must be given the same count. "
                + "Wins over discovery.organizations.shard.count in --config.file. (default: 1)",
            valueName: "count"))
    package var shardCount: Int?

    @Option(name: .customLong("log.level"), help: "Only log messages with the given severity or above.")
    package var logLevel: LogLevelOption = .info

    @Option(name: .customLong("log.format"), help: "Output format of log messages.")
    package var logFormat: LogFormat = .logfmt

    package init() {}
}
