import AWSClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Writes a ``CollectionSnapshot`` as metric families. Only a successful collection yields per-instance
/// series; a failed one reports its failure and nothing it did not see.
package struct SnapshotRenderer: Sendable {
    /// Appended to the HELP text of every snapshot family, e.g. to say results may be reused.
    package let helpSuffix: String

    static let maxARNLength = 1300
    static let maxFieldLength = 256
    static let maxReasonLength = 256
    /// What a missing `Status` is reported as.
    static let missingStatus = "UNKNOWN"
    /// Distinct statuses outside the model kept as their own label value per collection; the rest are reported as
    /// ``otherStatus``, so a misbehaving service cannot make thousands of series.
    static let maxUnrecognizedStatuses = 8
    static let otherStatus = "OTHER"

    /// The state set's `name{` and, per modeled status, the line tails for 0 and 1, encoded once.
    private let statusPrefix = Array("\(MetricCatalog.instanceStatus.name){".utf8)
    private let modeledTails = InstanceStatus.modeled.map {
        (status: $0, zero: SnapshotRenderer.statusTail($0, 0), one: SnapshotRenderer.statusTail($0, 1))
    }

    package init(helpSuffix: String = "") {
        self.helpSuffix = helpSuffix
    }

    static func statusTail(_ status: InstanceStatus, _ value: Int) -> [UInt8] {
        Array(",\(EncodedLabels([("status", status.rawValue)]).bytesAsString)} \(value)\n".utf8)
    }

    package func render(_ snapshot: CollectionSnapshot, into writer: inout PrometheusTextWriter) {
        render([snapshot], into: &writer)
    }

    /// `kind` of an instance: `organization` for the instance the management account owns, `account` for one any
    /// other account owns, `unknown` while the management account is not known (no organization discovery).
    static func kind(owner: String?, managementAccountID: String?) -> String {
        guard let managementAccountID else { return "unknown" }
        return owner == managementAccountID ? "organization" : "account"
    }

    /// Writes every family once, with the samples of all `snapshots` under it, so that any number of targets makes
    /// a valid exposition.
    package func render(
        _ snapshots: [CollectionSnapshot], managementAccountID: String? = nil, into writer: inout PrometheusTextWriter
    ) {
        for pass in passes(snapshots, managementAccountID: managementAccountID) {
            writer.family(pass.family, helpSuffix: helpSuffix)
            pass.write(0..<pass.count, &writer)
        }
    }

    /// ``render(_:managementAccountID:into:)`` in pieces of at most `targetsPerPiece` targets' samples of one
    /// family, calling `drain` after each: an exposition of thousands of targets is sent while it is written, and
    /// never held whole.
    package func render(
        _ snapshots: [CollectionSnapshot], managementAccountID: String? = nil, into writer: inout PrometheusTextWriter,
        targetsPerPiece: Int = 256, drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        for pass in passes(snapshots, managementAccountID: managementAccountID) {
            writer.family(pass.family, helpSuffix: helpSuffix)
            for start in stride(from: 0, to: pass.count, by: max(1, targetsPerPiece)) {
                pass.write(start..<min(pass.count, start + targetsPerPiece), &writer)
                try await drain(&writer)
            }
        }
    }

    /// One family: its samples for targets `range` of `count`.
    struct Pass {
        let family: MetricSpec
        let count: Int
        let write: (Range<Int>, inout PrometheusTextWriter) -> Void
    }

    func passes(_ snapshots: [CollectionSnapshot], managementAccountID: String?) -> [Pass] {
        let targets = snapshots.map { EncodedLabels($0.target.labels) }
        // A failed collection reports the instances of its last success while that is within max_stale, else none.
        let reported: [TargetRows] = zip(snapshots, targets).compactMap { snapshot, labels in
            guard let instances = snapshot.reportedInstances else { return nil }
            let allRows = Self.rows(instances)
            // Without an ARN an instance cannot have per-instance series; it is counted apart rather than in the
            // status totals, which must agree with the series beside them.
            let rows = allRows.filter { $0.arn != nil }
            let measuredAt = snapshot.succeeded ? snapshot.collectedAt : snapshot.lastSuccess?.finishedAt
            return TargetRows(
                labels: labels, rows: rows, unidentified: allRows.count - rows.count,
                details: snapshot.reportedDetails?.byARN ?? [:],
                // Each instance's shared labels are escaped once and reused by its samples in every family.
                instanceLabels: rows.map { labels.appending("instance_arn", $0.arn!) },
                measuredAt: measuredAt?.timeIntervalSince1970 ?? 0)
        }
        func perSnapshot(
            _ family: MetricSpec,
            _ write: @escaping (CollectionSnapshot, EncodedLabels, inout PrometheusTextWriter) -> Void
        ) -> Pass {
            Pass(family: family, count: snapshots.count) { range, writer in
                for index in range { write(snapshots[index], targets[index], &writer) }
            }
        }
        func perTarget(_ family: MetricSpec, _ write: @escaping (TargetRows, inout PrometheusTextWriter) -> Void)
            -> Pass
        {
            Pass(family: family, count: reported.count) { range, writer in
                for index in range { write(reported[index], &writer) }
            }
        }
        func perInstance(
            _ family: MetricSpec, _ write: @escaping (Row, EncodedLabels, Double, inout PrometheusTextWriter) -> Void
        ) -> Pass {
            perTarget(family) { target, writer in
                for (row, labels) in zip(target.rows, target.instanceLabels) {
                    write(row, labels, target.measuredAt, &writer)
                }
            }
        }
        func perDescribed(
            _ family: MetricSpec,
            _ write: @escaping (InstanceDetails, EncodedLabels, inout PrometheusTextWriter) -> Void
        ) -> Pass {
            perTarget(family) { target, writer in
                guard !target.details.isEmpty else { return }
                for (row, labels) in zip(target.rows, target.instanceLabels) {
                    guard let arn = row.arn, let details = target.details[arn] else { continue }
                    write(details, labels, &writer)
                }
            }
        }
        return [
            perSnapshot(MetricCatalog.collectSuccess) { snapshot, labels, writer in
                writer.sample(MetricCatalog.collectSuccess.name, labels, value: snapshot.succeeded ? 1 : 0)
            },
            perSnapshot(MetricCatalog.collectDuration) { snapshot, labels, writer in
                writer.sample(MetricCatalog.collectDuration.name, labels, value: snapshot.duration.secondsDouble)
            },
            perSnapshot(MetricCatalog.collectLastSuccess) { snapshot, labels, writer in
                guard let last = snapshot.lastSuccessAt else { return }
                writer.sample(MetricCatalog.collectLastSuccess.name, labels, value: last.timeIntervalSince1970)
            },
            perSnapshot(MetricCatalog.listInstancesPages) { snapshot, labels, writer in
                guard case .success(_, let pages) = snapshot.outcome else { return }
                writer.sample(MetricCatalog.listInstancesPages.name, labels, value: Double(pages))
            },
            perTarget(MetricCatalog.instancesUnidentified) { target, writer in
                writer.sample(
                    MetricCatalog.instancesUnidentified.name, target.labels, value: Double(target.unidentified))
            },
            perTarget(MetricCatalog.instances) { target, writer in
                var counts: [InstanceStatus: Int] = [:]
                for status in InstanceStatus.modeled { counts[status] = 0 }
                for row in target.rows { counts[row.status, default: 0] += 1 }
                let ordered =
                    InstanceStatus.modeled
                    + counts.keys.filter { !InstanceStatus.modeled.contains($0) }.sorted { $0.rawValue < $1.rawValue }
                for status in ordered {
                    writer.sample(
                        MetricCatalog.instances.name, target.labels.appending("status", status.rawValue),
                        value: Double(counts[status] ?? 0))
                }
            },
            perInstance(MetricCatalog.instanceStatus) { row, labels, _, writer in
                for modeled in modeledTails {
                    writer.sampleLine(
                        prefix: statusPrefix, labels: labels,
                        tail: row.status == modeled.status ? modeled.one : modeled.zero)
                }
                if !InstanceStatus.modeled.contains(row.status) {
                    writer.sampleLine(prefix: statusPrefix, labels: labels, tail: Self.statusTail(row.status, 1))
                }
            },
            perInstance(MetricCatalog.instanceInfo) { row, labels, _, writer in
                let instance = row.instance
                var info = labels
                info.append("instance_id", Self.clean(instance.instanceID))
                info.append("identity_store_id", Self.clean(instance.identityStoreId))
                info.append("owner_account_id", Self.clean(instance.ownerAccountId))
                info.append("name", Self.clean(instance.name))
                info.append("kind", Self.kind(owner: instance.ownerAccountId, managementAccountID: managementAccountID))
                writer.sample(MetricCatalog.instanceInfo.name, info, value: 1)
            },
            perInstance(MetricCatalog.instanceStatusReason) { row, labels, _, writer in
                guard let rawReason = row.instance.statusReason else { return }
                let reason = LabelValue.clean(rawReason, maxLength: Self.maxReasonLength)
                guard !reason.allSatisfy(\.isWhitespace) else { return }
                var reasonLabels = labels
                reasonLabels.append("status", row.status.rawValue)
                reasonLabels.append("reason", reason)
                writer.sample(MetricCatalog.instanceStatusReason.name, reasonLabels, value: 1)
            },
            perInstance(MetricCatalog.instanceCreationTimestamp) { row, labels, _, writer in
                guard let created = row.instance.createdDate else { return }
                writer.sample(MetricCatalog.instanceCreationTimestamp.name, labels, value: created)
            },
            perInstance(MetricCatalog.instanceAge) { row, labels, measuredAt, writer in
                guard let created = row.instance.createdDate else { return }
                writer.sample(MetricCatalog.instanceAge.name, labels, value: max(0, measuredAt - created))
            },
        ]
            // With instance details off (or none read yet) the page is as it was without them.
            + (snapshots.contains { $0.reportedDetails != nil }
                ? detailPasses(perSnapshot: perSnapshot, perDescribed: perDescribed) : [])
    }

    /// The instance details families: encryption, then the Regions each instance lists.
    private func detailPasses(
        perSnapshot: (MetricSpec, @escaping (CollectionSnapshot, EncodedLabels, inout PrometheusTextWriter) -> Void)
            -> Pass,
        perDescribed: (MetricSpec, @escaping (InstanceDetails, EncodedLabels, inout PrometheusTextWriter) -> Void)
            -> Pass
    ) -> [Pass] {
        [
            perSnapshot(MetricCatalog.collectDetailsSuccess) { snapshot, labels, writer in
                guard snapshot.succeeded, let details = snapshot.details else { return }
                writer.sample(MetricCatalog.collectDetailsSuccess.name, labels, value: details.succeeded ? 1 : 0)
            },
            perDescribed(MetricCatalog.instanceEncryptionInfo) { details, labels, writer in
                guard let encryption = details.encryption else { return }
                var info = labels
                info.append("key_type", Self.clean(encryption.keyType))
                info.append(
                    "kms_key_arn", LabelValue.clean(encryption.kmsKeyArn ?? "", maxLength: Self.maxKeyARNLength))
                writer.sample(MetricCatalog.instanceEncryptionInfo.name, info, value: 1)
            },
            perDescribed(MetricCatalog.instanceEncryptionStatus) { details, labels, writer in
                guard let encryption = details.encryption else { return }
                Self.stateSet(
                    MetricCatalog.instanceEncryptionStatus.name, labels, modeled: ModeledStatus.encryptionStatuses,
                    current: encryption.status, into: &writer)
            },
            perDescribed(MetricCatalog.instanceEncryptionStatusReason) { details, labels, writer in
                guard let encryption = details.encryption, let rawReason = encryption.statusReason else { return }
                let reason = LabelValue.clean(rawReason, maxLength: Self.maxReasonLength)
                guard !reason.allSatisfy(\.isWhitespace) else { return }
                var reasonLabels = labels
                reasonLabels.append("status", (encryption.status ?? Self.missingModeledStatus).rawValue)
                reasonLabels.append("reason", reason)
                writer.sample(MetricCatalog.instanceEncryptionStatusReason.name, reasonLabels, value: 1)
            },
            perDescribed(MetricCatalog.instanceRegionStatus) { details, labels, writer in
                for region in details.regions {
                    Self.stateSet(
                        MetricCatalog.instanceRegionStatus.name, labels.appending("replica_region", region.name),
                        modeled: ModeledStatus.regionStatuses, current: region.status, into: &writer)
                }
            },
            perDescribed(MetricCatalog.instanceRegionInfo) { details, labels, writer in
                for region in details.regions {
                    var info = labels.appending("replica_region", region.name)
                    info.append("primary", region.isPrimary == true ? "true" : "false")
                    writer.sample(MetricCatalog.instanceRegionInfo.name, info, value: 1)
                }
            },
            perDescribed(MetricCatalog.instanceRegionAdded) { details, labels, writer in
                for region in details.regions {
                    guard let added = region.addedDate else { continue }
                    writer.sample(
                        MetricCatalog.instanceRegionAdded.name, labels.appending("replica_region", region.name),
                        value: added)
                }
            },
            perDescribed(MetricCatalog.instanceRegions) { details, labels, writer in
                writer.sample(MetricCatalog.instanceRegions.name, labels, value: Double(details.regions.count))
            },
        ]
    }

    static let maxKeyARNLength = 2048
    /// What a missing `EncryptionStatus` or Region `Status` is reported as.
    static let missingModeledStatus = ModeledStatus(missingStatus)

    /// A state set over the model's statuses, each at 0 but the current one; a status outside the model (already
    /// cleaned and bounded) gets a series of its own at 1, as instance statuses do.
    static func stateSet(
        _ name: String, _ labels: EncodedLabels, modeled: [ModeledStatus], current: ModeledStatus?,
        into writer: inout PrometheusTextWriter
    ) {
        let current = current ?? missingModeledStatus
        for status in modeled {
            writer.sample(name, labels.appending("status", status.rawValue), value: status == current ? 1 : 0)
        }
        if !modeled.contains(current) {
            writer.sample(name, labels.appending("status", current.rawValue), value: 1)
        }
    }

    /// One target's instances, cleaned, with the labels its series share.
    struct TargetRows {
        let labels: EncodedLabels
        let rows: [Row]
        let unidentified: Int
        /// Details of the rows' instances the target described, by ARN.
        let details: [String: InstanceDetails]
        let instanceLabels: [EncodedLabels]
        /// When the instances were seen, for their age.
        let measuredAt: Double
    }

    struct Row {
        let instance: InstanceMetadata
        let arn: String?
        let status: InstanceStatus
    }

    /// Cleans labels and drops repeats of an ARN (a service paging bug must not yield duplicate series).
    static func rows(_ instances: [InstanceMetadata]) -> [Row] {
        var seen: Set<String> = []
        var unrecognized: Set<InstanceStatus> = []
        var rows: [Row] = []
        rows.reserveCapacity(instances.count)
        for instance in instances {
            let arn = instance.instanceArn.map { LabelValue.clean($0, maxLength: maxARNLength) }
            if let arn, !arn.isEmpty {
                guard seen.insert(arn).inserted else { continue }
            }
            var status = instance.status ?? .unrecognized(missingStatus)
            if case .unrecognized = status, !unrecognized.contains(status) {
                if unrecognized.count < maxUnrecognizedStatuses {
                    unrecognized.insert(status)
                } else {
                    status = .unrecognized(otherStatus)
                }
            }
            rows.append(Row(instance: instance, arn: arn?.isEmpty == false ? arn : nil, status: status))
        }
        return rows
    }

    static func clean(_ value: String?) -> String {
        LabelValue.clean(value ?? "", maxLength: maxFieldLength)
    }
}
