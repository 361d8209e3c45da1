/// Recognises the few interface hooks that have an exact systemd `.link` equivalent
/// (`ethtool -s IF wol g`, `ethtool -K IF gro off`, `ip link set IF txqueuelen N`, …).
/// Everything else is reported, never guessed.
public enum HookTranslation {
    /// `[Link]` settings for the hook, or nil when it has no exact equivalent.
    public static func linkSettings(for hook: InterfaceHook) -> [(String, NetworkdValue)]? {
        guard ["pre-up", "up", "post-up"].contains(hook.phase) else { return nil }
        var words = hook.command.splitOnWhitespace().filter { !$0.isEmpty }
        guard let tool = words.first else { return nil }
        words.removeFirst()
        let name = tool.split(separator: "/").last.map(String.init) ?? tool
        let iface = hook.interface
        switch name {
        case "ethtool":
            guard words.count >= 3, words[1] == iface || words[1] == "$IFACE" else { return nil }
            switch words[0] {
            case "-s":
                guard words.count == 4, words[2] == "wol" else { return nil }
                let map = ["g": "magic", "d": "off", "u": "unicast", "m": "multicast", "b": "broadcast", "a": "arp", "p": "phy"]
                guard let v = map[words[3]] else { return nil }
                return [("WakeOnLan", .string(v))]
            case "-K", "--offload", "--features":
                let features = ["gro": "GenericReceiveOffload", "gso": "GenericSegmentationOffload", "tso": "TCPSegmentationOffload",
                                "lro": "LargeReceiveOffload", "rx": "ReceiveChecksumOffload", "tx": "TransmitChecksumOffload"]
                var settings: [(String, NetworkdValue)] = []
                var rest = Array(words.dropFirst(2))
                while rest.count >= 2 {
                    guard let key = features[rest[0]], rest[1] == "on" || rest[1] == "off" else { return nil }
                    settings.append((key, .bool(rest[1] == "on")))
                    rest.removeFirst(2)
                }
                return rest.isEmpty && !settings.isEmpty ? settings : nil
            case "-G", "--set-ring":
                var settings: [(String, NetworkdValue)] = []
                var rest = Array(words.dropFirst(2))
                while rest.count >= 2 {
                    guard let n = Int(rest[1]), let key = ["rx": "RxBufferSize", "tx": "TxBufferSize"][rest[0]] else { return nil }
                    settings.append((key, .int(n)))
                    rest.removeFirst(2)
                }
                return rest.isEmpty && !settings.isEmpty ? settings : nil
            default:
                return nil
            }
        case "ip":
            // ip link set IF txqueuelen N
            guard words.count == 5, words[0] == "link", words[1] == "set", words[2] == iface || words[2] == "$IFACE", words[3] == "txqueuelen", let n = Int(words[4]) else { return nil }
            return [("TransmitQueueLength", .int(n))]
        default:
            return nil
        }
    }
}
