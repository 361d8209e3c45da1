import Foundation
import PVE2NixCore

/// Parser throughput (items per second) and a quadratic check: each input is parsed at a size and at
/// ten times that size; the time per item at the large size over the time per item at the small one
/// should stay near 1 (target: at most 2, which a quadratic parser, at 10, cannot meet).
func runParserBenchmark(quick: Bool) {
    let scale = quick ? 1 : 10
    print("parsers (items per second; 'per-item growth' is time per item at 10x the size over time per item at 1x; target <= 2.0, 10 means quadratic)")

    func time(_ repeats: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<3 {
            let start = Date()
            for _ in 0..<repeats { body() }
            best = min(best, Date().timeIntervalSince(start) / Double(repeats))
        }
        return best
    }
    func line(_ name: String, unit: String, small: Int, large: Int, _ smallTime: Double, _ largeTime: Double) {
        let growth = (largeTime / Double(large)) / (smallTime / Double(small))
        print(String(format: "  %@: %.0f %@/s at %d, %.0f %@/s at %d; per-item growth %.2f (target <= 2.0) %@",
                     name, Double(small) / smallTime, unit, small, Double(large) / largeTime, unit, large, growth, growth <= 2.0 ? "(meets)" : "(MISSES)"))
    }

    // Guest configs: a realistic LXC and QEMU config, many of them.
    let ct = "arch: amd64\ncores: 2\nhostname: web\nmemory: 2048\nmp0: /mnt/pve/nas-data/web,mp=/data,shared=1\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=10.40.0.10/16,gw=10.40.0.1,tag=40,type=veth\nostype: debian\nrootfs: local-lvm:vm-101-disk-0,size=8G\nswap: 512\nunprivileged: 1\n"
    let vm = "boot: order=scsi0\ncores: 4\nhostpci0: 0000:01:00.0,pcie=1\nmemory: 8192\nname: db\nnet0: virtio=BC:24:11:00:00:02,bridge=vmbr0,tag=40,firewall=1\nostype: l26\nscsi0: tank:vm-102-disk-0,iothread=1,size=64G\nscsihw: virtio-scsi-single\n"
    let configs = 2_000 * scale
    let configTime = time(1) {
        for i in 0..<configs / 2 {
            _ = GuestConfigParser.parse(ct, kind: .lxc, vmid: VMID(100 + i), file: "ct.conf")
            _ = GuestConfigParser.parse(vm, kind: .qemu, vmid: VMID(100 + i), file: "vm.conf")
        }
    }
    print(String(format: "  guest configs (LXC and QEMU, about 10 lines each): %.0f configs/s", Double(configs) / configTime))

    // A guest with many snapshots.
    func snapshotted(_ n: Int) -> String {
        var text = ct + "parent: snap\(n - 1)\n"
        for s in 0..<n { text += "\n[snap\(s)]\n" + ct + (s > 0 ? "parent: snap\(s - 1)\n" : "") + "snaptime: \(1_730_000_000 + s)\n" }
        return text
    }
    let snapSmall = snapshotted(50), snapLarge = snapshotted(500)
    line("a guest with 50 / 500 snapshots", unit: "snapshots", small: 50, large: 500,
         time(10) { _ = GuestConfigParser.parse(snapSmall, kind: .lxc, vmid: VMID(101), file: "ct.conf") },
         time(1) { _ = GuestConfigParser.parse(snapLarge, kind: .lxc, vmid: VMID(101), file: "ct.conf") })
    let configSmall = GuestConfigParser.parse(snapSmall, kind: .lxc, vmid: VMID(101), file: "ct.conf"), configLarge = GuestConfigParser.parse(snapLarge, kind: .lxc, vmid: VMID(101), file: "ct.conf")
    line("  the same, built into a guest", unit: "snapshots", small: 50, large: 500,
         time(10) { _ = Guest.build(config: configSmall, resource: nil, node: "n") },
         time(1) { _ = Guest.build(config: configLarge, resource: nil, node: "n") })

    // An interfaces file of 1,000 and 10,000 lines: VLAN interfaces on a bridge.
    func interfaces(lines: Int) -> String {
        var text = "auto lo\niface lo inet loopback\n\niface nic0 inet manual\n\nauto vmbr0\niface vmbr0 inet manual\n\tbridge-ports nic0\n\tbridge-vlan-aware yes\n\n"
        var v = 2
        while text.utf8.count / 20 < lines { // about 20 bytes a line
            text += "auto vmbr0.\(v)\niface vmbr0.\(v) inet static\n\taddress 10.\(v / 250).\(v % 250).2/24\n\tmtu 1500\n\n"
            v += 1
        }
        return text
    }
    let ifSmall = interfaces(lines: 1_000), ifLarge = interfaces(lines: 10_000)
    let ifSmallLines = ifSmall.split(separator: "\n").count, ifLargeLines = ifLarge.split(separator: "\n").count
    line("interfaces, \(ifSmallLines) / \(ifLargeLines) lines", unit: "lines", small: ifSmallLines, large: ifLargeLines,
         time(10) { _ = InterfacesParser().parse(ifSmall, file: "interfaces") },
         time(1) { _ = InterfacesParser().parse(ifLarge, file: "interfaces") })
    let docSmall = InterfacesParser().parse(ifSmall, file: "interfaces"), docLarge = InterfacesParser().parse(ifLarge, file: "interfaces")
    line("  the same, built into interfaces", unit: "lines", small: ifSmallLines, large: ifLargeLines,
         time(10) { _ = NetworkInterface.build(from: docSmall) },
         time(1) { _ = NetworkInterface.build(from: docLarge) })

    // lsblk -J -b -O with 500 and 5,000 devices: disks with two partitions each.
    func lsblk(devices: Int) -> String {
        var disks: [String] = []
        for d in 0..<devices / 3 {
            func dev(_ name: String, _ type: String, _ children: String) -> String {
                #"{"name":"\#(name)","kname":"\#(name)","path":"/dev/\#(name)","type":"\#(type)","size":1000204886016,"model":"Synthetic Disk","serial":"SN\#(d)","wwn":"0x5000c500\#(d)","tran":"sata","rm":false,"hotplug":false,"rota":true,"fstype":null,"label":null,"uuid":null,"partlabel":null,"parttypename":null,"mountpoints":[null],"ptuuid":"\#(d)","pttype":"gpt","start":null\#(children)}"#
            }
            let name = "sd\(d)"
            disks.append(dev(name, "disk", #","children":["# + dev(name + "1", "part", "") + "," + dev(name + "2", "part", "") + "]"))
        }
        return #"{"blockdevices":["# + disks.joined(separator: ",\n") + "]}"
    }
    let lsSmall = lsblk(devices: 500), lsLarge = lsblk(devices: 5_000)
    line("lsblk, 500 / 5,000 devices", unit: "devices", small: 498, large: 4_998,
         time(5) { _ = CaptureDecoders.lsblk(lsSmall, file: "lsblk.json") },
         time(1) { _ = CaptureDecoders.lsblk(lsLarge, file: "lsblk.json") })
}
