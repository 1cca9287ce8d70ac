import AWSClient
import Logging
import ServiceLifecycle

/// The exporter assembled from one configuration (its composition root): the services that run beside the HTTP
/// server (the scheduler that collects the targets, organization discovery, the reloader of `--config.file`) and
/// the routes that serve what they gather, each given only what it uses.
package struct Exporter: Sendable {
    package let scheduler: any CollectionScheduler & Service
    /// Organization discovery, when configured: it finds targets and knows the management account.
    package let discovery: OrganizationDiscovery?
    /// Reloads `--config.file` (SIGHUP, `POST /-/reload`), when there is one.
    package let reloader: TargetsReloader?
    package let selfMetrics: ExporterSelfMetrics
    package let routes: ExporterRoutes

    /// Calls AWS through `client`, on the client's clock, as `credentialProvider`: the configuration's targets
    /// (`--config.file`'s, or the one the flags define) collected in their mode. Its ``services`` must run for
    /// scrapes to be answered.
    package init(
        configuration: ExporterConfiguration,
        credentialProvider: any AWSCredentialProvider,
        client: AWSClient,
        selfMetrics: ExporterSelfMetrics? = nil,
        environment: [String: String] = [:],
        logger: Logger
    ) throws(ExporterConfigurationError) {
        let selfMetrics = selfMetrics ?? ExporterSelfMetrics()
        self.selfMetrics = selfMetrics
        let clock = client.configuration.clock
        let taskExecutor = client.taskExecutor
        let factory = TargetSourceFactory(
            configuration: configuration, baseProvider: credentialProvider, client: client, metrics: selfMetrics,
            environment: environment, logger: logger)
        let targets = configuration.targets
        let collector = TargetCollector(
            metrics: selfMetrics, clock: clock, taskExecutor: taskExecutor, shard: targets.shard, logger: logger)
        selfMetrics.processWide.gauge(
            MetricCatalog.shardInfo, labels: [("index", "\(targets.shard.index)"), ("count", "\(targets.shard.count)")]
        ).set(1)
        let set = TargetSet(
            configured: try factory.sources(for: targets), shard: targets.shard,
            onChange: { factory.targetsChanged($0) })
        let scheduler: any CollectionScheduler & Service
        switch targets.mode {
        case .background:
            scheduler = PeriodicScheduler(
                targets: set, collector: collector, interval: targets.interval, timeout: targets.timeout,
                maxStale: targets.maxStale, maxConcurrency: targets.maxConcurrency,
                emptyRegionInterval: targets.emptyRegionInterval, logger: logger)
        case .onScrape:
            scheduler = OnScrapeScheduler(
                targets: set, collector: collector, minInterval: configuration.collection.minInterval,
                maxStale: targets.maxStale, maxConcurrency: targets.maxConcurrency,
                emptyRegionInterval: targets.emptyRegionInterval)
        }
        let reloader = configuration.configFile.map { path in
            TargetsReloader(path: path, initial: targets, targets: set, factory: factory, logger: logger)
        }
        let discovery = try targets.discovery.map { settings throws(ExporterConfigurationError) in
            try OrganizationDiscovery(
                settings: settings, targets: set, factory: factory, maxConcurrency: targets.maxConcurrency,
                timeout: targets.timeout, taskExecutor: taskExecutor, logger: logger)
        }
        self.scheduler = scheduler
        self.discovery = discovery
        self.reloader = reloader
        let targetSeries = TargetSeries(
            targets: set, renderer: SnapshotRenderer(helpSuffix: scheduler.helpSuffix), discovery: discovery)
        routes = ExporterRoutes(
            telemetryPath: configuration.web.telemetryPath,
            scrapeBudget: ScrapeBudget(fallback: configuration.collection.timeout),
            metrics: MetricsPage(
                scheduler: scheduler,
                sources: [
                    targetSeries, TargetCounts(targets: set), selfMetrics, selfMetrics.processWide,
                    BuildInfo.Metrics(), ProcessMetrics(),
                ]),
            probe: ProbePage(scheduler: scheduler, targetSeries: targetSeries),
            serviceDiscovery: ServiceDiscoveryPage(targets: set),
            reload: reloader.map { ReloadRoute(reloader: $0, enabled: configuration.web.enableLifecycle) },
            refusals: selfMetrics.processWide)
    }

    /// What must run, beside the HTTP server, for the routes to be answered: collection first.
    package var services: [any Service] {
        var services: [any Service] = [scheduler]
        if let discovery { services.append(discovery) }
        if let reloader { services.append(reloader) }
        return services
    }
}
