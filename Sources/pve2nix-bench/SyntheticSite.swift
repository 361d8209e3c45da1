import Foundation

/// A capture bundle of any size, made from a seed: N nodes with G guests each, realistic guest
/// configs (bind mounts, passthrough, HA, snapshots, several storages) and interfaces files. The
/// first node is the one to convert and has every file; the villa example's node files are its model.
struct SyntheticSite {
    var nodes: Int
    var guestsPerNode: Int
    var seed: UInt64

    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static func nodeName(_ i: Int) -> String { String(format: "pve-%04d", i + 1) }

    /// Writes the bundle under `root` (which must not exist) and returns the node to convert.
    func write(to root: URL, modelNode: URL) throws -> String {
        var rng = Generator(state: seed)
        let fm = FileManager.default
        func put(_ path: String, _ text: String) throws {
            let url = root.appendingPathComponent(path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: false, encoding: .utf8)
        }
        let names = (0..<nodes).map(Self.nodeName)
        try put("bundle.toml", "format = 1\nsite = \"synthetic-\(nodes)\"\n")
        try put("site.toml", "format = 1\nname = \"synthetic\"\n\n[network]\nmanagement_vlan = 10\nservice_vlan = 40\n\n[placement]\nmemory_headroom_percent = 15\nvcpu_overcommit = 4.0\n")
        var status = [#"{"type":"cluster","id":"cluster","name":"synthetic","nodes":\#(nodes),"quorate":1,"version":\#(nodes + 3)}"#]
        var corosync = "totem {\n  cluster_name: synthetic\n  config_version: \(nodes + 3)\n  version: 2\n}\n\nnodelist {\n"
        for (i, n) in names.enumerated() {
            let ip = "10.\(1 + i / 62500).\(i / 250 % 250).\(i % 250 + 2)"
            status.append(#"{"type":"node","id":"node/\#(n)","name":"\#(n)","nodeid":\#(i + 1),"ip":"\#(ip)","online":1,"local":\#(i == 0 ? 1 : 0),"level":""}"#)
            corosync += "  node {\n    name: \(n)\n    nodeid: \(i + 1)\n    quorum_votes: 1\n    ring0_addr: \(ip)\n  }\n"
        }
        corosync += "}\n\nquorum {\n  provider: corosync_votequorum\n}\n"
        try put("cluster/status.json", "[\n" + status.joined(separator: ",\n") + "\n]\n")
        try put("cluster/corosync.conf", corosync)
        try put("cluster/storage.cfg", """
            dir: local
            \tpath /var/lib/vz
            \tcontent iso,vztmpl,backup

            lvmthin: local-lvm
            \tthinpool data
            \tvgname pve
            \tcontent rootdir,images

            zfspool: tank
            \tpool tank
            \tcontent images,rootdir
            \tsparse 1

            nfs: nas-backup
            \texport /volume1/backup
            \tpath /mnt/pve/nas-backup
            \tserver 10.1.10.5
            \tcontent backup

            rbd: ceph
            \tcontent images,rootdir
            \tkrbd 0
            \tpool vm

            """)
        var resources: [String] = []
        var ha: [String] = []
        var vmid = 1000
        for (i, n) in names.enumerated() {
            let total: Int64 = [64, 128, 256][rng.below(3)] * (1 << 30)
            try put("nodes/\(n)/status.json", #"{"cpuinfo":{"cpus":\#([16, 32, 64][rng.below(3)]),"model":"Synthetic CPU","sockets":1},"memory":{"total":\#(total),"used":\#(total / 4),"free":\#(total / 2),"available":\#(total / 2)},"pveversion":"pve-manager/9.1.1/42db4a6c","kversion":"Linux 6.14"}"#)
            try put("nodes/\(n)/interfaces", Self.interfaces(index: i))
            for g in 0..<guestsPerNode {
                vmid += 1
                let isCT = rng.below(3) != 0
                let running = rng.below(5) != 0
                let memory = [512, 1024, 2048, 4096, 8192][rng.below(5)]
                let cores = 1 + rng.below(4)
                let name = "svc-\(i)-\(g)"
                let storage = ["local-lvm", "tank", "ceph"][rng.below(3)]
                var lines: [String] = []
                if isCT {
                    lines += ["arch: amd64", "cores: \(cores)", "hostname: \(name)", "memory: \(memory)", "ostype: \(["debian", "nixos", "ubuntu"][rng.below(3)])",
                              "net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:\(String(format: "%02X:%02X:%02X", i % 256, g % 256, rng.below(256))),ip=10.40.\(i % 250).\(g + 10)/16,gw=10.40.0.1,tag=40,type=veth",
                              "rootfs: \(storage):vm-\(vmid)-disk-0,size=\(8 + rng.below(32))G", "swap: 512", "unprivileged: 1"]
                    if rng.below(4) == 0 { lines.append("mp0: /mnt/pve/nas-data/\(name),mp=/data\(rng.below(2) == 0 ? ",shared=1" : "")") }
                    if rng.below(10) == 0 { lines.append("dev0: /dev/ttyUSB\(rng.below(4)),mode=0666") }
                    if rng.below(12) == 0 { lines.append("lxc.cgroup2.devices.allow: c 188:* rwm") }
                } else {
                    lines += ["boot: order=scsi0", "cores: \(cores)", "memory: \(memory)", "name: \(name)",
                              "net0: virtio=BC:24:11:\(String(format: "%02X:%02X:%02X", i % 256, g % 256, rng.below(256))),bridge=vmbr0,tag=40,firewall=1",
                              "ostype: l26", "scsi0: \(storage):vm-\(vmid)-disk-0,iothread=1,size=\(16 + rng.below(64))G", "scsihw: virtio-scsi-single"]
                    if rng.below(10) == 0 { lines.append("hostpci0: 0000:0\(rng.below(9)):00.0,pcie=1") }
                    if rng.below(10) == 0 { lines.append("usb0: host=1a86:7523") }
                    if rng.below(8) == 0 { lines.append("ide2: local:iso/debian-13.iso,media=cdrom") }
                }
                var text = lines.sorted().joined(separator: "\n") + "\n"
                if rng.below(6) == 0 {
                    text += "\n[before-upgrade]\n" + lines.sorted().joined(separator: "\n") + "\nsnaptime: 1730000000\n"
                }
                let kind = isCT ? "lxc" : "qemu-server"
                try put("nodes/\(n)/\(kind)/\(vmid).conf", text)
                let sid = isCT ? "ct:\(vmid)" : "vm:\(vmid)"
                let haState = rng.below(15) == 0 ? #","hastate":"started""# : ""
                if !haState.isEmpty { ha.append(#"{"sid":"\#(sid)","state":"started","type":"\#(isCT ? "ct" : "vm")"}"#) }
                resources.append(#"{"id":"\#(isCT ? "lxc" : "qemu")/\#(vmid)","type":"\#(isCT ? "lxc" : "qemu")","vmid":\#(vmid),"name":"\#(name)","node":"\#(n)","status":"\#(running ? "running" : "stopped")","maxmem":\#(Int64(memory) << 20),"maxcpu":\#(cores),"maxdisk":\#(Int64(32) << 30),"template":0\#(haState)}"#)
            }
        }
        try put("cluster/resources.json", "[\n" + resources.joined(separator: ",\n") + "\n]\n")
        try put("cluster/ha-resources.json", "[\n" + ha.joined(separator: ",\n") + "\n]\n")
        // The node to convert has every file; its disks, links and addresses follow the villa's model node.
        let target = names[0]
        for leaf in ["lsblk.json", "disk-by-id.txt", "meminfo", "firmware", "hostid", "ip-link.json", "ip-addr.json"] {
            let text = try String(contentsOf: modelNode.appendingPathComponent(leaf), encoding: .utf8)
            try put("nodes/\(target)/\(leaf)", text)
        }
        try put("nodes/\(target)/interfaces", try String(contentsOf: modelNode.appendingPathComponent("interfaces"), encoding: .utf8)
            .replacingOccurrences(of: "source /etc/network/interfaces.d/*", with: "")
            .replacingOccurrences(of: "10.1.10.11/24", with: "10.1.0.2/16"))
        return target
    }

    static func interfaces(index i: Int) -> String {
        """
        auto lo
        iface lo inet loopback

        iface nic0 inet manual

        auto vmbr0
        iface vmbr0 inet manual
        \tbridge-ports nic0
        \tbridge-stp off
        \tbridge-fd 0
        \tbridge-vlan-aware yes
        \tbridge-vids 2-4094

        auto vmbr0.10
        iface vmbr0.10 inet static
        \taddress 10.1.\(i / 250 % 250).\(i % 250 + 2)/16
        \tgateway 10.1.0.1

        """
    }
}
