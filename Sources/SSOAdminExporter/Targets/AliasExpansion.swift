import CYaml

extension StrictYAML {
    /// Refuses a document whose aliases expand it beyond ``expansionFactor`` times its size plus
    /// ``expansionAllowance`` bytes, before Yams composes it.
    ///
    /// It must come first: Yams composes an alias as the anchored node itself and hashes every mapping key to find
    /// duplicates, so an aliased list used as a key is walked in full while composing (a 600-byte file of nested
    /// aliases took 3.4 s, one more level ten times that). libyaml's events are read once, and each anchor's
    /// expanded size (a node per collection, a node and its bytes per scalar) is added up as it would expand,
    /// stopping at the first alias past the budget. Errors of the YAML itself are left to the composer to report.
    static func checkAliasExpansion(_ text: String, path: String) throws(ConfigFileError) {
        var bytes = Array(text.utf8)
        let budget = expansionFactor * bytes.count + expansionAllowance
        // Sizes saturate just past the budget: nested aliases grow exponentially and would overflow.
        func sum(_ first: Int, _ second: Int) -> Int { min(first + second, budget + 1) }

        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return }
        defer { yaml_parser_delete(&parser) }
        var overflowLine: Int?
        bytes.withUnsafeMutableBufferPointer { buffer in
            guard let start = buffer.baseAddress else { return }
            yaml_parser_set_input_string(&parser, start, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var anchors: [String: Int] = [:]
            // The collections being read: each one's anchor and its expanded size so far.
            var open: [(anchor: String?, size: Int)] = []
            var total = 0
            func close(_ size: Int, anchor: String?) {
                if let anchor { anchors[anchor] = size }
                if !open.isEmpty { open[open.count - 1].size = sum(open[open.count - 1].size, size) }
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_SCALAR_EVENT:
                    let size = sum(1, event.data.scalar.length)
                    total = sum(total, size)
                    close(size, anchor: name(event.data.scalar.anchor))
                case YAML_ALIAS_EVENT:
                    let size = name(event.data.alias.anchor).flatMap { anchors[$0] } ?? 1
                    total = sum(total, size)
                    close(size, anchor: nil)
                case YAML_SEQUENCE_START_EVENT:
                    total = sum(total, 1)
                    open.append((name(event.data.sequence_start.anchor), 1))
                case YAML_MAPPING_START_EVENT:
                    total = sum(total, 1)
                    open.append((name(event.data.mapping_start.anchor), 1))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    if let collection = open.popLast() { close(collection.size, anchor: collection.anchor) }
                case YAML_STREAM_END_EVENT:
                    return
                default:
                    continue
                }
                if total > budget {
                    overflowLine = Int(event.start_mark.line) + 1
                    return
                }
            }
        }
        if let overflowLine {
            throw ConfigFileError(
                path: path, line: overflowLine, key: nil,
                "aliases expand too much: with this alias the document grows past \(expansionFactor) times the size "
                    + "of the file; write the values out or alias them less")
        }
    }

    private static func name(_ anchor: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        anchor.map { String(cString: $0) }
    }
}
