import Foundation

/// What the stand-in node pretends to be: a node of a bundled example site, its `/etc/pve`,
/// `/etc/network/interfaces`, NIC MACs and management address. The files are taken from the
/// example as they are, so a capture of the stand-in resembles that node's.
public struct StandInProfile: Sendable {
    public var node: String
    public var site: URL
    /// The NICs, in PCI order: the first carries QEMU's user network (the uplink).
    public var nics: [(name: String, mac: String)]
    /// The management VLAN on the uplink and the node's address and gateway on it.
    public var managementVLAN: Int
    public var subnet: String
    public var address: String
    public var gateway: String
    public var domain: String

    /// villa-pve-01 of `Examples/villa`: vmbr0 over nic0, management on vmbr0.10.
    public static var villa: StandInProfile {
        StandInProfile(node: "villa-pve-01", site: Fixtures.villa,
                       nics: [("nic0", "58:47:ca:71:2e:10"), ("nic1", "58:47:ca:71:2e:11")],
                       managementVLAN: 10, subnet: "10.1.10.0/24", address: "10.1.10.11", gateway: "10.1.10.1", domain: "villa.lan")
    }

    /// The files the image's root takes over, relative path → contents.
    func payload() throws -> [String: String] {
        let nodeDir = site.appendingPathComponent("nodes/\(node)")
        var files: [String: String] = [:]
        for name in ["storage.cfg", "corosync.conf"] {
            files["etc/pve/\(name)"] = try String(contentsOf: site.appendingPathComponent("cluster/\(name)"), encoding: .utf8)
        }
        for kind in ["qemu-server", "lxc"] {
            for (path, text) in Fixtures.files(under: nodeDir.appendingPathComponent(kind)) {
                files["etc/pve/nodes/\(node)/\(kind)/\(path)"] = text
            }
        }
        files["etc/network/interfaces"] = try String(contentsOf: nodeDir.appendingPathComponent("interfaces"), encoding: .utf8)
        for (path, text) in Fixtures.files(under: nodeDir.appendingPathComponent("interfaces.d")) {
            files["etc/network/interfaces.d/\(path)"] = text
        }
        // Replaced at every boot; present so the layout (and the authorized_keys symlink) is whole.
        files["etc/pve/priv/authorized_keys"] = ""
        files["etc/pve/priv/known_hosts"] = ""
        files["etc/hostname"] = "\(node)\n"
        files["etc/hosts"] = "127.0.0.1 localhost\n\(address) \(node).\(domain) \(node)\n"
        // Proxmox VE 9 pins NIC names with .link files of this name.
        for nic in nics {
            files["usr/local/lib/systemd/network/50-pmx-\(nic.name).link"] = "[Match]\nMACAddress=\(nic.mac)\nType=ether\n\n[Link]\nName=\(nic.name)\n"
        }
        files["etc/standin/uplink"] = "port=\(nics[0].name)\nvid=\(managementVLAN)\n"
        return files
    }

    /// `-netdev`/`-device` arguments: the uplink on QEMU's user network, restricted (the guest
    /// reaches nothing outside), its subnet the management one so the node keeps its own address;
    /// the other NICs on hubs of their own, unconnected.
    func networkArguments(sshPort: Int) -> [String] {
        var args = ["-netdev", "user,id=n0,restrict=on,net=\(subnet),host=\(gateway),hostfwd=tcp:127.0.0.1:\(sshPort)-\(address):22",
                    "-device", "virtio-net-pci,netdev=n0,mac=\(nics[0].mac)"]
        for (i, nic) in nics.enumerated().dropFirst() {
            args += ["-netdev", "hubport,id=n\(i),hubid=\(i)", "-device", "virtio-net-pci,netdev=n\(i),mac=\(nic.mac)"]
        }
        return args
    }
}
