import PVE2NixCore
import Testing

@Suite struct InterfacesSemanticTests {
    static func build(_ text: String) -> ([NetworkInterface], [Diagnostic]) {
        let doc = InterfacesParser().parse(text, file: "interfaces")
        let (ifaces, diags) = NetworkInterface.build(from: doc)
        return (ifaces, doc.diagnostics + diags)
    }

    @Test(arguments: [
        ("address 10.0.0.5/24", "10.0.0.5/24"),
        ("address 10.0.0.5\n\tnetmask 255.255.255.0", "10.0.0.5/24"),
        ("address 10.0.0.5\n\tnetmask 16", "10.0.0.5/16"),
        ("address 10.0.0.5/255.255.252.0", "10.0.0.5/22"),
        ("address fd00::5/64", "fd00::5/64"),
        ("address 10.0.0.5/24 # mgmt", "10.0.0.5/24"),
    ])
    func addressForms(_ option: String, _ expected: String) {
        let (ifaces, _) = Self.build("iface eno1 inet static\n\t\(option)\n")
        #expect(ifaces.first?.addresses.map(\.description) == [expected])
    }

    @Test func trailingCommentIsDiagnosedWithLine() {
        let (_, diags) = Self.build("auto eno1\niface eno1 inet static\n\taddress 10.0.0.5/24 # mgmt\n")
        let d = diags.first { $0.message.contains("'#' only starts a comment") }
        #expect(d?.line == 3)
        #expect(d?.severity == .warning)
    }

    @Test(arguments: [
        ("eno1.40", 40, "eno1"),
        ("bond0.10.20", 20, "bond0.10"),
        ("vmbr0.10", 10, "vmbr0"),
    ])
    func vlanNames(_ name: String, _ id: Int, _ raw: String) {
        let (ifaces, _) = Self.build("iface \(name) inet manual\n")
        #expect(ifaces.first?.kind == .vlan)
        #expect(ifaces.first?.vlan == VLANSettings(id: id, rawDevice: raw))
    }

    @Test func vlanRawDevice() {
        let (ifaces, _) = Self.build("iface vlan40 inet manual\n\tvlan-raw-device vmbr0\n")
        #expect(ifaces.first?.vlan == VLANSettings(id: 40, rawDevice: "vmbr0"))
    }

    @Test func bondAndVlanAwareBridge() {
        let (ifaces, diags) = Self.build("""
        iface eno1 inet manual
        iface eno2 inet manual
        iface bond0 inet manual
        \tbond_slaves eno1 eno2
        \tbond_mode 802.3ad
        \tbond-xmit-hash-policy layer3+4
        iface vmbr0 inet manual
        \tbridge-ports bond0
        \tbridge-vlan-aware yes
        \tbridge-vids 10 20 30-39
        """)
        #expect(diags.isEmpty)
        let bond = ifaces.first { $0.name == "bond0" }
        #expect(bond?.kind == .bond)
        #expect(bond?.bond?.slaves == ["eno1", "eno2"])
        #expect(bond?.bond?.mode == "802.3ad")
        let bridge = ifaces.first { $0.name == "vmbr0" }?.bridge
        #expect(bridge?.vlanAware == true)
        #expect(bridge?.vids.contains(35) == true)
        #expect(bridge?.vids.contains(40) == false)
        #expect(ifaces.first { $0.name == "eno1" }?.kind == .physical)
    }

    @Test func hooksAreListedNotDropped() {
        let (ifaces, _) = Self.build("iface eno1 inet manual\n\tpost-up ethtool -s eno1 wol g\n\tpre-down echo bye\n")
        #expect(ifaces.first?.hooks.map(\.phase) == ["post-up", "pre-down"])
        #expect(ifaces.first?.hooks.first?.line == 2)
    }

    @Test func ovsIsAnErrorNamingTheLine() {
        let (ifaces, diags) = Self.build("auto vmbr0\niface vmbr0 inet manual\n\tovs_type OVSBridge\n")
        #expect(ifaces.first?.kind == .ovs)
        #expect(diags.contains { $0.severity == .error && $0.line == 3 && $0.message.contains("Open vSwitch") })
    }

    @Test func badVidsAndAddressesAreErrors() {
        let (_, diags) = Self.build("iface vmbr0 inet static\n\taddress 10.0.0.300/24\n\tbridge-ports eno1\n\tbridge-vids 2-5000\n")
        #expect(diags.filter { $0.severity == .error }.compactMap(\.line).sorted() == [2, 4])
    }

    @Test func sourceGlobReadsMatchingFilesOnly() {
        let tree = InMemoryFileTree([
            "nodes/n/interfaces.d/a": "iface vmbr1 inet manual\n\tbridge-ports none\n",
            "nodes/n/interfaces.d/b.cfg": "iface vmbr2 inet manual\n\tbridge-ports none\n",
        ])
        let parser = InterfacesParser(resolveSource: { SiteLoader.resolveForTests($0, node: "nodes/n", tree: tree) })
        let doc = parser.parse("source /etc/network/interfaces.d/*.cfg\n", file: "nodes/n/interfaces")
        #expect(doc.names == ["vmbr2"])
        #expect(doc.filesRead == ["nodes/n/interfaces", "nodes/n/interfaces.d/b.cfg"])
    }

    @Test func strayLineBeforeAnyStanzaIsAnError() {
        let doc = InterfacesParser().parse("address 1.2.3.4\nauto lo\n", file: "f")
        #expect(doc.diagnostics.first?.line == 1)
        #expect(doc.diagnostics.first?.severity == .error)
    }
}

@Suite struct GuestConfigTests {
    static let ct = """
    #Paperless%3A docs
    arch: amd64
    net0: type=veth,tag=40,ip=10.1.40.21/24,hwaddr=BC:24:11:5A:10:03,gw=10.1.40.1,bridge=vmbr0,name=eth0
    mp0: /mnt/pve/nas/paperless,mp=/data
    dev0: /dev/ttyUSB0,mode=0666
    lxc.mount.entry = /dev/ttyACM0 dev/ttyACM0 none bind,optional,create=file
    memory: 2048
    ostype: nixos
    rootfs: local-lvm:vm-103-disk-0,size=16G

    [pve:pending]
    memory: 4096

    [before-upgrade]
    memory: 1024
    """

    @Test func sectionsAreKeptApart() {
        let file = GuestConfigParser.parse(Self.ct, kind: .lxc, vmid: VMID(103), file: "103.conf")
        #expect(file.description == "Paperless: docs")
        #expect(file.current["memory"] == "2048")
        #expect(file.pending?["memory"] == "4096")
        #expect(file.snapshots.map(\.name) == ["before-upgrade"])
        #expect(file.diagnostics.isEmpty)
    }

    @Test func propertyStringsInAnyOrder() {
        let file = GuestConfigParser.parse(Self.ct, kind: .lxc, vmid: VMID(103), file: "103.conf")
        let (guest, diags) = Guest.build(config: file, resource: nil, node: "n")
        #expect(diags.isEmpty)
        #expect(guest.memoryBytes == 2048 << 20)
        let nic = guest.nics.first
        #expect(nic?.address?.description == "10.1.40.21/24")
        #expect(nic?.vlanTag == 40)
        #expect(nic?.bridge == "vmbr0")
        #expect(nic?.mac == "bc:24:11:5a:10:03")
        #expect(guest.volumes.map(\.key) == ["rootfs", "mp0"])
        #expect(guest.volumes[1].source == .hostPath("/mnt/pve/nas/paperless"))
        #expect(guest.volumes[1].mountPath == "/data")
        #expect(guest.devices.map(\.kind) == [.containerDevice, .rawLXC])
        #expect(guest.pendingKeys == ["memory"])
    }

    @Test func vmNicModelAndPassthrough() {
        let text = "name: ha\nmemory: 4096\ncores: 2\nsockets: 2\nnet0: bridge=vmbr0,virtio=BC:24:11:00:00:01,tag=40\nusb0: host=0658:0200\nusb1: spice\nserial0: socket\nhostpci0: 0000:01:00.0,pcie=1\nide2: local:iso/x.iso,media=cdrom\n"
        let (guest, _) = Guest.build(config: GuestConfigParser.parse(text, kind: .qemu, vmid: VMID(120), file: "120.conf"), resource: nil, node: "n")
        #expect(guest.vcpus == 4)
        #expect(guest.nics.first?.name == "virtio")
        #expect(guest.nics.first?.mac == "bc:24:11:00:00:01")
        #expect(guest.devices.map(\.kind) == [.pci, .usb])
        #expect(guest.volumes.first?.isCDROM == true)
    }

    @Test func hugeIndexedKeysDoNotCrash() {
        let file = GuestConfigParser.parse("net99999999999999999999: bridge=vmbr0\nnet1: bridge=vmbr0\n", kind: .lxc, vmid: VMID(101), file: "101.conf")
        #expect(file.current.indexed("net").map(\.key) == ["net1", "net99999999999999999999"])
    }

    @Test func badLinesAreDiagnosedWithLines() {
        let file = GuestConfigParser.parse("memory: 512\nthis is not a line\n[unclosed\n", kind: .lxc, vmid: VMID(101), file: "101.conf")
        #expect(file.diagnostics.map(\.line) == [2, 3])
    }
}

@Suite struct SmallParserTests {
    @Test func storageConfig() {
        let (storages, diags) = StorageConfigParser.parse("dir: local\n\tpath /var/lib/vz\n\tcontent iso,backup\n\nnfs: nas\n\tserver 10.0.0.5\n\tcontent backup\n\nlvmthin: fast\n\tvgname pve\n\tnodes a,b\n\tshared 0\n", file: "storage.cfg")
        #expect(diags.isEmpty)
        #expect(storages.map(\.id) == ["local", "nas", "fast"])
        #expect(storages[0].shared == false)
        #expect(storages[1].shared == true)
        #expect(storages[1].mountPath == "/mnt/pve/nas")
        #expect(storages[2].isAvailable(on: "a") && !storages[2].isAvailable(on: "c"))
    }

    @Test func storageConfigErrors() {
        let (_, diags) = StorageConfigParser.parse("\tpath /x\nnonsense\n", file: "storage.cfg")
        #expect(diags.map(\.line) == [1, 2])
    }

    @Test func corosync() {
        let (config, diags) = CorosyncParser.parse("nodelist {\n  node {\n    name: a\n    nodeid: 1\n    ring0_addr: 10.0.0.1\n  }\n}\ntotem {\n  cluster_name: c\n}\n", file: "corosync.conf")
        #expect(diags.isEmpty)
        #expect(config.clusterName == "c")
        #expect(config.nodes.first?.ringAddresses == ["10.0.0.1"])
        let (_, bad) = CorosyncParser.parse("nodelist {\n  node {\n", file: "corosync.conf")
        #expect(bad.contains { $0.message.contains("not closed") })
    }

    @Test func meminfo() {
        let (m, diags) = MeminfoParser.parse("MemTotal: 1024 kB\nMemAvailable: 512 kB\nHugePages_Total: 0\n", file: "meminfo")
        #expect(diags.isEmpty)
        #expect(m?.totalBytes == Int64(1024 * 1024))
        #expect(MeminfoParser.parse("garbage\n", file: "meminfo").0 == nil)
    }

    @Test func lsblkIsLenientAboutOldFormats() {
        // util-linux before 2.37 printed booleans and sizes as strings.
        let (disks, diags) = CaptureDecoders.lsblk(#"{"blockdevices":[{"name":"sda","kname":"sda","type":"disk","size":"500107862016","rm":"1","tran":"usb","serial":"X1","mountpoint":null}]}"#, file: "lsblk.json")
        #expect(diags.isEmpty)
        #expect(disks.first?.sizeBytes == 500_107_862_016)
        #expect(disks.first?.isRemovableOrUSB == true)
    }

    @Test func lsblkWithoutBytesIsAnError() {
        let (_, diags) = CaptureDecoders.lsblk("{\"blockdevices\":[\n{\"name\":\"sda\",\"type\":\"disk\",\"size\":\"465.8G\"}]}", file: "lsblk.json")
        #expect(diags.first?.line == 2)
        #expect(diags.first?.message.contains("-b") == true)
    }

    @Test func diskByID() {
        let (links, _) = CaptureDecoders.diskByID("total 0\nlrwxrwxrwx 1 root root 13 Nov 20 09:02 nvme-X_SER -> ../../nvme0n1\n", file: "f")
        #expect(links.first?.byID.path == "/dev/disk/by-id/nvme-X_SER")
        #expect(links.first?.target == "nvme0n1")
    }

    @Test func ipLinkPermanentAddress() {
        let (links, _) = CaptureDecoders.ipLinks(#"[{"ifname":"eno2","address":"aa:aa:aa:aa:aa:aa","permaddr":"BB:BB:BB:BB:BB:BB","link_type":"ether","master":"bond0","linkinfo":{"info_slave_kind":"bond"}}]"#, file: "f")
        #expect(links.first?.matchMAC == "bb:bb:bb:bb:bb:bb")
        #expect(links.first?.isPhysical == true)
    }

    @Test func jsonReaderReportsLines() {
        #expect(throws: JSONSyntaxError.self) { try JSONReader.parse("[\n1,\n}") }
        do { _ = try JSONReader.parse("{\n\"a\": 1,\n\"b\" 2}") } catch { #expect(error.line == 3) }
        let v = try? JSONReader.parse("{\"a\":\n[true, \"0\", 1, null, \"\\u00e9\"]}")
        #expect(v?["a"]?.line == 2)
        #expect(v?["a"]?.arrayValue?[1].boolValue == false)
        #expect(v?["a"]?.arrayValue?[4].stringValue == "é")
    }

    @Test func siteTomlErrorsNameTheLine() {
        let (_, diags) = SiteIntentParser.parse("format = 1\n[guests.101]\nrehome = \"vm\"\n[placement]\nheadroom = 3\n", file: "site.toml")
        #expect(diags.map(\.line).sorted { ($0 ?? 0) < ($1 ?? 0) } == [3, 5])
        let (_, syntax) = SiteIntentParser.parse("a = \n", file: "site.toml")
        #expect(syntax.first?.line == 1)
    }

    @Test(arguments: ["", "\u{0}\u{1}garbage", "{[", "iface", "[", "auto\n\tiface\nsource", String(repeating: "[", count: 2000)])
    func garbageNeverCrashes(_ text: String) {
        _ = InterfacesParser().parse(text, file: "f")
        _ = GuestConfigParser.parse(text, kind: .lxc, vmid: VMID(100), file: "f")
        _ = StorageConfigParser.parse(text, file: "f")
        _ = CorosyncParser.parse(text, file: "f")
        _ = MeminfoParser.parse(text, file: "f")
        _ = CaptureDecoders.lsblk(text, file: "f")
        _ = CaptureDecoders.clusterStatus(text, file: "f")
        _ = CaptureDecoders.resources(text, file: "f")
        _ = SiteIntentParser.parse(text, file: "f")
    }
}
