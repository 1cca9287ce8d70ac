/// Every metric family the exporter serves. Names, types and labels are a public contract (see README).
package enum MetricCatalog {
    // Per-collection snapshot, written afresh on each scrape.
    package static let instances = MetricSpec(
        "aws_sso_admin_instances", .gauge,
        help: "IAM Identity Center instances by status, from the last ListInstances collection.")
    package static let instancesUnidentified = MetricSpec(
        "aws_sso_admin_instances_unidentified", .gauge,
        help: "Instances in the last collection without an InstanceArn: not in aws_sso_admin_instances, no "
            + "per-instance series.")
    package static let instanceStatus = MetricSpec(
        "aws_sso_admin_instance_status", .gauge,
        help: "State set of each instance's status: 1 for the current status, 0 for the others.")
    package static let instanceInfo = MetricSpec(
        "aws_sso_admin_instance_info", .gauge,
        help: "Identity of each IAM Identity Center instance; always 1.")
    package static let instanceStatusReason = MetricSpec(
        "aws_sso_admin_instance_status_reason_info", .gauge,
        help: "StatusReason of instances that report one; always 1.")
    package static let instanceCreationTimestamp = MetricSpec(
        "aws_sso_admin_instance_creation_timestamp_seconds", .gauge,
        help: "Creation time of each instance, in seconds since the Unix epoch.")
    package static let instanceAge = MetricSpec(
        "aws_sso_admin_instance_age_seconds", .gauge,
        help: "Age of each instance at collection time, in seconds.")
    package static let listInstancesPages = MetricSpec(
        "aws_sso_admin_list_instances_pages", .gauge,
        help: "ListInstances pages fetched by the last successful collection.")
    package static let collectSuccess = MetricSpec(
        "aws_sso_admin_collect_success", .gauge,
        help: "Whether the last collection from AWS succeeded (1) or failed (0).")
    package static let collectDuration = MetricSpec(
        "aws_sso_admin_collect_duration_seconds", .gauge,
        help: "Duration of the last collection from AWS, in seconds.")
    package static let collectLastSuccess = MetricSpec(
        "aws_sso_admin_collect_last_success_timestamp_seconds", .gauge,
        help: "When the last successful collection of the target finished, in seconds since the Unix epoch; absent "
            + "once it is older than max_stale.")

    // Instance details (DescribeInstance, sso-admin ListRegions), for the instances a target's account owns.
    package static let collectDetailsSuccess = MetricSpec(
        "aws_sso_admin_collect_details_success", .gauge,
        help: "Whether every instance detail call (DescribeInstance, ListRegions) of the last successful collection "
            + "succeeded (1) or not (0); absent with instance details off.")
    package static let instanceEncryptionInfo = MetricSpec(
        "aws_sso_admin_instance_encryption_info", .gauge,
        help: "Encryption of each described instance: key_type, and kms_key_arn (empty for an AWS-owned key); "
            + "always 1.")
    package static let instanceEncryptionStatus = MetricSpec(
        "aws_sso_admin_instance_encryption_status", .gauge,
        help: "State set of each described instance's EncryptionStatus: 1 for the current status, 0 for the others.")
    package static let instanceEncryptionStatusReason = MetricSpec(
        "aws_sso_admin_instance_encryption_status_reason_info", .gauge,
        help: "EncryptionStatusReason of described instances that report one; always 1.")
    package static let instanceRegionStatus = MetricSpec(
        "aws_sso_admin_instance_region_status", .gauge,
        help: "State set of the status of each Region a described instance lists (ListRegions): 1 for the current "
            + "status, 0 for the others.")
    package static let instanceRegionInfo = MetricSpec(
        "aws_sso_admin_instance_region_info", .gauge,
        help: "Each Region a described instance lists, and whether it is the primary Region; always 1.")
    package static let instanceRegionAdded = MetricSpec(
        "aws_sso_admin_instance_region_added_timestamp_seconds", .gauge,
        help: "When each Region was added to a described instance, in seconds since the Unix epoch.")
    package static let instanceRegions = MetricSpec(
        "aws_sso_admin_instance_regions", .gauge,
        help: "How many Regions each described instance lists.")

    /// The families whose values can come from a reused collection when `--collect.min-interval` is set.
    package static let snapshotFamilies: [MetricSpec] = [
        instances, instancesUnidentified, instanceStatus, instanceInfo, instanceStatusReason,
        instanceCreationTimestamp, instanceAge,
        listInstancesPages, collectSuccess, collectDuration, collectLastSuccess,
        collectDetailsSuccess, instanceEncryptionInfo, instanceEncryptionStatus, instanceEncryptionStatusReason,
        instanceRegionStatus, instanceRegionInfo, instanceRegionAdded, instanceRegions,
    ]

    // Targets and discovery.
    package static let targets = MetricSpec(
        "aws_sso_admin_targets", .gauge,
        help: "Targets watched: configured (in --config.file or by the flags), discovered (from the organization), "
            + "and failing (whose last collection failed).")
    package static let discoveryAccounts = MetricSpec(
        "aws_sso_admin_discovery_accounts", .gauge,
        help: "Accounts the last successful organization discovery kept, after states and include/exclude lists.")
    package static let discoveryErrors = MetricSpec(
        "aws_sso_admin_discovery_errors_total", .counter,
        help: "Organization discoveries that failed; the last good account list stays in use.")
    package static let discoveryAccountErrors = MetricSpec(
        "aws_sso_admin_discovery_account_errors_total", .counter,
        help: "Accounts whose Regions a discovery could not read in full, by reason: regions_unreadable (ListRegions "
            + "failed; the account keeps the Regions read before, if any), invalid_regions (names that are not Regions "
            + "were left out), too_many_regions (Regions past the per-account limit were left out).")
    package static let discoveryDuration = MetricSpec(
        "aws_sso_admin_discovery_duration_seconds", .gauge, help: "Duration of the last organization discovery.")
    package static let discoveryLastSuccess = MetricSpec(
        "aws_sso_admin_discovery_last_success_timestamp_seconds", .gauge,
        help: "When the last successful organization discovery finished, in seconds since the Unix epoch.")

    // Cumulative, kept for the life of the process (by target, in TargetCallMetrics).
    package static let apiRequests = MetricSpec(
        "aws_sso_admin_api_requests_total", .counter,
        help: "HTTP requests sent to AWS APIs, retries included.")
    package static let apiErrors = MetricSpec(
        "aws_sso_admin_api_errors_total", .counter,
        help: "Failed AWS API requests by exception type; transport failures under ConnectionError, Timeout, "
            + "InvalidResponse, CredentialsError or PaginationLoop.")
    package static let apiRequestDuration = MetricSpec(
        "aws_sso_admin_api_request_duration_seconds", .histogram,
        help: "Duration of HTTP requests to AWS APIs, in seconds.")

    package static let credentialsRefreshes = MetricSpec(
        "aws_sso_admin_credentials_refreshes_total", .counter,
        help: "Successful credential fetches by provider (environment, profile, process, assume-role, "
            + "web-identity, container, imds).")
    package static let credentialsErrors = MetricSpec(
        "aws_sso_admin_credentials_errors_total", .counter,
        help: "Failed credential fetches by provider; the chain's own failures (a broken config file) under chain.")
    package static let credentialsExpiry = MetricSpec(
        "aws_sso_admin_credentials_expiry_timestamp_seconds", .gauge,
        help: "Expiry of the credentials in use, in Unix seconds; absent for credentials that do not expire.")

    // The exporter's own HTTP server.
    package static let httpConnections = MetricSpec(
        "aws_sso_admin_exporter_http_connections", .gauge,
        help: "HTTP connections open to the exporter now (at most --web.max-connections).")
    package static let httpConnectionsRejected = MetricSpec(
        "aws_sso_admin_exporter_http_connections_rejected_total", .counter,
        help: "HTTP connections the exporter closed: max_connections (over --web.max-connections), read_timeout "
            + "(no whole request within --web.read-timeout) or client_san (a client certificate without any of "
            + "client_allowed_sans).")
    package static let httpAuthRefused = MetricSpec(
        "aws_sso_admin_exporter_http_auth_refused_total", .counter,
        help: "Requests refused by basic authentication: credentials (none, an unknown user or a wrong password; "
            + "401) or busy (too many bcrypt verifications waiting; 429).")

    package static let configReloads = MetricSpec(
        "aws_sso_admin_exporter_config_reloads_total", .counter,
        help:
            "Reloads of --config.file on SIGHUP or POST /-/reload, by result: success, or failure (the targets of the "
            + "last good file stay).")
    package static let configLastReloadSuccessful = MetricSpec(
        "aws_sso_admin_exporter_config_last_reload_successful", .gauge,
        help: "1 if the last load of --config.file succeeded, 0 if the exporter watches the targets of an older one.")
    package static let webConfigReloads = MetricSpec(
        "aws_sso_admin_exporter_web_config_reloads_total", .counter,
        help: "Reloads of --web.config.file after a change or SIGHUP, by result: success, or failure (the last good "
            + "settings stay in use).")
    package static let webConfigLastReloadSuccessful = MetricSpec(
        "aws_sso_admin_exporter_web_config_last_reload_successful", .gauge,
        help: "1 if the last load of --web.config.file succeeded, 0 if the exporter serves with older settings.")

    // Static and process metrics.
    package static let shardInfo = MetricSpec(
        "aws_sso_admin_exporter_shard_info", .gauge,
        help: "This replica's shard: it collects the accounts whose hash modulo count is index "
            + "(--discovery.shard.index, --discovery.shard.count); always 1.")
    package static let buildInfo = MetricSpec(
        "aws_sso_admin_exporter_build_info", .gauge,
        help: "Build of the running sso-admin-exporter; always 1.")
    package static let processCPUSeconds = MetricSpec(
        "process_cpu_seconds_total", .counter, help: "Total user and system CPU time spent in seconds.")
    package static let processResidentMemory = MetricSpec(
        "process_resident_memory_bytes", .gauge, help: "Resident memory size in bytes.")
    package static let processVirtualMemory = MetricSpec(
        "process_virtual_memory_bytes", .gauge, help: "Virtual memory size in bytes.")
    package static let processStartTime = MetricSpec(
        "process_start_time_seconds", .gauge, help: "Start time of the process since unix epoch in seconds.")
    package static let processOpenFDs = MetricSpec(
        "process_open_fds", .gauge, help: "Number of open file descriptors.")
    package static let processMaxFDs = MetricSpec(
        "process_max_fds", .gauge, help: "Maximum number of open file descriptors.")
}
