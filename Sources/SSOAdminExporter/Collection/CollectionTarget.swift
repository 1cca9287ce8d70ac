/// What one collection looks at: one account in one region, reached with one identity.
///
/// Its labels lead every series derived from that collection, always in the order `region`, `account_id`, then the
/// static labels sorted by name, so dashboards and recording rules can rely on them.
package struct CollectionTarget: Sendable, Hashable {
    /// Unique among the exporter's targets; `/probe?target=` and `/sd` use it.
    package let name: String
    package let region: String
    /// Twelve digits; empty while the account is not yet known (the default target learns it from STS
    /// `GetCallerIdentity` on its first collection).
    package let accountID: String
    /// From the configuration file, sorted by name; never one of ``reservedLabelNames``.
    package let staticLabels: [StaticLabel]

    /// Label names a static label may not take, because the exporter sets them on its own series.
    package static let reservedLabelNames: Set<String> = [
        "region", "account_id", "status", "instance_arn", "instance_id", "identity_store_id", "owner_account_id",
        "name", "kind", "reason", "operation", "exception", "provider", "target", "job", "instance",
    ]

    package struct StaticLabel: Sendable, Hashable {
        package let name: String
        package let value: String

        package init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    package init(name: String? = nil, region: String, accountID: String = "", staticLabels: [StaticLabel] = []) {
        self.region = region
        self.accountID = accountID
        self.staticLabels = staticLabels.sorted { $0.name < $1.name }
        self.name = name ?? Self.defaultName(region: region)
    }

    /// The name of the target the flags define when there is no configuration file.
    package static func defaultName(region: String) -> String { "default/\(region)" }

    /// The same target once its account is known.
    package func withAccountID(_ accountID: String) -> CollectionTarget {
        CollectionTarget(name: name, region: region, accountID: accountID, staticLabels: staticLabels)
    }

    /// Where a target looks: one account in one Region. A configured target and a discovered one at the same place
    /// are one target (the configured one).
    package struct Place: Hashable, Sendable {
        let region: String
        let accountID: String
    }

    package var place: Place { Place(region: region, accountID: accountID) }

    /// What a target's series are told apart by: two targets with the same region, account and static labels (a
    /// configured role into an account that discovery also finds) would write the same series twice.
    package struct SeriesIdentity: Hashable, Sendable {
        let region: String
        let accountID: String
        let staticLabels: [StaticLabel]
    }

    package var seriesIdentity: SeriesIdentity {
        SeriesIdentity(region: region, accountID: accountID, staticLabels: staticLabels)
    }

    /// Label pairs in their fixed order.
    package var labels: [(String, String)] {
        [("region", region), ("account_id", accountID)] + staticLabels.map { ($0.name, $0.value) }
    }
}
